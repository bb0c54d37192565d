"""The contract every task and policy obeys: specs, tracks, action chunks and the two protocols.

A *task* describes one unit of evaluation and makes a Gymnasium env per episode; a *policy*
turns observations into chunks of actions. Nothing here imports a simulator or a model.

Observation (what ``env.reset`` / ``env.step`` return as ``obs``) is a plain dict::

    {"images": {camera: HxWx3 uint8, row 0 at the top, RGB}, "state": float32[len(state_fields)],
     "instruction": str, ...task extras (e.g. "state_text" for language agents)}

``info`` (from ``reset`` and ``step``) carries ``success`` (bool) and, where the task has an
end effector, ``ee_pose`` (x, y, z, qw, qx, qy, qz in the world frame after the step) and
optionally ``ee_path`` (the end-effector positions at every physics substep of this control
step, ``(n, 3)``: smoothness is computed on it at the simulator's rate). ``reward`` is a finite
number. An env that detects an unstable simulation (NaN in qpos, objects flung away) returns
``terminated=True`` with ``info["failure"] = "<reason>"``; the episode is recorded as a sim
error. An env may implement ``episode_artifacts() -> dict[str, bytes]``: called once when an
episode ends, each item is stored beside the episode (e.g. body poses for a 3D replay).

How an episode runs (:mod:`harness.episode`, the same loop everywhere):

1. ``env = task.make_env(episode, render=...)``; ``obs, info = env.reset(seed=episode.seed)``.
2. ``policy.reset(task.spec, episode, env if privileged else None)``: a privileged policy (a
   scripted expert) gets the env object ``make_env`` returned, unwrapped, and may read its
   hidden state; no other policy ever sees it.
3. Until an end: the chunk executor asks ``policy.act(obs)`` for a chunk when its queue is
   empty and executes ``n_action_steps`` of its rows (the policy's, or ``--n-action-steps``),
   calling ``policy.observe(obs)`` on the steps served from the queue. Each executed action
   is one row of the chunk: a float64 array of shape ``(action_space.dim,)`` clipped to the
   space's bounds (clipping is counted), or, for a discrete space, the ``int`` index.
4. The episode ends at the first step whose ``info["success"]`` is true (success), when the
   env returns ``terminated`` (terminated, or sim error with ``info["failure"]``) or
   ``truncated``, or after ``spec.max_steps`` steps (timeout): the loop enforces the step
   limit; an env need not. Errors end it with a recorded reason (see
   ``harness.results.OUTCOMES``).

``describe()["weights"]`` says what the numbers are worth: ``pretrained`` (a published
checkpoint), ``trained`` / ``finetuned`` (made by ``bench train``), ``api`` (a hosted model),
``none`` (no learned weights: ``random``), all ranked; ``random`` (a full-size architecture with
random weights, for latency and memory) and ``scripted`` (privileged experts) are shown but
never ranked on success.

A task registered with ``registry.add_task(name, ..., suite=S)`` belongs to suite ``S``
(``--task S`` runs them all); ``TaskSpec.suite`` must equal it (checked when a run is
planned). A suite belongs to the plugin that first registered it: another plugin cannot add
tasks to it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import gymnasium

Observation = dict[str, Any]


@dataclass(frozen=True)
class ActionSpace:
    """A named action space with documented semantics, not a guessed box.

    ``names`` are the per-dimension field names of a continuous space, or the action names
    of a discrete one (``discrete=True``: an action is one integer index into ``names``).

    ``hold`` is what the env executes while a chunk is being computed under latency-aware
    timing (``bench run --timing``; see :mod:`harness.latency`): one entry per dimension (one
    for a discrete space), a number to send, or None to repeat the previous executed value.
    Delta spaces declare 0 for their deltas (0 = stay) and None for absolute dimensions such
    as a gripper command; a discrete space declares its no-op index. Undeclared (``()``), every
    dimension repeats the previous action. Before the first action of an episode, a None entry
    takes the value :meth:`noop` gives. The hold rule is not part of a task's fingerprint: it
    changes nothing a policy sees or a synchronous run does.
    """

    name: str
    names: tuple[str, ...]
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()
    discrete: bool = False
    description: str = ""
    hold: tuple[float | None, ...] = ()

    @property
    def dim(self) -> int:
        """Width of one action row: 1 for a discrete space, else the number of fields."""
        return 1 if self.discrete else len(self.names)

    def __post_init__(self) -> None:
        if not self.discrete and not (len(self.low) == len(self.high) == len(self.names)):
            raise ValueError(
                f"action space {self.name!r}: low, high and names must have one entry per "
                f"dimension (got {len(self.low)}, {len(self.high)}, {len(self.names)})"
            )
        hold = tuple(None if v is None else float(v) for v in self.hold)
        object.__setattr__(self, "hold", hold)  # a list read from JSON becomes a tuple
        if hold and len(hold) != self.dim:
            raise ValueError(
                f"action space {self.name!r}: hold needs one entry per dimension ({self.dim}), "
                f"got {len(hold)}"
            )

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One uniformly random action of shape ``(dim,)``."""
        if self.discrete:
            return np.array([rng.integers(len(self.names))], dtype=np.float64)
        return rng.uniform(np.asarray(self.low), np.asarray(self.high))

    def noop(self) -> np.ndarray:
        """The action that does nothing: index 0 of a discrete space, zeros (clipped) else."""
        if self.discrete:
            return np.zeros(1)
        return np.clip(np.zeros(self.dim), self.low, self.high)

    def hold_action(self, previous: np.ndarray | None) -> np.ndarray:
        """The row to execute while a chunk is in flight, after ``previous`` (the last executed
        row, None at the start of an episode); see ``hold``."""
        base = self.noop() if previous is None else np.asarray(previous, dtype=np.float64)
        if not self.hold:
            return base.copy()
        declared = np.array([math.nan if v is None else v for v in self.hold])
        return np.where(np.isnan(declared), base, declared)


