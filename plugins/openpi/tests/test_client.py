"""The ``openpi`` client against a stand-in for openpi's own server: keys, pixels, actions.

The stand-in (openpi_kit.openpi_style_server) behaves as openpi's ``WebsocketPolicyServer``
source does: an empty metadata map, ``server_timing`` added to the policy's reply, tracebacks
as text frames. What it received is checked against the keys and preprocessing of openpi's own
LIBERO and DROID examples.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from openpi_kit import free_port, make_observation, make_task, openpi_style_server
from vla_bench_openpi.client import OpenpiPolicy
from vla_bench_openpi.connection import ServerError

from harness.contract import EpisodeSpec, PolicyConfig, PolicyConfigError

CHUNK = (np.arange(80, dtype=np.float32).reshape(10, 8) % 7) / 10.0  # gripper column 7 in [0,1)


def chunk_reply(obs: dict[str, Any]) -> dict[str, Any]:
    """What openpi's policy returns: actions and policy_timing."""
    return {"actions": CHUNK, "policy_timing": {"infer_ms": 12.0}}


def client(url: str, **options: str) -> OpenpiPolicy:
    return OpenpiPolicy(PolicyConfig("openpi", options={"url": url, **options}))


def test_libero_preset_sends_openpis_libero_keys_rotated_and_224() -> None:
    task = make_task(size=224)
    obs = make_observation(1, size=224)
    with openpi_style_server(chunk_reply) as (received, url):
        policy = client(url, preset="libero")
        policy.reset(task, EpisodeSpec(0, 0), None)
        chunk = policy.act(obs)
        policy.close()
    (request,) = received
    assert set(request) == {
        "observation/image",
        "observation/wrist_image",
        "observation/state",
        "prompt",
    }
    np.testing.assert_array_equal(request["observation/image"], obs["images"]["front"][::-1, ::-1])
    np.testing.assert_array_equal(
        request["observation/wrist_image"], obs["images"]["wrist"][::-1, ::-1]
    )
    np.testing.assert_array_equal(request["observation/state"], obs["state"].astype(np.float64))
    assert request["prompt"] == obs["instruction"]
    np.testing.assert_array_equal(chunk.actions, CHUNK[:, :7].astype(np.float64))
    assert policy.n_action_steps == 5  # openpi's LIBERO example replans every 5 steps
    assert chunk.model_time_s == pytest.approx(0.012)
    assert chunk.info["wire"]["server_infer_s"] == pytest.approx(0.013)
    assert 0 < chunk.info["wire"]["round_trip_s"] < 5


def test_libero_preset_resizes_with_pad_to_224() -> None:
    task = make_task(size=32)
    obs = make_observation(2, size=32)
    obs["images"]["front"] = np.full((32, 64, 3), 200, dtype=np.uint8)  # wide: padded rows
    with openpi_style_server(chunk_reply) as (received, url):
        policy = client(url, preset="libero", flip="none")
        policy.reset(task, EpisodeSpec(0, 0), None)
        policy.act(obs)
        policy.close()
    image = received[0]["observation/image"]
    assert image.shape == (224, 224, 3) and image.dtype == np.uint8
    assert (image[:56] == 0).all() and (image[-56:] == 0).all()  # black bars above and below
    assert (image[60:164] == 200).all()


def test_droid_preset_splits_state_and_maps_the_gripper() -> None:
    task = make_task(size=32)
    obs = make_observation(3)
    with openpi_style_server(chunk_reply) as (received, url):
        policy = client(url, preset="droid", action_dims="1:8")
        policy.reset(task, EpisodeSpec(0, 0), None)
        chunk = policy.act(obs)
        policy.close()
    (request,) = received
    assert sorted(request) == [
        "observation/exterior_image_1_left",
        "observation/gripper_position",
        "observation/joint_position",
        "observation/wrist_image_left",
        "prompt",
    ]
    np.testing.assert_array_equal(request["observation/joint_position"], obs["state"][:7])
    np.testing.assert_array_equal(request["observation/gripper_position"], obs["state"][7:])
    assert request["observation/wrist_image_left"].shape == (224, 224, 3)
    expected = CHUNK[:, 1:8].astype(np.float64)
    expected[:, 6] = 2 * expected[:, 6] - 1  # DROID's 0 open .. 1 closed -> our -1 .. +1
    np.testing.assert_allclose(chunk.actions, expected)
    assert policy.n_action_steps == 8


