"""The leaderboard as data: what every renderer (terminal, Markdown, HTML) shows, built once.

``build(runs, problems)`` turns loaded runs into:

- **cells**: one per policy and task (and task/track version), the runs of the same policy,
  configuration and task merged (see *Merging* below);
- **rows**: one per policy and suite, pooling that policy's cells of the suite;
- **groups**: the sets of cells (per task) and rows (per suite) that are ranked together, and
  notes saying why anything was ranked apart or not at all.

Policies are identified by name, checkpoint, weights kind, device, dtype, backend options
and ``n_action_steps``: two runs that differ in any of these are different rows.

Merging. Several runs of the same policy, configuration and task version on the same track
version are merged: their episodes are pooled and deduplicated by episode seed, the newest
run's episode winning. A resumed or extended run therefore adds episodes, and a re-run
replaces the old result for the same seeds, so no episode is counted twice. Every merged run
is listed in the row's provenance, and a note says when they ran on different machines
(latency then mixes hosts).

Ranking. Only cells on the same task version and track version are ranked together (rows:
the same set of such tasks). A group's leader is the entry with the highest success rate. An
entry is *tied* with the leader when the difference is not significant at 5%: the exact
McNemar test on the episodes both ran (same task, track version and seed), or, where they
share no episode, overlapping Wilson 95% intervals. Entries whose weights are ``random`` (an
untrained network: latency and memory only) and privileged experts (``scripted``: they read
the simulator's state) are shown but never ranked on success.
"""

from __future__ import annotations

import hashlib
import json
import math
import shlex
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import metrics
from harness.results import Run
from harness.summary import act_latency, finite_mean, numeric, outcome_stats

ALPHA = 0.05
"""Significance level of the tie test against the leader."""

UNKNOWN = "?"

UNRANKED_RANDOM = "random weights: shown for latency and memory, never ranked on success"
UNRANKED_PRIVILEGED = "privileged expert (reads simulator state): a reference, not ranked"
UNRANKED_EMPTY = "no finished episodes"

EpisodeKey = tuple[str, str, Any]
"""(task, track version, seed): what makes two episodes of different policies the same one."""


# -- identities ----------------------------------------------------------------------------
@dataclass(frozen=True)
class PolicyId:
    """What makes two runs the same policy: name, checkpoint, weights and configuration."""

    name: str
    checkpoint: str | None
    weights: str
    device: str | None = None
    dtype: str | None = None
    n_action_steps: int | None = None
    options: str = "{}"
    privileged: bool = False

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


@dataclass(frozen=True)
class TaskInfo:
    """A task as a run recorded it: name, versions, suite and what its metrics depend on."""

    name: str
    version: str
    suite: str
    track_version: str
    has_ee: bool | None
    control_hz: float | None
    instruction: str = ""
    plugin: str = ""

    @property
    def group_key(self) -> tuple[str, str, str]:
        """Cells sharing this key may be ranked together."""
        return (self.name, self.version, self.track_version)

    @property
    def label(self) -> str:
        """``task vX · track vY``."""
        return f"{self.name} v{self.version} · track {self.track_version}"


@dataclass(frozen=True)
class RunSource:
    """Provenance of one run: what produced the numbers of the rows it contributes to."""

    run_id: str
    root: str
    status: str
    complete: bool
    created: str
    command: str
    harness_version: str
    plugins: tuple[str, ...]
    host: str
    git: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Media:
    """A recorded rollout of one episode (a GIF or video inside a run directory)."""

    kind: str  # "success" or "failure"
    path: Path
    episode: int
    seed: Any
    outcome: str


