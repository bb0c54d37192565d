"""Feature matching between tasks and checkpoints: mismatches name both sides; maps work."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from lerobot_kit import STATE_FIELDS, make_observation, make_task
from vla_bench_lerobot.adapter import (
    FeatureMismatchError,
    PolicyFeatures,
    build_adapter,
    parse_terms,
)
from vla_bench_lerobot.policy import LeRobotPolicy

from harness.contract import EpisodeSpec, PolicyConfig

FEATURES = PolicyFeatures(
    images={"observation.images.front": (3, 224, 224), "observation.images.wrist": (3, 224, 224)},
    state_dim=8,
    action_dim=7,
)


def test_missing_camera_lists_both_sides() -> None:
    task = make_task(cameras={"front": (224, 224)})
    with pytest.raises(FeatureMismatchError) as err:
        build_adapter(task, FEATURES, {}, "ckpt")
    message = str(err.value)
    assert "observation.images.wrist" in message and "['front']" in message
    assert "camera_map=" in message


def test_camera_map_renames_and_resizes() -> None:
    task = make_task(cameras={"top": (96, 128), "hand": (224, 224)})
    adapter = build_adapter(
        task, FEATURES, {"camera_map": "top:front;hand:observation.images.wrist"}, "ckpt"
    )
    batch = adapter.batch(make_observation(task))
    assert batch["observation.images.front"].shape == (3, 224, 224)
    assert float(batch["observation.images.front"].max()) <= 1.0
    assert adapter.cameras == {
        "observation.images.front": "top",
        "observation.images.wrist": "hand",
    }


def test_state_width_mismatch_lists_both_sides() -> None:
    task = make_task(state_fields=("x", "y", "z"))
    with pytest.raises(FeatureMismatchError) as err:
        build_adapter(task, FEATURES, {}, "ckpt")
    assert "8 values" in str(err.value) and "3 (x, y, z)" in str(err.value)


def test_state_map_selects_scales_and_pads() -> None:
    task = make_task()
    adapter = build_adapter(
        task, FEATURES, {"state_map": "ee_x;ee_y;ee_z;gripper*-1;const=0.5;0;1;2"}, "ckpt"
    )
    obs = make_observation(task)
    state = adapter.batch(obs)["observation.state"].numpy()
    s = obs["state"]
    np.testing.assert_allclose(state, [s[0], s[1], s[2], -s[7], 0.5, s[0], s[1], s[2]], rtol=1e-6)


def test_action_width_mismatch_and_action_map() -> None:
    task = make_task()
    wide = PolicyFeatures(images=FEATURES.images, state_dim=8, action_dim=14)
    with pytest.raises(FeatureMismatchError, match=r"outputs 14 values.*has 7 \(dx, dy"):
        build_adapter(task, wide, {}, "ckpt")
    adapter = build_adapter(
        task, wide, {"action_map": "7;8;9;const=0;const=0;const=0;13*-1"}, "ckpt"
    )
    chunk = np.arange(28, dtype=float).reshape(2, 14)
    np.testing.assert_array_equal(adapter.actions(chunk)[0], [7, 8, 9, 0, 0, 0, -13])


def test_bad_map_items_are_named() -> None:
    with pytest.raises(ValueError, match="'nose' is neither an index nor one of"):
        parse_terms("nose", STATE_FIELDS, 8, "state_map")
    with pytest.raises(ValueError, match=r"index 9 is outside 0\.\.7"):
        parse_terms("9", STATE_FIELDS, 8, "state_map")
    with pytest.raises(ValueError, match="action_map has 2 items"):
        build_adapter(make_task(), FEATURES, {"action_map": "0;1"}, "ckpt")


def test_mismatch_surfaces_at_reset_for_a_real_checkpoint(
    tiny_checkpoint: Callable[[str], Path],
) -> None:
    policy = LeRobotPolicy(PolicyConfig(name="act", checkpoint=str(tiny_checkpoint("act"))))
    with pytest.raises(FeatureMismatchError, match="cameras do not match"):
        policy.reset(make_task(cameras={"front": (224, 224)}), EpisodeSpec(0, 0), None)
    # ... and an explicit map makes the same checkpoint run on that task
    mapped = LeRobotPolicy(
        PolicyConfig(
            name="act",
            checkpoint=str(tiny_checkpoint("act")),
            options={"camera_map": "front:front;front:wrist"},
        )
    )
    task = make_task(cameras={"front": (224, 224)})
    mapped.reset(task, EpisodeSpec(0, 0), None)
    assert mapped.act(make_observation(task)).actions.shape == (10, 7)
