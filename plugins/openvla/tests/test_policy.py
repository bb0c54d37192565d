"""The ``openvla`` policy on a tiny checkpoint: actions equal the published decoding of the
reference model's tokens; decode failures counted; options and errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from openvla_kit import NORM_STATS, ReferenceOpenVLA, write_checkpoint
from vla_bench_openvla.config import load_config, shipped_architecture
from vla_bench_openvla.inputs import PromptTokenizer, WordTokenizer
from vla_bench_openvla.model import OpenVLAModel
from vla_bench_openvla.policy import OpenVLAPolicy

from harness.contract import (
    EE_DELTA_7D,
    EpisodeSpec,
    PolicyConfig,
    PolicyConfigError,
    TaskSpec,
    with_bounds,
)

TASK = TaskSpec(
    name="tiny",
    version="1",
    suite="test",
    instruction="Turn the valve",
    control_hz=10.0,
    max_steps=5,
    action_space=with_bounds(
        EE_DELTA_7D, [-0.05] * 3 + [-0.2] * 3 + [-1], [0.05] * 3 + [0.2] * 3 + [1]
    ),
    state_fields=(),
    cameras={"front": (96, 128), "wrist": (96, 128)},
)
EPISODE = EpisodeSpec(0, 0)


def _policy(args: str) -> OpenVLAPolicy:
    policy = OpenVLAPolicy(PolicyConfig.parse_args("openvla", args))
    policy.reset(TASK, EPISODE, None)
    return policy


def _frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(96, 128, 3), dtype=np.uint8)


def _published_decode(ids: np.ndarray, stats: dict[str, Any], vocab: int) -> np.ndarray:
    """OpenVLAForActionPrediction.predict_action's arithmetic, written out."""
    bins = np.linspace(-1, 1, 256)
    centres = (bins[:-1] + bins[1:]) / 2.0
    discretized = np.clip(vocab - ids - 1, 0, centres.shape[0] - 1)
    normalized = centres[discretized]
    high, low = np.array(stats["q99"]), np.array(stats["q01"])
    return np.where(stats["mask"], 0.5 * (normalized + 1) * (high - low) + low, normalized)


def test_act_is_the_published_decoding_of_the_reference_tokens(
    tiny_checkpoint: tuple[Path, ReferenceOpenVLA],
) -> None:
    directory, reference = tiny_checkpoint
    policy = _policy(f"checkpoint={directory},unnorm_key=bridge_orig,camera=wrist")
    frame = _frame(1)
    chunk = policy.act(
        {"images": {"front": _frame(2), "wrist": frame}, "instruction": "Turn the valve"}
    )

    pixels = torch.from_numpy(policy.transform(frame))[None]
    prompt = torch.tensor([policy.tokenizer.encode("Turn the valve")])
    ids = reference.generate(pixels, prompt, 7)[0].numpy()
    vocab = load_config(directory).action_vocab_size
    expected = _published_decode(ids, NORM_STATS["bridge_orig"]["action"], vocab)
    expected[-1] = 1.0 - 2.0 * expected[-1]  # open1_close0 -> ee_delta_7d
    assert chunk.actions.shape == (1, 7)
    np.testing.assert_allclose(chunk.actions[0], expected, rtol=0, atol=1e-12)
    assert chunk.info["token_ids"] == ids.tolist()
    assert chunk.decode_failures == 0
    assert chunk.output_tokens == 7 and chunk.input_tokens == prompt.shape[1] + 256
    assert chunk.model_time_s is not None and chunk.model_time_s > 0
    described = policy.describe()
    assert described["weights"] == "pretrained" and described["unnorm_key"] == "bridge_orig"
    assert described["camera"] == "wrist" and described["gripper"] == "open1_close0"