# -- statistics ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Stats:
    """Everything shown for one cell or row, computed from its episodes and act timings."""

    episodes: int
    successes: int
    failures: int
    errors: int
    error_kinds: dict[str, int]
    first_error: str | None
    success_rate: float
    ci_low: float
    ci_high: float
    mean_steps_to_success: float
    ldlj: float
    sparc: float
    act_calls: int
    act_p50_s: float
    act_p95_s: float
    latency_source: str  # "steps", "episodes" (per-episode medians), or "none"
    n_action_steps: float
    chunk_hz: float
    action_hz: float
    control_hz: float | None
    peak_rss_bytes: int | None
    peak_device_bytes: int | None
    cost_per_episode: float | None
    tokens_per_episode: float | None
    outcomes: dict[EpisodeKey, bool] = field(repr=False)

    @property
    def realtime(self) -> bool | None:
        """Whether the per-action rate keeps up with the task's control rate (None: unknown)."""
        if self.control_hz is None or not math.isfinite(self.action_hz):
            return None
        return self.action_hz >= self.control_hz


@dataclass(frozen=True)
class Rank:
    """Where an entry stands in its group and how that was decided."""

    position: int | None
    leader: bool = False
    tied: bool = False
    p_value: float = math.nan
    method: str = ""
    reason: str | None = None  # why it is not ranked
    group_size: int = 0

    @property
    def label(self) -> str:
        """``1``, ``=1`` (tied with the leader), ``3``, or ``—`` (not ranked)."""
        if self.position is None:
            return "—"
        return f"={self.position}" if self.tied else str(self.position)


NOT_RANKED = Rank(position=None)


@dataclass
class Cell:
    """One policy on one task version and track version (its runs merged)."""

    policy: PolicyId
    task: TaskInfo
    episodes: pd.DataFrame
    stats: Stats
    sources: list[RunSource]
    media: list[Media] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rank: Rank = NOT_RANKED
    act_s: np.ndarray | None = field(default=None, repr=False)

    @property
    def suite(self) -> str:
        """The suite the task belongs to."""
        return self.task.suite


@dataclass
class Row:
    """One policy on one suite: its cells of that suite pooled."""

    policy: PolicyId
    suite: str
    cells: list[Cell]
    stats: Stats
    rank: Rank = NOT_RANKED
    act_s: np.ndarray | None = field(default=None, repr=False)

    @property
    def sources(self) -> list[RunSource]:
        """Every run that contributed, once, newest first."""
        seen: dict[str, RunSource] = {}
        for cell in self.cells:
            for source in cell.sources:
                seen.setdefault(source.root, source)
        return sorted(seen.values(), key=lambda s: s.created, reverse=True)

    @property
    def signature(self) -> tuple[tuple[str, str, str], ...]:
        """The task versions and track versions this row covers."""
        return tuple(sorted(c.task.group_key for c in self.cells))

    @property
    def flags(self) -> list[str]:
        """Short warnings to show beside the row."""
        out = []
        if self.policy.ranked_reason:
            out.append(self.policy.ranked_reason)
        if any(not s.complete for s in self.sources):
            out.append("includes an unfinished run")
        return out


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
    sources: list[RunSource]

    @property
    def cells(self) -> list[Cell]:
        """Every cell, in ranking-group order."""
        return [c for g in self.task_groups for c in g.members]

    @property
    def suites(self) -> list[str]:
        """Suites present, sorted."""
        return sorted({r.suite for r in self.rows})

    def labels(self) -> dict[PolicyId, str]:
        """A short label per policy, unique in this report (name, then checkpoint or config)."""
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
                    detail = p.checkpoint or p.config_label or p.weights
                    out[p] = f"{name} ({detail})"
        if len(set(out.values())) < len(out):  # still ambiguous: fall back to the stable id
            out = {p: f"{label} #{p.slug[:4]}" for p, label in out.items()}
        return out

    @property
    def empty(self) -> bool:
        """True when no run contributed an episode."""
        return not self.rows


# -- reading runs --------------------------------------------------------------------------
def _policy_id(meta: dict[str, Any]) -> PolicyId:
    policy = meta.get("policy") or {}
    config = policy.get("config") or {}
    describe = policy.get("describe") or {}
    options = config.get("options") or {}
    n_act = policy.get("n_action_steps") or (meta.get("settings") or {}).get("n_action_steps")
    checkpoint = describe.get("checkpoint") or config.get("checkpoint")
    return PolicyId(
        name=str(policy.get("name") or config.get("name") or UNKNOWN),
        checkpoint=str(checkpoint) if checkpoint else None,
        weights=str(describe.get("weights") or UNKNOWN),
        device=str(config["device"]) if config.get("device") else None,
        dtype=str(config["dtype"]) if config.get("dtype") else None,
        n_action_steps=int(n_act) if n_act else None,
        options=json.dumps(options, sort_keys=True, default=str),
        privileged=bool(policy.get("privileged", False)),
    )


