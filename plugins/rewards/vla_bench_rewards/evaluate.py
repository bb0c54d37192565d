"""``bench judge``'s engine: ask a judge a probe's question about stored keyframes, score it.

The items come from runs recorded with ``bench run --keyframes K``: one item per episode (the
``success`` probe, shown the episode's last ``frames`` keyframes) or per keyframe (the others).
Episodes that ended in a harness-side error (``harness.results.ERROR_OUTCOMES``) are left out
and counted. Every answer is stored with its truth, cost and latency in ``answers.parquet``
(rewritten atomically every few answers), the scores in ``judge.json``; re-running the same
command into the same directory resumes, asking only the unanswered items. A judge whose
``max_cost`` is reached stops the evaluation as ``stopped``; what was answered is scored.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from harness.contract import BudgetExceeded
from harness.keyframes import EpisodeKeyframes, Keyframe, read_keyframes
from harness.metrics import latency_percentiles
from harness.results import ERROR_OUTCOMES, atomic_write_json, atomic_write_table, load_run
from vla_bench_rewards import scoring
from vla_bench_rewards.judges.base import Judge, Query, Question
from vla_bench_rewards.probes import Probe, task_progress

RESULT_FILE = "judge.json"
ANSWERS_FILE = "answers.parquet"
SAVE_EVERY = 25


@dataclass(frozen=True)
class Item:
    """One question to ask: which frames, and the truths to score the answer against."""

    run_id: str
    task: str
    episode: int
    step: int
    frames: tuple[Keyframe, ...]
    instruction: str
    truth: float
    truth_return: float
    truth_progress: float
    success: bool
    state: dict[str, float]

    @property
    def key(self) -> tuple[str, str, int, int]:
        """What identifies the item across a resume."""
        return (self.run_id, self.task, self.episode, self.step)


@dataclass
class Plan:
    """The items of an evaluation and what was left out (with why)."""

    items: list[Item] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)

    def skip(self, why: str) -> None:
        """Count one episode left out, by reason."""
        self.skipped[why] = self.skipped.get(why, 0) + 1


def plan(runs: Sequence[Path], probe: Probe, *, frames: int = 0) -> Plan:
    """Every item ``probe`` asks about in ``runs``' keyframes (``frames``: how many of an
    episode's last keyframes a per-episode question shows; 0 = all)."""
    out = Plan()
    for root in runs:
        run = load_run(root)
        run_id = run.record.run_id or Path(root).name
        episodes = run.episodes
        outcomes = {
            (str(task), int(episode)): (str(outcome), bool(success))
            for task, episode, outcome, success in zip(
                episodes["task"],
                episodes["episode"],
                episodes["outcome"],
                episodes["success"],
                strict=True,
            )
        }
        stored = list(read_keyframes(root))
        if not stored:
            raise ValueError(
                f"run {root} stores no keyframes; re-run it with bench run --keyframes 5"
            )
        out.runs.append({"path": str(root), "run_id": run_id, "policy": run.policy})
        for episode in stored:
            outcome = outcomes.get((episode.task, episode.episode))
            if not probe.applies(episode.task):
                out.skip("task not covered by the probe")
            elif outcome is None:
                out.skip("no committed episode row")
            elif outcome[0] in ERROR_OUTCOMES:
                out.skip(f"episode ended in {outcome[0]}")
            else:
                out.items.extend(_items(run_id, episode, probe, outcome[1], frames))
    if not out.items:
        raise ValueError(
            f"no {probe.name} items in the runs given ({out.skipped or 'no keyframes'}); the "
            f"probe covers tasks {list(probe.tasks) or 'all'}"
        )
    return out


def _items(
    run_id: str, episode: EpisodeKeyframes, probe: Probe, success: bool, frames: int
) -> list[Item]:
    def item(shown: tuple[Keyframe, ...]) -> Item:
        last = shown[-1]
        return Item(
            run_id=run_id,
            task=episode.task,
            episode=episode.episode,
            step=last.step,
            frames=shown,
            instruction=episode.instruction,
            truth=float(probe.truth(episode, last, success)),
            truth_return=last.ret,
            truth_progress=task_progress(episode, last),
            success=success,
            state=episode.named_state(last),
        )

    if not episode.frames:
        return []
    if probe.per == "episode":
        shown = episode.frames if frames <= 0 else episode.frames[-frames:]
        return [item(shown)]
    return [item((frame,)) for frame in episode.frames]


def asked_question(judge: Judge, probe: Probe) -> Question:
    """The probe's question as this judge can answer it (a score from a rule-based judge)."""
    question = probe.question
    if question.kind in judge.kinds:
        return question
    if "score" in judge.kinds and probe.kind in ("binary", "ranking"):
        return replace(question, kind="score")
    raise ValueError(
        f"judge {judge.name!r} answers {sorted(judge.kinds)}; probe {probe.name!r} needs a "
        f"{question.kind} (choose another judge or probe)"
    )


Progress = Callable[[int, int], None]