def test_explicit_maps_name_every_key() -> None:
    task = make_task(size=32)
    obs = make_observation(4)
    options = {
        "images": "cam_high:wrist",
        "state": "qpos:3+rest",
        "prompt": "none",
        "resize": "16x24",
        "gripper": "flip",
    }
    with openpi_style_server(chunk_reply) as (received, url):
        policy = client(url, **options)
        policy.reset(task, EpisodeSpec(0, 0), None)
        chunk = policy.act(obs)
        policy.close()
    (request,) = received
    assert sorted(request) == ["cam_high", "qpos", "rest"]
    assert request["cam_high"].shape == (16, 24, 3)
    np.testing.assert_array_equal(request["rest"], obs["state"][3:])
    np.testing.assert_allclose(chunk.actions[:, 6], -CHUNK[:, 6])


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({}, "not a vla-bench server"),
        ({"preset": "aloha"}, "is not one of"),
        ({"colour": "red"}, "unknown --policy-args"),
        ({"preset": "libero", "resize": "big"}, "resize='big'"),
        ({"preset": "libero", "action_dims": "7:2"}, "START:STOP"),
        ({"state": "a:x+b"}, "not a number"),
        ({"preset": "vla_bench", "images": "a:front"}, "preset=vla_bench sends"),
        ({"preset": "libero", "api_key_env": "OPENPI_UNSET_KEY_VAR"}, "is empty"),
    ],
)
def test_bad_options_fail_before_the_run_with_one_line(
    options: dict[str, str], problem: str
) -> None:
    with openpi_style_server(chunk_reply) as (_, url), pytest.raises(PolicyConfigError) as error:
        client(url, **options)
    assert problem in str(error.value) and "\n" not in str(error.value)


def test_unreachable_server_is_a_config_error_after_the_connect_window() -> None:
    started = time.monotonic()
    with pytest.raises(PolicyConfigError, match=r"cannot reach ws://127\.0\.0\.1"):
        client(f"ws://127.0.0.1:{free_port()}", preset="libero", connect_window="0.5")
    assert time.monotonic() - started < 5


def test_server_errors_raise_from_act_and_the_client_reconnects_when_it_is_back() -> None:
    task = make_task(size=32)
    port = free_port()

    def broken(obs: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("checkpoint exploded")

    with openpi_style_server(chunk_reply, port=port) as (_, url):
        policy = client(url, preset="libero", connect_window="5")
        policy.reset(task, EpisodeSpec(0, 0), None)
        policy.act(make_observation(0))
    with pytest.raises(ServerError, match=r"closed the connection|cannot reach") as gone:
        policy.act(make_observation(0))  # the server is gone: this episode ends as an error
    assert gone.value.outcome == "policy_crash"
    failing = openpi_style_server(broken, port=port)
    with failing, pytest.raises(ServerError, match="ValueError: checkpoint exploded") as failed:
        policy.act(make_observation(0))  # the traceback text frame becomes the error
    assert failed.value.outcome == "policy_error"
    with openpi_style_server(chunk_reply, port=port):
        policy.reset(task, EpisodeSpec(1, 1), None)
        assert policy.act(make_observation(0)).actions.shape == (10, 7)  # reconnected
    policy.close()


def test_a_server_that_never_answers_times_out() -> None:
    def slow(obs: dict[str, Any]) -> dict[str, Any]:
        time.sleep(2)
        return chunk_reply(obs)

    with openpi_style_server(slow) as (_, url):
        policy = client(url, preset="libero", timeout="0.3")
        policy.reset(make_task(size=32), EpisodeSpec(0, 0), None)
        with pytest.raises(ServerError, match=r"did not answer within 0\.3s") as late:
            policy.act(make_observation(0))
        assert late.value.outcome == "policy_timeout"
        policy.close()