def _task_info(meta: dict[str, Any], task: str, notes: list[str]) -> TaskInfo:
    record = (meta.get("tasks") or {}).get(task)
    if not isinstance(record, dict):
        notes.append(f"run.json has no record of task {task!r} (older run): versions unknown")
        record = {}
    spec = record.get("spec") or {}
    track = record.get("track") or {}
    plugin = record.get("plugin") or {}
    hz = spec.get("control_hz")
    return TaskInfo(
        name=task,
        version=str(spec.get("version", UNKNOWN)),
        suite=str(spec.get("suite") or UNKNOWN),
        track_version=str(track.get("version", UNKNOWN)),
        has_ee=spec.get("has_ee_pose"),
        control_hz=float(hz) if hz else None,
        instruction=str(spec.get("instruction") or ""),
        plugin=" ".join(str(plugin.get(k)) for k in ("distribution", "version") if plugin.get(k)),
    )


def _source(run: Run) -> RunSource:
    meta = run.meta
    prov = meta.get("provenance") or {}
    host = prov.get("host") or {}
    gpus = host.get("gpus") or []
    memory = host.get("memory_bytes")
    host_text = ", ".join(
        str(p)
        for p in (
            host.get("hostname"),
            host.get("cpu"),
            f"{host['cpu_count']} CPUs" if host.get("cpu_count") else None,
            f"{memory / 2**30:.0f} GiB" if isinstance(memory, int | float) and memory else None,
            *gpus,
        )
        if p
    )
    plugins = tuple(
        f"{p.get('distribution') or p.get('name')} {p.get('version') or ''}".strip()
        + (" (failed to load)" if p.get("error") else "")
        for p in prov.get("plugins") or []
        if isinstance(p, dict)
    )
    git = prov.get("git") or {}
    revision = git.get("revision")
    git_text = f"{revision[:10]}{' (dirty)' if git.get('dirty') else ''}" if revision else ""
    command = meta.get("command")
    return RunSource(
        run_id=str(meta.get("run_id") or run.root.name),
        root=str(run.root),
        status=str(meta.get("status") or UNKNOWN),
        complete=run.complete,
        created=str(meta.get("created") or ""),
        command=shlex.join(map(str, command)) if isinstance(command, list) else str(command or ""),
        harness_version=str(prov.get("harness_version") or UNKNOWN),
        plugins=plugins,
        host=host_text or UNKNOWN,
        git=git_text,
        notes=tuple(run.notes),
    )


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
    return df


@dataclass
class _Piece:
    """The episodes one run contributes to one cell, before merging."""

    run: Run
    source: RunSource
    task: TaskInfo
    episodes: pd.DataFrame


def _steps_act(run: Run, notes: list[str]) -> pd.DataFrame | None:
    """(task, episode, act_s, chunk) of a run's steps, or None with a note when unreadable."""
    try:
        steps = run.steps()
    except Exception as exc:  # a torn parquet file must cost the latency column, not the report
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


# -- statistics ----------------------------------------------------------------------------
def _max_positive(x: np.ndarray) -> int | None:
    x = x[np.isfinite(x) & (x > 0)]
    return int(x.max()) if x.size else None