EE_DELTA_7D = ActionSpace(
    name="ee_delta_7d",
    names=("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper"),
    low=(-1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0),
    high=(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
    description=(
        "End-effector delta in the world frame, OpenVLA's convention: dx, dy, dz in metres, "
        "droll, dpitch, dyaw in radians, gripper in [-1 open, +1 closed]. A task narrows the "
        "bounds to its per-step limits."
    ),
    hold=(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, None),  # stay where it is, gripper as commanded last
)
"""The reference ``ee_delta_7d`` space; tasks copy it with their own bounds via ``with_bounds``."""


def with_bounds(space: ActionSpace, low: Sequence[float], high: Sequence[float]) -> ActionSpace:
    """A copy of ``space`` with other per-dimension limits (same name and semantics)."""
    return dataclasses.replace(space, low=tuple(map(float, low)), high=tuple(map(float, high)))


@dataclass(frozen=True)
class TaskSpec:
    """What a policy may know about a task before it acts: everything but the hidden state."""

    name: str
    version: str
    suite: str
    instruction: str
    control_hz: float
    max_steps: int
    action_space: ActionSpace
    state_fields: tuple[str, ...]
    cameras: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    has_ee_pose: bool = False
    description: str = ""

    @property
    def smoothness_applies(self) -> bool:
        """Smoothness means something only for a continuous space driving an end effector."""
        return self.has_ee_pose and not self.action_space.discrete


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode of a track: its index and the seed that fixes its initial state."""

    index: int
    seed: int
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Track:
    """The fixed, versioned list of episodes every policy is scored on, so results pair up."""

    task: str
    version: str
    episodes: tuple[EpisodeSpec, ...]

    def head(self, n: int | None) -> Track:
        """The first ``n`` episodes (all when ``n`` is None)."""
        if n is None:
            return self
        if n > len(self.episodes):
            raise ValueError(
                f"track {self.task}@{self.version} has {len(self.episodes)} episodes; "
                f"asked for {n} (pass --episodes {len(self.episodes)} or fewer)"
            )
        return dataclasses.replace(self, episodes=self.episodes[:n])


def seeded_track(task: str, version: str, n: int, base_seed: int) -> Track:
    """A track of ``n`` episodes with seeds ``base_seed + i``: simple, stable, documented."""
    return Track(task, version, tuple(EpisodeSpec(i, base_seed + i) for i in range(n)))


@runtime_checkable
class Task(Protocol):
    """A named, versioned unit of evaluation (see the module docstring for obs and info).

    A task may also declare ``robot_type``, the embodiment its episodes show under LeRobot's
    name for it (``"panda"``, ``"sawyer"``, ...): datasets recorded from the task
    (``bench run --record``, ``bench demos``) carry it in their metadata.
    """

    spec: TaskSpec

    def track(self) -> Track:
        """The default track this task is scored on."""
        ...

    def make_env(self, episode: EpisodeSpec, *, render: bool = True) -> gymnasium.Env:
        """A fresh env for one episode; ``env.reset(seed=episode.seed)`` fixes its start.

        With ``render=False`` the env may leave ``images`` empty (for policies that need no
        pixels, e.g. scripted experts), which must not change the physics.
        """
        ...


@dataclass
class ActionChunk:
    """What ``Policy.act`` returns: ``T x D`` actions and what the backend knows about them.

    ``actions`` rows are in the task's action space (for discrete spaces, ``D == 1`` holding
    the action index). ``model_time_s`` is the time inside the model (device-synchronised);
    the runner measures the round trip itself. ``decode_failures`` counts actions the backend
    could not decode and replaced (they are not silently turned into numbers).
    """

    actions: np.ndarray
    model_time_s: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    decode_failures: int = 0
    peak_memory_bytes: int | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        actions = np.asarray(self.actions, dtype=np.float64)
        if actions.ndim == 1:
            actions = actions[None, :]
        self.actions = actions


class PolicyConfigError(ValueError):
    """A policy cannot be built from its config (bad option, missing key, unusable checkpoint).

    Raise it from a factory with a message that names the problem and the fix; the CLI prints
    it as a one-line error and leaves no run directory behind.
    """


class BudgetExceeded(RuntimeError):
    """Raised by a policy whose spending limit (e.g. ``max_cost``) is reached.

    The runner stops the whole run cleanly: finished episodes are kept, the interrupted one is
    not recorded, and the run is marked ``stopped`` with this message.
    """


@dataclass(frozen=True)
class PolicyConfig:
    """How a policy is built: the same fields for every backend, plus backend options."""

    name: str
    checkpoint: str | None = None
    device: str = "cpu"
    dtype: str | None = None
    seed: int = 0
    options: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def parse_args(name: str, text: str | None, seed: int = 0) -> PolicyConfig:
        """Parse ``--policy-args k=v,k=v``: checkpoint/device/dtype are fields, the rest options."""
        fields: dict[str, Any] = {}
        options: dict[str, str] = {}
        for key, value in parse_key_values(text, "--policy-args").items():
            if key in ("checkpoint", "device", "dtype"):
                fields[key] = value
            else:
                options[key] = value
        return PolicyConfig(name=name, seed=seed, options=options, **fields)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy for provenance."""
        return {**dataclasses.asdict(self), "options": dict(self.options)}