def evaluate(
    judge: Judge,
    probe: Probe,
    runs: Sequence[Path],
    out: Path,
    *,
    config: dict[str, Any],
    frames: int = 0,
    state_text: bool = False,
    threshold: float | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Ask ``judge`` every item, store the answers in ``out`` and return the scores.

    ``config`` (judge name and options) is stored and must match to resume into ``out``.
    """
    question = asked_question(judge, probe)
    the_plan = plan(runs, probe, frames=frames)
    identity = {
        **config,
        "probe": probe.name,
        "frames": frames,
        "state_text": state_text,
        "runs": [r["path"] for r in the_plan.runs],
    }
    answers = _resume(out, identity)
    done = {(r["run_id"], r["task"], int(r["episode"]), int(r["step"])) for r in answers}
    status, detail = "complete", None
    todo = [item for item in the_plan.items if item.key not in done]
    for count, item in enumerate(todo, 1):
        query = Query(
            frames=tuple(f.image() for f in item.frames),
            instruction=item.instruction,
            question=question,
            steps=tuple(f.step for f in item.frames),
            state_text=item.frames[-1].state_text if state_text else None,
            truth=_truth(item, question) if judge.privileged else None,
        )
        start = time.perf_counter()
        try:
            answer = judge.answer(query)
        except BudgetExceeded as exc:
            status, detail = "stopped", f"budget reached: {exc}"
            break
        latency = time.perf_counter() - start
        answers.append(
            {
                "run_id": item.run_id,
                "task": item.task,
                "episode": item.episode,
                "step": item.step,
                "truth": item.truth,
                "truth_return": item.truth_return,
                "truth_progress": item.truth_progress,
                "success": item.success,
                "value": math.nan if answer.value is None else float(answer.value),
                "error": answer.error or None,
                "text": answer.text[:500],
                "cost_usd": answer.cost_usd,
                "input_tokens": answer.input_tokens,
                "output_tokens": answer.output_tokens,
                "latency_s": latency,
                "model_s": math.nan if answer.model_s is None else answer.model_s,
            }
        )
        if count % SAVE_EVERY == 0:
            atomic_write_table(out / ANSWERS_FILE, pa.Table.from_pandas(pd.DataFrame(answers)))
        if progress:
            progress(len(answers), len(the_plan.items))
    frame = pd.DataFrame(answers)
    atomic_write_table(out / ANSWERS_FILE, pa.Table.from_pandas(frame))
    if threshold is None:
        threshold = 0.0 if question.kind == "score" else 0.5
    result = {
        "schema": 1,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": status,
        "status_detail": detail,
        "identity": identity,
        "judge": judge.describe(),
        "probe": {
            "name": probe.name,
            "kind": probe.kind,
            "per": probe.per,
            "question": asdict(question),
        },
        "runs": the_plan.runs,
        "tasks": sorted({item.task for item in the_plan.items}),
        "items": len(the_plan.items),
        "skipped": the_plan.skipped,
        "scores": score(frame, probe, threshold),
    }
    atomic_write_json(out / RESULT_FILE, result)
    return result


def _truth(item: Item, question: Question) -> dict[str, float]:
    return {
        **item.state,
        question.field: item.truth,
        "success": float(item.success),
        "return": item.truth_return,
        "progress": item.truth_progress,
    }


def _resume(out: Path, identity: dict[str, Any]) -> list[dict[str, Any]]:
    result, answers = out / RESULT_FILE, out / ANSWERS_FILE
    if not result.exists() and not answers.exists():
        return []
    if result.exists():
        stored = json.loads(result.read_text()).get("identity")
        if stored != identity:
            raise ValueError(
                f"{out} holds another judge evaluation ({stored}); pass the same arguments "
                f"to resume it, or a new --out"
            )
    if not answers.exists():
        return []
    rows: list[dict[str, Any]] = pd.read_parquet(answers).to_dict("records")  # type: ignore[assignment]
    return rows


def score(frame: pd.DataFrame, probe: Probe, threshold: float) -> dict[str, Any]:
    """The scores of stored answers (``answers.parquet`` rows) for ``probe``."""
    asked = len(frame)
    if asked:
        answered = frame[np.isfinite(frame["value"].astype(float))]
        errors = frame[~np.isfinite(frame["value"].astype(float))]
    else:
        answered = errors = frame
    out: dict[str, Any] = {
        "asked": asked,
        "answered": len(answered),
        "unreadable": len(errors),
        "first_error": str(errors["error"].iloc[0]) if len(errors) else None,
        "cost_usd": float(frame["cost_usd"].sum()) if asked else 0.0,
        "cost_usd_per_query": float(frame["cost_usd"].mean()) if asked else math.nan,
        "input_tokens": int(frame["input_tokens"].sum()) if asked else 0,
        "output_tokens": int(frame["output_tokens"].sum()) if asked else 0,
        "latency_s": latency_percentiles(frame["latency_s"].to_numpy()) if asked else {},
    }
    if not len(answered):
        return out
    values = answered["value"].astype(float).to_numpy()
    if probe.kind == "binary":
        out["binary"] = scoring.binary_metrics(
            answered["success"].astype(bool).to_numpy(), values, threshold
        )
    elif probe.kind == "numeric":
        out["numeric"] = scoring.numeric_metrics(answered["truth"].to_numpy(), values)
        out["spearman"] = scoring.spearman(answered["truth"].to_numpy(), values)
    else:
        out["spearman_progress"] = scoring.spearman(answered["truth_progress"].to_numpy(), values)
        out["spearman_return"] = scoring.spearman(answered["truth_return"].to_numpy(), values)
        last = answered.sort_values("step").groupby(["run_id", "task", "episode"]).tail(1)
        out["spearman_episode_return"] = scoring.spearman(
            last["truth_return"].to_numpy(), last["value"].astype(float).to_numpy()
        )
    out["distinct_answers"] = len({float(v) for v in values})
    return out