def compute_stats(
    episodes: pd.DataFrame,
    act_s: np.ndarray | None,
    *,
    n_action_steps: float,
    has_ee: bool | None,
    control_hz: float | None,
    track_versions: dict[str, str],
) -> Stats:
    """The statistics of a set of episodes (one cell, or a row's cells pooled).

    ``act_s`` holds every timed ``act`` call of these episodes (None: steps were not
    available, and latency falls back to the per-episode medians, marked as such).
    ``track_versions`` maps task to track version for the episode keys of the paired test.
    """
    n = len(episodes)
    success = episodes["success"].to_numpy(dtype=bool)
    # Success, errors and latency: the same definitions ``bench run`` and ``compare`` print.
    out = outcome_stats(episodes)
    lat, source = act_latency(episodes, act_s)
    p50, p95 = lat["p50"], lat["p95"]
    chunk_hz = 1.0 / p50 if math.isfinite(p50) and p50 > 0 else math.nan

    cost = np.nan_to_num(numeric(episodes, "cost_usd"))
    tokens = np.nan_to_num(numeric(episodes, "input_tokens")) + np.nan_to_num(
        numeric(episodes, "output_tokens")
    )
    reported = bool(n) and bool((cost > 0).any() or (tokens > 0).any())
    outcomes = {
        (str(t), track_versions.get(str(t), UNKNOWN), _seed_key(s, e)): bool(ok)
        for t, s, e, ok in zip(
            episodes["task"], episodes["seed"], episodes["episode"], success, strict=True
        )
    }
    return Stats(
        episodes=n,
        successes=out["successes"],
        failures=out["failures"],
        errors=out["errors"],
        error_kinds=out["error_kinds"],
        first_error=out["first_error"],
        success_rate=out["success_rate"],
        ci_low=out["ci_low"],
        ci_high=out["ci_high"],
        mean_steps_to_success=out["mean_steps_to_success"],
        ldlj=finite_mean(numeric(episodes, "ldlj")) if has_ee is not False else math.nan,
        sparc=finite_mean(numeric(episodes, "sparc")) if has_ee is not False else math.nan,
        act_calls=int(lat["calls"]),
        act_p50_s=p50,
        act_p95_s=p95,
        latency_source=source,
        n_action_steps=n_action_steps,
        chunk_hz=chunk_hz,
        action_hz=chunk_hz * n_action_steps,
        control_hz=control_hz,
        peak_rss_bytes=_max_positive(numeric(episodes, "peak_rss_bytes")),
        peak_device_bytes=_max_positive(numeric(episodes, "peak_device_bytes")),
        cost_per_episode=float(cost.mean()) if reported else None,
        tokens_per_episode=float(tokens.mean()) if reported else None,
        outcomes=outcomes,
    )


def _seed_key(seed: Any, episode: Any) -> Any:
    """The pairing key of an episode: its seed, or its index where an old run lacks seeds."""
    if seed is None or (isinstance(seed, float) and math.isnan(seed)):
        return f"episode {episode}"
    return int(seed)


def _chunk_length(steps: pd.DataFrame | None) -> float | None:
    """Actions executed per act call, read off the steps (median chunk length)."""
    if steps is None or "chunk" not in steps.columns or steps.empty:
        return None
    sizes = steps.groupby(["task", "episode", "chunk"]).size()
    return float(sizes.median()) if len(sizes) else None


# -- ranking -------------------------------------------------------------------------------
def compare_to_leader(leader: Stats, other: Stats) -> tuple[bool, float, str]:
    """(tied, p-value, how it was decided) for ``other`` against the group's leader.

    Paired exact McNemar over the episodes both ran; Wilson interval overlap when they share
    none (p-value NaN then).
    """
    shared = leader.outcomes.keys() & other.outcomes.keys()
    if shared:
        b = sum(leader.outcomes[k] and not other.outcomes[k] for k in shared)
        c = sum(other.outcomes[k] and not leader.outcomes[k] for k in shared)
        p = metrics.mcnemar_exact(b, c)
        verdict = "tied with" if p >= ALPHA else "below"
        return (
            p >= ALPHA,
            p,
            f"{verdict} the leader: exact McNemar on {len(shared)} shared episodes "
            f"(leader alone succeeded {b}, this alone {c}), p = {p:.3g}",
        )
    overlap = other.ci_high >= leader.ci_low
    return (
        overlap,
        math.nan,
        "no shared episodes: Wilson 95% intervals "
        + ("overlap, so tied with the leader" if overlap else "do not overlap the leader's"),
    )