def parse_key_values(text: str | None, flag: str) -> dict[str, str]:
    """Parse ``k=v,k=v`` (the syntax of ``--policy-args`` and ``--task-args``)."""
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} item {item!r} is not key=value (e.g. {flag} a=1,b=2)")
        out[key.strip()] = value.strip()
    return out


class Policy(Protocol):
    """Turns observations into action chunks. Made by a factory ``f(config) -> Policy``.

    The core is two methods, as small as openpi's client policy: ``reset`` starts an episode,
    ``act`` answers one observation with a chunk. The rest is optional (see
    :class:`PolicyBase` for defaults): ``observe(obs)`` sees the observations of steps served
    from a queued chunk; ``describe()`` says what a leaderboard row needs (``checkpoint``,
    ``weights`` kind, parameters, ...); ``close()`` releases memory and connections.

    Traits. Which action spaces a policy drives and whether it is privileged (reads the
    simulator's hidden state) are declared once, at registration (``registry.add_policy(...,
    action_spaces=..., privileged=...)``); a class that also states them is checked against
    the registration when loaded. Attributes a built policy may set: ``n_action_steps``
    (actions of a chunk executed before asking again; None: the whole chunk),
    ``warmup_calls`` (untimed ``act`` calls before the first episode; 0 for paid APIs),
    ``uses_images`` (False lets the runner skip rendering), ``spending`` (the run's
    :class:`Spending` ledger, handed over by the runner; a policy with a budget reads it).
    """

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: gymnasium.Env | None) -> None:
        """Start an episode (clear queues and history; reseed from ``episode.seed``)."""
        ...

    def act(self, observation: Observation) -> ActionChunk:
        """The next chunk of actions for this observation."""
        ...