def test_other_statistics_and_gripper_convention_change_the_action(
    tiny_checkpoint: tuple[Path, ReferenceOpenVLA],
) -> None:
    directory, _ = tiny_checkpoint
    obs = {"images": {"front": _frame(3)}, "instruction": "Turn the valve"}
    bridge = _policy(f"checkpoint={directory},unnorm_key=bridge_orig").act(obs)
    fractal = _policy(
        f"checkpoint={directory},unnorm_key=fractal20220817_data,gripper=close1_open0"
    ).act(obs)
    assert bridge.info["token_ids"] == fractal.info["token_ids"]
    normalized = np.asarray(bridge.info["normalized"])
    np.testing.assert_allclose(
        fractal.actions[0, :6], normalized[:6] * 0.2 * np.array([1, 1, 1, 2, 2, 2])
    )
    assert fractal.actions[0, 6] == pytest.approx(-bridge.actions[0, 6])


def test_non_action_tokens_are_counted_as_decode_failures(tmp_path: Path) -> None:
    directory = tmp_path / "text-only"
    write_checkpoint(directory, seed=1, outputs="text")
    policy = _policy(f"checkpoint={directory},unnorm_key=bridge_orig")
    chunk = policy.act({"images": {"front": _frame(4)}, "instruction": "Turn the valve"})
    assert chunk.decode_failures == 7
    np.testing.assert_array_equal(chunk.actions[0], [0, 0, 0, 0, 0, 0, -1])


def test_bad_options_fail_with_the_fix(tiny_checkpoint: tuple[Path, ReferenceOpenVLA]) -> None:
    directory, _ = tiny_checkpoint
    good = f"checkpoint={directory},unnorm_key=bridge_orig"
    for args, message in [
        (f"checkpoint={directory},unnorm=x", "unknown --policy-args 'unnorm' for openvla"),
        (f"{good},devcie=cpu", "'devcie' for openvla — did you mean 'device'"),
        (f"checkpoint={directory}", r"unnorm_key=<key>.*bridge_orig, fractal20220817_data"),
        ("", "needs checkpoint="),
        (f"{good},gripper=x", "gripper='x' is not a known convention"),
        (f"{good},dtype=fp8", "dtype='fp8' is not one of"),
        (f"{good},binarize_gripper=maybe", "binarize_gripper='maybe' must be true or false"),
        (f"{good},arch=openvla-7b", "either checkpoint="),
        (f"checkpoint={directory / 'nope'}", "neither a directory nor a hub id"),
    ]:
        # PolicyConfigError: bench prints the message as a one-line error, no traceback
        with pytest.raises(PolicyConfigError, match=message):
            _policy(args)
    with pytest.raises(ValueError, match="camera='top' is not a camera of task 'tiny'"):
        _policy(f"{good},camera=top")


def test_random_weights_from_a_checkpoint_architecture(
    tiny_checkpoint: tuple[Path, ReferenceOpenVLA],
) -> None:
    directory, reference = tiny_checkpoint
    policy = _policy(f"checkpoint={directory},weights=random")
    with torch.no_grad():
        assert not torch.equal(
            policy.model.llm.lm_head.weight, reference.language_model.lm_head.weight
        )
    chunk = policy.act({"images": {"front": _frame(5)}, "instruction": "Turn the valve"})
    assert chunk.actions.shape == (1, 7) and np.isfinite(chunk.actions).all()
    assert policy.describe()["weights"] == "random"
    assert policy.describe()["unnorm_key"] == "identity"


def test_bfloat16_weights_and_activations(tiny_checkpoint: tuple[Path, ReferenceOpenVLA]) -> None:
    """The GPU default precision, exercised on the CPU: built in bf16, never in float32."""
    directory, reference = tiny_checkpoint
    policy = _policy(f"checkpoint={directory},unnorm_key=bridge_orig,dtype=bfloat16")
    assert {p.dtype for p in policy.model.parameters()} == {torch.bfloat16}
    assert policy.model.llm.model.rotary_emb.inv_freq.dtype == torch.float32
    head = reference.language_model.lm_head.weight.to(torch.bfloat16)
    assert torch.equal(policy.model.llm.lm_head.weight, head)
    chunk = policy.act({"images": {"front": _frame(6)}, "instruction": "Turn the valve"})
    assert chunk.decode_failures == 0 and np.isfinite(chunk.actions).all()