def rank_group(members: Sequence[Cell | Row]) -> None:
    """Assign ``rank`` to every member of one comparable group (see the module docstring)."""
    eligible = []
    for m in members:
        reason = m.policy.ranked_reason or (UNRANKED_EMPTY if m.stats.episodes == 0 else None)
        if reason:
            m.rank = Rank(position=None, reason=reason)
        else:
            eligible.append(m)
    eligible.sort(key=lambda m: (-m.stats.success_rate, -m.stats.ci_low, -m.stats.episodes))
    if not eligible:
        return
    leader = eligible[0]
    size = len(eligible)
    leader.rank = Rank(
        position=1,
        leader=True,
        method="leader" if size > 1 else "the only ranked entry here",
        group_size=size,
    )
    for position, m in enumerate(eligible[1:], start=2):
        tied, p, method = compare_to_leader(leader.stats, m.stats)
        m.rank = Rank(
            position=1 if tied else position,
            tied=tied,
            p_value=p,
            method=method,
            group_size=size,
        )
    if any(m.rank.tied for m in eligible):
        leader.rank = Rank(
            position=1, leader=True, tied=True, method="leader (others tied)", group_size=size
        )


# -- building ------------------------------------------------------------------------------
def _merge(pieces: list[_Piece]) -> tuple[pd.DataFrame, list[RunSource], list[str]]:
    """Pool the pieces of one cell: newest run first, one episode per seed."""
    pieces = sorted(pieces, key=lambda p: (p.source.created, p.source.run_id), reverse=True)
    frames = []
    taken: set[Any] = set()
    notes: list[str] = []
    dropped = 0
    for piece in pieces:
        df = piece.episodes.copy()
        df["source_run"] = piece.source.root
        keys = [_seed_key(s, e) for s, e in zip(df["seed"], df["episode"], strict=True)]
        fresh = [k not in taken for k in keys]
        dropped += len(keys) - sum(fresh)
        taken.update(keys)
        frames.append(df[fresh])
    merged = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(pieces) > 1:
        notes.append(
            f"merged {len(pieces)} runs"
            + (f"; {dropped} repeated episode(s) taken from the newest run" if dropped else "")
        )
        hosts = {p.source.host for p in pieces}
        if len(hosts) > 1:
            notes.append("merged runs ran on different machines: latency mixes hosts")
    return merged, [p.source for p in pieces], notes


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
        rel = extra.get("video") if isinstance(extra, dict) else None
        if not rel:
            continue
        root = Path(str(row["source_run"])).resolve()
        path = (root / str(rel)).resolve()
        if not path.is_relative_to(root):
            notes.append(f"video path {rel!r} points outside its run directory: ignored")
            continue
        if path.is_file():
            found[kind] = Media(kind, path, int(row["episode"]), row["seed"], str(row["outcome"]))
    return [found[k] for k in ("success", "failure") if k in found]