@runtime_checkable
class SharedPolicy(Policy, Protocol):
    """A policy whose loaded model can serve several episodes at once (one policy host).

    ``fork()`` returns a *session*: a policy object sharing this one's model, with its own
    episode state (observation history, sampling RNG, conversation). ``act_batch`` answers
    several sessions' observations in one call (one forward pass); called on the policy that
    forked them, its answers must not depend on which sessions share a batch, and when it
    raises it must leave every session as it was (the host then asks each session alone, to
    charge the error to the right one). Policies that do not implement it can still share a
    model: the host then calls each session's ``act``.
    """

    def fork(self) -> Policy:
        """A new session sharing this policy's model."""
        ...


def act_each(sessions: Sequence[Policy], observations: Sequence[Observation]) -> list[ActionChunk]:
    """The default ``act_batch``: each session answers its own observation."""
    return [s.act(o) for s, o in zip(sessions, observations, strict=True)]


class Spending:
    """USD one ``bench run`` has spent so far, summed over all its processes.

    The runner owns it: the chunk executor adds every chunk's ``cost_usd`` as the chunk comes
    back, and the runner hands the same ledger to the policy as ``policy.spending``. A policy
    with a budget (``max_cost``) checks ``spending.usd`` before each paid call, so the budget
    holds for the whole invocation however many worker processes run, overshooting by at most
    one call per process. Across processes the ledger is a shared array of doubles
    (``multiprocessing`` shared memory, inherited or passed to worker processes): each
    process adds to its own slot (no lock), readers sum them.
    """

    def __init__(self, slots: int = 1) -> None:
        from multiprocessing.sharedctypes import RawArray

        self._cells: Any = RawArray("d", max(1, slots))
        self._slot = 0

    def for_slot(self, slot: int) -> Spending:
        """The same ledger, adding to ``slot`` (one per process that spends)."""
        if not 0 <= slot < len(self._cells):
            raise ValueError(f"spending slot {slot} out of range")
        view = Spending.__new__(Spending)
        view._cells, view._slot = self._cells, slot
        return view

    @property
    def usd(self) -> float:
        """Spent so far in this run, all processes."""
        return float(sum(self._cells))

    def add(self, usd: float) -> None:
        """Record ``usd`` more spent (a chunk's ``cost_usd``)."""
        if usd:
            self._cells[self._slot] += usd

    @property
    def mine(self) -> float:
        """What this view's own slot has spent."""
        return float(self._cells[self._slot])

    def replace_slot(self, slot: int, usd: float) -> None:
        """Set ``slot`` to ``usd``: how a Ray actor learns what the rest of the run, on other
        machines, has spent (the driver tells it with each episode)."""
        self._cells[slot] = usd


class PolicyBase:
    """Sensible defaults for the optional parts of the Policy protocol."""

    n_action_steps: int | None = None
    warmup_calls: int = 1
    uses_images: bool = True

    def __init__(self, config: PolicyConfig) -> None:
        self.config = config
        # What the whole run has spent; the runner replaces it with the run's shared ledger.
        self.spending = Spending()

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: gymnasium.Env | None) -> None:
        """Nothing to clear by default."""

    def observe(self, observation: Observation) -> None:
        """No observation history by default."""

    def describe(self) -> dict[str, Any]:
        """Checkpoint and weights kind from the config."""
        return {
            "checkpoint": self.config.checkpoint,
            "weights": self.config.options.get(
                "weights", "pretrained" if self.config.checkpoint else "none"
            ),
        }

    def close(self) -> None:
        """Nothing to release by default."""


def supports(policy_spaces: Sequence[str], space: ActionSpace) -> bool:
    """Whether a policy declaring ``policy_spaces`` can drive ``space``."""
    return (
        "*" in policy_spaces
        or space.name in policy_spaces
        or (space.discrete and "discrete" in policy_spaces)
    )
