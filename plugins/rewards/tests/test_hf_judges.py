"""Tiny BLIP-2 and LLaVA (real architectures, random weights) build, load and answer offline."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from vla_bench_rewards import tiny
from vla_bench_rewards.judges.base import Query, parse_answer
from vla_bench_rewards.judges.hf import HFJudge
from vla_bench_rewards.judges.keyword import KeywordJudge, keyword_reward
from vla_bench_rewards.probes import PROBES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {
        "blip2": tiny.build_blip2(root / "blip2"),
        "llava": tiny.build_llava(root / "llava"),
    }


def frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (400, 600, 3), dtype=np.uint8)


@pytest.mark.parametrize("family", ["blip2", "llava"])
def test_a_tiny_checkpoint_loads_offline_and_answers(family: str, checkpoints) -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    judge = HFJudge(family, {"checkpoint": str(checkpoints[family]), "max_new_tokens": "8"})
    described = judge.describe()
    assert described["checkpoint"] == str(checkpoints[family])
    assert described["weights"] == "random"  # tiny checkpoints say so: never ranked
    assert 10_000 < described["parameters"] < 100_000  # tiny, not a stand-in with no weights
    question = PROBES["pole_angle"].question
    first = judge.answer(Query(frames=(frame(0),), instruction="", question=question))
    again = judge.answer(Query(frames=(frame(0),), instruction="", question=question))
    assert first.text and first.text == again.text  # greedy: deterministic
    assert (first.value, first.error) == parse_answer(first.text, question)
    assert first.model_s is not None and first.model_s > 0
    vocabulary = set(tiny.vocabulary())
    assert set(first.text.split()) <= vocabulary  # decoded by the checkpoint's tokenizer


def test_the_keyword_judge_scores_the_captioners_text(checkpoints) -> None:
    judge = KeywordJudge({"checkpoint": str(checkpoints["blip2"]), "max_new_tokens": "12"})
    question = PROBES["progress"].question
    answer = judge.answer(Query(frames=(frame(1),), instruction="", question=question))
    caption = answer.text.rsplit(" [", 1)[0]
    assert answer.value == keyword_reward(caption)[0]
    assert judge.describe()["rules"][0] == [["center", "middle"], 1.25]


def test_a_checkpoint_that_cannot_be_found_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match=r"cannot load blip2 checkpoint .* --judge-args checkpoint"
    ):
        HFJudge("blip2", {"checkpoint": str(tmp_path / "missing")})
    with pytest.raises(ValueError, match="did you mean 'checkpoint'"):
        HFJudge("llava", {"checkpoints": "x"})