def build(runs: Sequence[Run], problems: Sequence[str] = ()) -> Leaderboard:
    """The leaderboard of a set of loaded runs (``problems``: directories that failed to load)."""
    notes: list[str] = []
    sources: list[RunSource] = []
    pieces: dict[tuple[PolicyId, tuple[str, str, str]], list[_Piece]] = defaultdict(list)
    steps_of: dict[str, pd.DataFrame | None] = {}
    chunk_of: dict[str, float | None] = {}
    for run in runs:
        try:
            source = _source(run)
            sources.append(source)
            notes.extend(f"{run.root}: {n}" for n in run.notes)
            if run.episodes.empty:
                notes.append(f"{run.root}: no finished episodes yet; nothing to show")
                continue
            policy = _policy_id(run.meta)
            episodes = _normalise_episodes(run.episodes)
            steps = _steps_act(run, notes)
            steps_of[source.root] = steps
            chunk_of[source.root] = _chunk_length(steps)
            run_notes: list[str] = []
            for task, group in episodes.groupby("task", sort=True):
                info = _task_info(run.meta, str(task), run_notes)
                pieces[(policy, info.group_key)].append(_Piece(run, source, info, group))
            notes.extend(f"{run.root}: {n}" for n in run_notes)
        except Exception as exc:  # one malformed run must not take the whole report down
            notes.append(f"{run.root}: skipped, unreadable ({type(exc).__name__}: {exc})")

    cells: list[Cell] = []
    for (policy, _), group_pieces in pieces.items():
        info = max(group_pieces, key=lambda p: p.source.created).task
        merged, cell_sources, cell_notes = _merge(group_pieces)
        act = _act_seconds(merged, steps_of)
        k = policy.n_action_steps or _first(chunk_of.get(s.root) for s in cell_sources) or 1.0
        stats = compute_stats(
            merged,
            act,
            n_action_steps=float(k),
            has_ee=info.has_ee,
            control_hz=info.control_hz,
            track_versions={info.name: info.track_version},
        )
        cell = Cell(policy, info, merged, stats, cell_sources, notes=cell_notes, act_s=act)
        cell.media = _media(merged, cell.notes)
        cells.append(cell)

    task_groups = _task_groups(cells, notes)
    rows = _rows(cells, steps_of, notes)
    suite_groups = _suite_groups(rows, notes)
    order = {id(r): i for i, g in enumerate(suite_groups) for r in g.members}
    rows.sort(key=lambda r: (r.suite, order[id(r)], _rank_sort(r)))
    return Leaderboard(rows, task_groups, suite_groups, notes, list(problems), sources)


def _first(values: Any) -> Any:
    return next((v for v in values if v), None)


def _rank_sort(m: Cell | Row) -> tuple[float, float, str]:
    position = m.rank.position if m.rank.position is not None else math.inf
    rate = m.stats.success_rate if math.isfinite(m.stats.success_rate) else -1.0
    return (position, -rate, m.policy.name)


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


def _task_groups(cells: list[Cell], notes: list[str]) -> list[Group]:
    by_key: dict[tuple[str, str, str], list[Cell]] = defaultdict(list)
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
                f"task v{g.members[0].task.version}, track {g.members[0].task.track_version}: "
                + ", ".join(sorted({c.policy.name for c in g.members}))
                for g in versions
            )
            notes.append(
                f"task {task!r} was run on different task or track versions, which are ranked "
                f"separately (different episodes or a changed task are not comparable): {text}"
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
            track_versions={c.task.name: c.task.track_version for c in chosen},
        )
        rows.append(Row(policy, suite, chosen, stats, act_s=act))
    return rows


def _suite_groups(rows: list[Row], notes: list[str]) -> list[Group]:
    by_key: dict[tuple[str, tuple[tuple[str, str, str], ...]], list[Row]] = defaultdict(list)
    for row in rows:
        by_key[(row.suite, row.signature)].append(row)
    groups = []
    for (suite, signature), members in sorted(
        by_key.items(), key=lambda kv: (kv[0][0], -len(kv[1]))
    ):
        rank_group(members)
        members.sort(key=_rank_sort)
        tasks = ", ".join(f"{t} v{v}/track {tr}" for t, v, tr in signature)
        groups.append(Group("suite", f"{suite}: {tasks}", suite, members))
    by_suite: dict[str, list[Group]] = defaultdict(list)
    for g in groups:
        by_suite[g.suite].append(g)
    for suite, same in by_suite.items():
        if len(same) < 2:
            continue
        parts = "; ".join(
            ", ".join(sorted({r.policy.name for r in g.members}))
            + " on "
            + g.title.split(": ", 1)[1]
            for g in same
        )
        notes.append(
            f"suite {suite!r}: policies ran different tasks or versions of it, so they are ranked "
            f"in {len(same)} separate groups (success over different tasks is not comparable): "
            f"{parts}"
        )
        for g in same:
            g.note = (
                "Ranked only among policies that ran exactly these tasks and versions; "
                f"suite {suite!r} has {len(same)} such groups (see the notes)."
            )
    return groups