def test_shipped_7b_architecture_has_openvla_7b_size() -> None:
    """Built on the meta device (no memory): OpenVLA-7B's parameter count, less the tower
    blocks and heads the forward pass never runs."""
    config = shipped_architecture("openvla-7b")
    assert config.num_patches == 256 and config.vision_dim == 2176 and config.hidden_size == 4096
    assert config.action_vocab_size == 32000
    with torch.device("meta"):
        model = OpenVLAModel(config)
    llama = 32064 * 4096 * 2 + 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096) + 4096
    projector = 2176 * 8704 + 8704 + 8704 * 4096 + 4096 + 4096 * 4096 + 4096
    n = model.num_parameters()
    assert sum(p.numel() for p in model.llm.parameters()) == llama
    assert sum(p.numel() for p in model.projector.parameters()) == projector
    assert 7.45e9 < n < 7.55e9


def test_plugin_import_does_not_import_torch() -> None:
    code = (
        "import sys, vla_bench_openvla.plugin as p; from harness.registry import Registry; "
        "r = Registry(); p.vla_bench_register_policies(registry=r); "
        "assert r.get('policy', 'openvla').extra['action_spaces'] == ('ee_delta_7d',); "
        "assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_prompt_tokens(tiny_checkpoint: tuple[Path, ReferenceOpenVLA]) -> None:
    tokenizer = PromptTokenizer.from_dir(tiny_checkpoint[0])
    ids = tokenizer.encode("  Turn the Valve ")
    assert ids[0] == tokenizer.bos_id == 1
    assert ids[-1] == tokenizer.space_id == tokenizer.tokenizer.token_to_id("▁")
    text = "In: What action should the robot take to turn the valve?\nOut:"
    assert tokenizer.tokenizer.decode(ids[1:-1]) == text
    # what the checkpoint's tokenizer.json does by itself (its BOS template included)
    assert tokenizer.tokenizer.encode(text).ids == ids[:-1]
    words = WordTokenizer().encode("pick up the red block and put it in the bowl")
    assert len(words) == 26 and words[0] == 1 and words[-1] == 29871
    assert all(3 <= i < 31744 for i in words[1:-1])


def test_weights_are_described_by_training_record_and_content(
    tiny_checkpoint: tuple[Path, ReferenceOpenVLA], tmp_path: Path
) -> None:
    """A fine-tune made here says so; a corrupt ``training.json`` is refused, never read as
    "pretrained"; new weights written to the same path get a new ``weights_digest``."""
    import shutil

    from harness.checkpoints import TrainingRecord

    directory = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint[0], directory)

    def describe() -> dict[str, Any]:
        options = {"unnorm_key": "bridge_orig"}
        return OpenVLAPolicy(
            PolicyConfig("openvla", checkpoint=str(directory), options=options)
        ).describe()

    plain = describe()
    assert plain["weights"] == "pretrained" and "training" not in plain
    assert set(plain["weights_digest_files"]) == {
        "model.safetensors", "config.json", "preprocessor_config.json",
    }  # fmt: skip
    TrainingRecord(
        policy="openvla", origin="finetuned", dataset="/d", seed=0, batch_size=4, steps=4,
        steps_done=4, frames=30, episodes=2, pretrained="/w/openvla-7b",
    ).write(directory)  # fmt: skip
    tuned = describe()
    assert tuned["weights"] == "finetuned" and tuned["training"]["pretrained"] == "/w/openvla-7b"
    assert tuned["weights_digest"] == plain["weights_digest"]  # the record is not the weights
    (directory / "training.json").write_text('{"origin": "finetuned", "policy": ')
    with pytest.raises(PolicyConfigError, match=r"training\.json.*cannot be read as JSON"):
        describe()
    (directory / "training.json").unlink()
    other = tmp_path / "other"
    write_checkpoint(other, seed=1, outputs="actions")
    shutil.copy2(other / "model.safetensors", directory / "model.safetensors")
    assert describe()["weights_digest"] != plain["weights_digest"]
