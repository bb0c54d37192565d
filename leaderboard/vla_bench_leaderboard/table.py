"""The leaderboard as data: what every renderer (terminal, Markdown, HTML, CSV, JSON) shows.

``build(runs, problems)`` turns loaded runs into:

- **cells**: one per policy and task (task version, track version and fingerprint), the runs
  of the same policy and configuration merged (see *Merging*);
- **rows**: one per policy and suite, over that policy's cells of the suite;
- **groups**: the cells (per task) and rows (per suite) ranked together, and notes saying why
  anything was ranked apart or not at all.

Identity. A policy is its name, its weights (by the content digest ``describe()`` records as
``weights_digest``; by checkpoint path where no digest was recorded, which is flagged), weights
kind, device, dtype, backend options and ``n_action_steps``: the configuration without the
seed, whose runs are replicates. Runs that differ in any of these are different rows. A task
is its name, version, track version and the fingerprint of what a policy sees: runs that
differ are never merged.

Merging. The runs of one policy on one task are pooled. Runs with different ``--seed`` are
*replicates*: every episode is kept and the seeds are listed. The same episode (task, track,
episode seed) recorded for the same policy seed by several runs is counted once when the
outcomes agree (a resumed or repeated run), and is a *conflict* when they differ: it is left
out of every figure, the entry is not ranked, and the report says which runs disagree. Nothing
is replaced silently. Where merged runs ran on different hosts, revisions or worker counts, or
under load, the entry says so.

Ranking: see :mod:`vla_bench_leaderboard.ranking`. Entries whose weights are ``random`` (an
untrained network: latency and memory only) and privileged experts (``privileged`` in the run
record: they read the simulator's state) are shown but never ranked on success.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import RunFormatError
from harness.results import Run
from harness.summary import chunk_length, numeric
from vla_bench_leaderboard import ranking, records
from vla_bench_leaderboard.records import PolicyInfo, RunInfo, TaskInfo
from vla_bench_leaderboard.scores import Stats, compute_stats

UNKNOWN = records.UNKNOWN

REPLAY_ARTIFACT = "replay3d.json"
"""The per-episode artifact an env writes for an interactive 3D replay (the studio's format)."""

UNRANKED_RANDOM = "random weights: shown for latency and memory, never ranked on success"
UNRANKED_PRIVILEGED = "privileged expert (reads simulator state): a reference, not ranked"
UNRANKED_EMPTY = "no finished episodes"
BY_PATH = (
    "weights identified by checkpoint path only (no content digest recorded): different "
    "weights saved to the same path would be merged"
)


# -- identities ----------------------------------------------------------------------------
@dataclass(frozen=True)
class PolicyId:
    """What makes two runs the same policy: name, weights and configuration."""

    name: str
    checkpoint: str | None  # the path, where the weights are identified by it
    weights: str
    weights_digest: str | None = None
    device: str | None = None
    dtype: str | None = None
    n_action_steps: int | None = None
    options: str = "{}"
    privileged: bool = False

    @property
    def by_path(self) -> bool:
        """True when a checkpoint is identified by its path rather than its content."""
        return self.checkpoint is not None and self.weights_digest is None

    @property
    def weights_label(self) -> str:
        """The checkpoint path, or the start of its content digest."""
        if self.weights_digest:
            return f"sha256:{self.weights_digest.removeprefix('sha256:')[:12]}"
        return self.checkpoint or ""

    @property
    def config_label(self) -> str:
        """The configuration in one short line (device, dtype, chunking, options)."""
        parts = [p for p in (self.device, self.dtype) if p]
        if self.n_action_steps:
            parts.append(f"n_action_steps={self.n_action_steps}")
        if self.options not in ("{}", ""):
            parts.append(self.options)
        return " · ".join(parts)

    @property
    def slug(self) -> str:
        """A short stable id (for anchors and element ids)."""
        return hashlib.sha1(repr(self).encode()).hexdigest()[:10]

    @property
    def ranked_reason(self) -> str | None:
        """Why this policy is never ranked on success, or None when it is."""
        if self.weights == "random":
            return UNRANKED_RANDOM
        if self.privileged:
            return UNRANKED_PRIVILEGED
        return None


def policy_id(record: PolicyInfo) -> PolicyId:
    """The identity of a run's policy (see the module docstring)."""
    return PolicyId(
        name=record.name,
        checkpoint=None if record.weights_digest else record.checkpoint,
        weights=record.weights,
        weights_digest=record.weights_digest,
        device=record.device,
        dtype=record.dtype,
        n_action_steps=record.n_action_steps,
        options=record.options,
        privileged=record.privileged,
    )


@dataclass(frozen=True)
class Media:
    """A recorded rollout of one episode (a GIF or video inside a run directory)."""

    kind: str  # "success" or "failure"
    path: Path
    episode: int
    seed: Any
    outcome: str
    replay: Path | None = None  # the episode's 3D replay (``*.replay3d.json``), when recorded


@dataclass(frozen=True)
class Rank:
    """Where an entry stands in its group and how that was decided."""

    position: int | None
    status: str = "unranked"  # see ranking.Verdict, or "unranked"
    p_value: float = math.nan
    adjusted_p: float = math.nan
    method: str = ""
    reason: str | None = None  # why it is not ranked
    group_size: int = 0
    others_tied: bool = False

    @property
    def leader(self) -> bool:
        """The group's leader (never a lone entry: nothing was compared)."""
        return self.status == "leader"

    @property
    def tied(self) -> bool:
        """Not separated from the leader (the leader too, when anything is tied with it)."""
        return self.status == "tied" or (self.leader and self.others_tied)

    @property
    def label(self) -> str:
        """``1``, ``=1`` (tied with the leader), ``3``, or ``—`` (not ranked)."""
        if self.position is None:
            return "—"
        return f"={self.position}" if self.tied else str(self.position)


NOT_RANKED = Rank(position=None)


def _common(sources: Sequence[RunInfo], what: str, values: list[str]) -> list[str]:
    distinct = sorted(set(values))
    if len(distinct) < 2:
        return []
    return [f"merged runs or invocations differ in {what}: {', '.join(distinct)}"]


def latency_flags(sources: Sequence[RunInfo]) -> list[str]:
    """Warnings about how comparable the latency of these runs (and their invocations) is."""
    out = []
    loaded = [s.run_id for s in sources if any(h.loaded for h in s.hosts)]
    if loaded:
        out.append(
            "latency measured under load (other processes wanted more CPUs than were free) "
            f"in {', '.join(loaded)}"
        )
    hosts = [h for s in sources for h in s.hosts]
    out += _common(sources, "host (latency mixes machines)", [h.text for h in hosts])
    out += _common(
        sources,
        "worker count (latency under different contention)",
        [str(h.workers) for h in hosts],
    )
    return out


@dataclass
class Cell:
    """One policy on one task version, track version and fingerprint (its runs merged)."""

    policy: PolicyId
    task: TaskInfo
    episodes: pd.DataFrame
    stats: Stats
    sources: list[RunInfo]
    media: list[Media] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    rank: Rank = NOT_RANKED
    act_s: np.ndarray | None = field(default=None, repr=False)

    @property
    def suite(self) -> str:
        """The suite the task belongs to."""
        return self.task.suite

    @property
    def flags(self) -> list[str]:
        """Short warnings to show beside the entry."""
        return _flags(self.policy, self.sources, bool(self.conflicts))


def _flags(policy: PolicyId, sources: Sequence[RunInfo], conflicts: bool) -> list[str]:
    out = []
    if policy.ranked_reason:
        out.append(policy.ranked_reason)
    if conflicts:
        out.append("episodes recorded twice with different outcomes (see the notes)")
    if policy.by_path:
        out.append(BY_PATH)
    if any(not s.complete for s in sources):
        out.append("includes an unfinished run")
    out += _common(sources, "code revision", [s.git or UNKNOWN for s in sources])
    out += latency_flags(sources)
    return out


@dataclass
class Row:
    """One policy on one suite: its cells of that suite together."""

    policy: PolicyId
    suite: str
    cells: list[Cell]
    stats: Stats
    rank: Rank = NOT_RANKED
    act_s: np.ndarray | None = field(default=None, repr=False)

    @property
    def sources(self) -> list[RunInfo]:
        """Every run that contributed, once, newest first."""
        seen: dict[str, RunInfo] = {}
        for cell in self.cells:
            for source in cell.sources:
                seen.setdefault(source.root, source)
        return sorted(seen.values(), key=lambda s: s.created, reverse=True)

    @property
    def signature(self) -> tuple[tuple[str, str, str, str], ...]:
        """The task versions, track versions and fingerprints this row covers."""
        return tuple(sorted(c.task.group_key for c in self.cells))

    @property
    def flags(self) -> list[str]:
        """Short warnings to show beside the row."""
        return _flags(self.policy, self.sources, any(c.conflicts for c in self.cells))


@dataclass
class Group:
    """Entries ranked together (cells of one task version, or rows of one suite task set)."""

    kind: str  # "task" or "suite"
    title: str
    suite: str
    members: list[Any]  # list[Cell] or list[Row]
    note: str | None = None


@dataclass
class Leaderboard:
    """The whole report: rows, cells, ranking groups, notes and provenance."""

    rows: list[Row]
    task_groups: list[Group]
    suite_groups: list[Group]
    notes: list[str]
    problems: list[str]
    sources: list[RunInfo]
    skipped: list[str] = field(default_factory=list)

    @property
    def cells(self) -> list[Cell]:
        """Every cell, in ranking-group order."""
        return [c for g in self.task_groups for c in g.members]

    @property
    def suites(self) -> list[str]:
        """Suites present, sorted."""
        return sorted({r.suite for r in self.rows})

    @property
    def ranked(self) -> int:
        """How many entries hold a rank compared with another entry."""
        entries: list[Cell | Row] = [*self.rows, *self.cells]
        return sum(e.rank.status in ("leader", "tied", "below") for e in entries)

    def labels(self) -> dict[PolicyId, str]:
        """A short label per policy, unique in this report (name, then weights or config)."""
        policies = sorted({r.policy for r in self.rows}, key=repr)
        names: dict[str, list[PolicyId]] = defaultdict(list)
        for p in policies:
            names[p.name].append(p)
        out = {}
        for name, same in names.items():
            for p in same:
                if len(same) == 1:
                    out[p] = name
                else:
                    detail = p.weights_label or p.config_label or p.weights
                    out[p] = f"{name} ({detail})"
        if len(set(out.values())) < len(out):  # still ambiguous: fall back to the stable id
            out = {p: f"{label} #{p.slug[:4]}" for p, label in out.items()}
        return out

    @property
    def empty(self) -> bool:
        """True when no run contributed an episode."""
        return not self.rows


# -- reading runs --------------------------------------------------------------------------
def _normalise_episodes(episodes: pd.DataFrame) -> pd.DataFrame:
    """Coerce the columns the analysis relies on; older runs may hold None in them."""
    df = episodes.copy()
    if "success" not in df:
        df["success"] = None
    if "outcome" not in df:
        df["outcome"] = None
    # an old row may lack one of the two: each can be told from the other
    won = df["success"].astype("boolean")
    df["outcome"] = df["outcome"].where(
        df["outcome"].notna(), won.map({True: "success", False: "failure"})
    )
    df["outcome"] = df["outcome"].fillna(UNKNOWN).astype(str)
    df["success"] = won.fillna(df["outcome"] == "success").astype(bool)
    for column in ("steps", "episode"):
        df[column] = numeric(df, column)
    if "seed" not in df:
        df["seed"] = None
    return df


@dataclass
class _Piece:
    """The episodes one run contributes to one cell, before merging."""

    source: RunInfo
    task: TaskInfo
    episodes: pd.DataFrame


def _steps_act(run: Run, notes: list[str]) -> pd.DataFrame | None:
    """(task, episode, act_s, chunk) of a run's steps, or None with a note when unreadable."""
    try:
        steps = run.steps()
    except (OSError, ValueError) as exc:  # torn Parquet/Arrow: costs the latency column only
        notes.append(
            f"{run.root}: steps unreadable ({type(exc).__name__}: {exc}); "
            "latency from per-episode medians"
        )
        return None
    if steps.empty:
        return None
    missing = [c for c in ("task", "episode", "act_s") if c not in steps.columns]
    if missing:
        notes.append(
            f"{run.root}: steps.parquet lacks {', '.join(missing)} (older run); "
            "latency from per-episode medians"
        )
        return None
    keep = [c for c in ("task", "episode", "act_s", "chunk") if c in steps.columns]
    return steps[keep]


# -- merging -------------------------------------------------------------------------------
@dataclass
class _Merged:
    episodes: pd.DataFrame
    sources: list[RunInfo]
    notes: list[str]
    conflicts: list[str]


def _merge(pieces: list[_Piece]) -> _Merged:
    """Pool the pieces of one cell: replicates kept, repeats counted once, conflicts apart."""
    pieces = sorted(pieces, key=lambda p: (p.source.created, p.source.run_id))
    frames = []
    for piece in pieces:
        df = piece.episodes.copy()
        df["source_run"] = piece.source.root
        df["run_id"] = piece.source.run_id
        df["policy_seed"] = piece.source.policy.seed
        frames.append(df)
    pooled = pd.concat(frames, ignore_index=True)
    seeds = pooled["seed"].map(lambda s: None if s is None or pd.isna(s) else int(s))
    keys = list(
        zip(
            pooled["policy_seed"].map(lambda s: -1 if s is None or pd.isna(s) else int(s)),
            seeds.map(lambda s: "" if s is None else s),
            pooled["episode"],
            strict=True,
        )
    )
    pooled["_key"] = keys
    keep = np.ones(len(pooled), dtype=bool)
    notes: list[str] = []
    conflicts: list[str] = []
    repeated = 0
    for _, group in pooled.groupby("_key", sort=False):
        if len(group) == 1:
            continue
        if group["outcome"].nunique() == 1:
            keep[group.index[1:]] = False  # the first (oldest) recording stands for all
            repeated += len(group) - 1
        else:
            keep[group.index] = False
            seed = group["seed"].iloc[0]
            what = ", ".join(
                f"{r} {o}" for r, o in zip(group["run_id"], group["outcome"], strict=True)
            )
            conflicts.append(
                f"episode {int(group['episode'].iloc[0])} (seed {seed}, policy seed "
                f"{group['policy_seed'].iloc[0]}) recorded with different outcomes: {what}"
            )
    merged = pooled[keep].drop(columns="_key").reset_index(drop=True)
    if len(pieces) > 1:
        notes.append(f"merged {len(pieces)} runs")
    if repeated:
        notes.append(
            f"{repeated} episode(s) recorded by more than one run with the same outcome "
            "(a resumed or repeated run): counted once"
        )
    if conflicts:
        notes.append(
            f"{len(conflicts)} episode(s) recorded twice with different outcomes are left out "
            "of every figure and the entry is not ranked; resolve by removing the run that is "
            "wrong: " + "; ".join(conflicts)
        )
    seeds_seen = sorted({p.source.policy.seed for p in pieces if p.source.policy.seed is not None})
    if len(seeds_seen) > 1:
        notes.append(
            f"replicates: policy seeds {', '.join(map(str, seeds_seen))}; every episode of "
            "each seed is kept"
        )
    return _Merged(merged, [p.source for p in reversed(pieces)], notes, conflicts)


def _media(episodes: pd.DataFrame, notes: list[str]) -> list[Media]:
    """The first recorded success and the first recorded failure of a cell."""
    found: dict[str, Media] = {}
    if "extra" not in episodes.columns:
        return []
    for row in episodes.sort_values("episode").to_dict("records"):
        kind = "success" if row["success"] else "failure"
        if kind in found:
            continue
        raw = row["extra"]
        try:
            extra = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError:
            continue
        video = extra.get("video") if isinstance(extra, dict) else None
        # the page embeds the GIF thumbnail (an MP4 beside it plays outside the page)
        rel = video.get("gif") if isinstance(video, dict) else video
        if not rel:
            continue
        root = Path(str(row["source_run"])).resolve()
        path = (root / str(rel)).resolve()
        if not path.is_relative_to(root):
            notes.append(f"video path {rel!r} points outside its run directory: ignored")
            continue
        replay = None
        if REPLAY_ARTIFACT in extra.get("artifacts", []):
            replay = (
                root / "parts" / str(row["task"]) / f"{int(row['episode']):06d}.{REPLAY_ARTIFACT}"
            )
        if path.is_file():
            found[kind] = Media(
                kind, path, int(row["episode"]), row["seed"], str(row["outcome"]), replay
            )
    return [found[k] for k in ("success", "failure") if k in found]


def _act_seconds(
    episodes: pd.DataFrame, steps_of: dict[str, pd.DataFrame | None]
) -> np.ndarray | None:
    """The act timings of exactly the episodes kept (a merged cell takes each from its run)."""
    chunks = []
    for root, group in episodes.groupby("source_run"):
        steps = steps_of.get(str(root))
        if steps is None:
            return None
        wanted = pd.MultiIndex.from_frame(group[["task", "episode"]].astype({"episode": int}))
        index = pd.MultiIndex.from_arrays([steps["task"], steps["episode"].astype(int)])
        chunks.append(steps.loc[index.isin(wanted), "act_s"].to_numpy(dtype=float))
    return np.concatenate(chunks) if chunks else None


# -- building ------------------------------------------------------------------------------
def build(runs: Sequence[Run], problems: Sequence[str] = ()) -> Leaderboard:
    """The leaderboard of a set of loaded runs (``problems``: directories that failed to load).

    A run whose run.json is malformed (:class:`RunFormatError`) is skipped and listed in
    ``skipped``; any other error is a bug and propagates.
    """
    notes: list[str] = []
    skipped: list[str] = []
    sources: list[RunInfo] = []
    pieces: dict[tuple[PolicyId, tuple[str, str, str, str]], list[_Piece]] = defaultdict(list)
    steps_of: dict[str, pd.DataFrame | None] = {}
    chunk_of: dict[str, float | None] = {}
    for run in runs:
        try:
            record = records.read(run)
        except RunFormatError as exc:
            skipped.append(f"{exc} (run skipped)")
            continue
        timing = run.record.settings.timing
        if timing != "sync":  # another experiment: never merged or ranked with synchronous runs
            notes.append(
                f"{run.root}: ran with --timing {timing}; left out of the ranking (bench report "
                "--degradation compares it with its synchronous run)"
            )
            continue
        sources.append(record)
        notes.extend(f"{run.root}: {n}" for n in record.notes)
        if run.episodes.empty:
            notes.append(f"{run.root}: no finished episodes yet; nothing to show")
            continue
        policy = policy_id(record.policy)
        episodes = _normalise_episodes(run.episodes)
        steps = _steps_act(run, notes)
        steps_of[record.root] = steps
        chunk_of[record.root] = chunk_length(steps)
        for task, group in episodes.groupby("task", sort=True):
            info = record.tasks[str(task)]
            pieces[(policy, info.group_key)].append(_Piece(record, info, group))

    cells: list[Cell] = []
    for (policy, _), group_pieces in pieces.items():
        info = max(group_pieces, key=lambda p: p.source.created).task
        merged = _merge(group_pieces)
        act = _act_seconds(merged.episodes, steps_of)
        k = policy.n_action_steps or _first(chunk_of.get(s.root) for s in merged.sources) or 1.0
        stats = compute_stats(
            merged.episodes,
            act,
            n_action_steps=float(k),
            has_ee=info.has_ee,
            control_hz=info.control_hz,
            tracks={info.name: info.track_key},
        )
        cell = Cell(
            policy,
            info,
            merged.episodes,
            stats,
            merged.sources,
            notes=merged.notes,
            conflicts=merged.conflicts,
            act_s=act,
        )
        cell.media = _media(merged.episodes, cell.notes)
        cells.append(cell)

    task_groups = _task_groups(cells, notes)
    rows = _rows(cells, steps_of, notes)
    suite_groups = _suite_groups(rows, notes)
    order = {id(r): i for i, g in enumerate(suite_groups) for r in g.members}
    rows.sort(key=lambda r: (r.suite, order[id(r)], _rank_sort(r)))
    return Leaderboard(rows, task_groups, suite_groups, notes, list(problems), sources, skipped)


def _first(values: Any) -> Any:
    return next((v for v in values if v), None)


def _rank_sort(m: Cell | Row) -> tuple[float, float, str]:
    position = m.rank.position if m.rank.position is not None else math.inf
    rate = m.stats.success_rate if math.isfinite(m.stats.success_rate) else -1.0
    return (position, -rate, m.policy.name)


def rank_group(members: Sequence[Cell | Row]) -> None:
    """Assign ``rank`` to every member of one comparable group (see :mod:`.ranking`)."""
    eligible: list[Cell | Row] = []
    for m in members:
        cells = m.cells if isinstance(m, Row) else [m]
        conflicted = any(c.conflicts for c in cells)
        reason = (
            m.policy.ranked_reason
            or (UNRANKED_EMPTY if m.stats.episodes == 0 else None)
            or ("episodes recorded twice with different outcomes" if conflicted else None)
        )
        if reason:
            m.rank = Rank(position=None, reason=reason)
        else:
            eligible.append(m)
    verdicts = ranking.rank([m.stats.evidence for m in eligible])
    size = sum(v.status in ("leader", "tied", "below", "alone") for v in verdicts)
    others_tied = any(v.status == "tied" for v in verdicts)
    for m, v in zip(eligible, verdicts, strict=True):
        test = v.test
        m.rank = Rank(
            position=v.position,
            status=v.status,
            p_value=test.p_value if test else math.nan,
            adjusted_p=test.adjusted if test else math.nan,
            method=v.explanation if v.position is not None else "",
            reason=None if v.position is not None else v.explanation,
            group_size=size,
            others_tied=others_tied,
        )


def _task_groups(cells: list[Cell], notes: list[str]) -> list[Group]:
    by_key: dict[tuple[str, str, str, str], list[Cell]] = defaultdict(list)
    for cell in cells:
        by_key[cell.task.group_key].append(cell)
    groups = []
    for key in sorted(by_key, key=lambda k: (by_key[k][0].suite, k)):
        members = by_key[key]
        rank_group(members)
        members.sort(key=_rank_sort)
        groups.append(Group("task", members[0].task.label, members[0].suite, members))
    by_task: dict[str, list[Group]] = defaultdict(list)
    for g in groups:
        by_task[g.members[0].task.name].append(g)
    for task, versions in by_task.items():
        if len(versions) > 1:
            text = "; ".join(
                f"{g.members[0].task.label}: "
                + ", ".join(sorted({c.policy.name for c in g.members}))
                for g in versions
            )
            notes.append(
                f"task {task!r} was run on different task or track versions or fingerprints, "
                "which are never merged and are ranked separately (different episodes or a "
                f"changed task are not comparable): {text}"
            )
            for g in versions:
                g.note = (
                    f"{task!r} was also run on another task or track version; those runs are "
                    "ranked separately (see the notes)."
                )
    return groups


def _rows(
    cells: list[Cell], steps_of: dict[str, pd.DataFrame | None], notes: list[str]
) -> list[Row]:
    """One row per policy and suite; a task run on several versions contributes its newest."""
    by_policy: dict[tuple[PolicyId, str], dict[str, list[Cell]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for cell in cells:
        by_policy[(cell.policy, cell.suite)][cell.task.name].append(cell)
    rows = []
    for (policy, suite), tasks in by_policy.items():
        chosen = []
        for task, versions in sorted(tasks.items()):
            versions.sort(key=lambda c: max(s.created for s in c.sources), reverse=True)
            chosen.append(versions[0])
            if len(versions) > 1:
                notes.append(
                    f"{policy.name} on {task}: the {suite} row uses the newest version "
                    f"({versions[0].task.label}); older versions appear only per task"
                )
        episodes = pd.concat([c.episodes for c in chosen], ignore_index=True)
        act = _act_seconds(episodes, steps_of)
        hz = {c.task.control_hz for c in chosen}
        has_ee = {c.task.has_ee for c in chosen}
        stats = compute_stats(
            episodes,
            act,
            n_action_steps=chosen[0].stats.n_action_steps,
            has_ee=True in has_ee or None in has_ee,
            control_hz=hz.pop() if len(hz) == 1 else None,
            tracks={c.task.name: c.task.track_key for c in chosen},
            rates=[(c.stats.success_rate, c.stats.ci_low, c.stats.ci_high) for c in chosen],
        )
        rows.append(Row(policy, suite, chosen, stats, act_s=act))
    return rows


def _episode_sets(row: Row) -> frozenset[Any]:
    return frozenset(row.stats.outcomes)


SPELLED_OUT_TASKS = 3
"""Up to this many tasks, a suite group's title names each with its versions and fingerprint."""


def task_set_text(signature: Sequence[tuple[str, Any, Any, str | None]]) -> str:
    """The tasks a suite group covers: ``(name, version, track version, fingerprint)`` each.
    More than :data:`SPELLED_OUT_TASKS` are summarised (count, shared versions, the first and
    last names, and ``set`` + a digest of the whole list, so that two groups differing only in
    a version or fingerprint still read differently); the per-task tables spell each out."""
    parts = [f"{t} v{v}/track {tr}" + (f"/{fp[:8]}" if fp else "") for t, v, tr, fp in signature]
    if len(parts) <= SPELLED_OUT_TASKS:
        return ", ".join(parts)
    names = [t for t, *_ in signature]
    versions = {(v, tr) for _, v, tr, _ in signature}
    shared = ""
    if len(versions) == 1:
        v, tr = next(iter(versions))
        shared = f", v{v}/track {tr}"
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:8]
    return f"{len(names)} tasks{shared} ({', '.join(names[:2])}, …, {names[-1]}; set {digest})"


def _suite_groups(rows: list[Row], notes: list[str]) -> list[Group]:
    by_key: dict[tuple[str, Any, frozenset[Any]], list[Row]] = defaultdict(list)
    for row in rows:
        by_key[(row.suite, row.signature, _episode_sets(row))].append(row)
    groups = []
    for (suite, signature, episodes), members in sorted(
        by_key.items(), key=lambda kv: (kv[0][0], -len(kv[1]), str(kv[0][1]))
    ):
        rank_group(members)
        members.sort(key=_rank_sort)
        # Groups of one task set differ in their episodes: the counts tell them apart.
        count = f"{len(episodes)} episode{'s' if len(episodes) != 1 else ''}"
        if 1 < len(signature) <= SPELLED_OUT_TASKS:
            per_task = Counter(key[0] for key in episodes)
            count += f" ({', '.join(f'{t} {per_task[t]}' for t, *_ in signature)})"
        title = f"{suite}: {task_set_text(signature)} · {count}"
        groups.append(Group("suite", title, suite, members))
    by_suite: dict[str, list[Group]] = defaultdict(list)
    for g in groups:
        by_suite[g.suite].append(g)
    for suite, same in by_suite.items():
        if len(same) < 2:
            continue
        parts = "; ".join(
            ", ".join(sorted({r.policy.name for r in g.members}))
            + f" on {task_set_text(g.members[0].signature)} ("
            + ", ".join(f"{c.task.name} {c.stats.distinct}" for c in g.members[0].cells)
            + " episodes)"
            for g in same
        )
        notes.append(
            f"suite {suite!r}: policies ran different tasks, versions or episodes of it, so "
            f"their suite rows are ranked in {len(same)} separate groups (a suite mean over "
            f"different tasks or episodes is not comparable; see the per-task ranks): {parts}"
        )
        for g in same:
            g.note = (
                "Ranked only among policies that ran exactly these tasks, versions and "
                f"episodes; suite {suite!r} has {len(same)} such groups (see the notes)."
            )
    return groups
