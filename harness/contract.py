"""The contract every task and policy obeys: specs, tracks, action chunks and the two protocols.

A *task* describes one unit of evaluation and makes a Gymnasium env per episode; a *policy*
turns observations into chunks of actions. Nothing here imports a simulator or a model.

Observation (what ``env.reset`` / ``env.step`` return as ``obs``) is a plain dict::

    {"images": {camera: HxWx3 uint8}, "state": float32[len(state_fields)],
     "instruction": str, ...task extras (e.g. "state_text" for language agents)}

``info`` from ``env.step`` carries ``success`` (bool) and, where the task has an end effector,
``ee_pose`` (x, y, z, qw, qx, qy, qz in the world frame) for the smoothness metrics.
An env that detects an unstable simulation (NaN in qpos, objects flung away) returns
``terminated=True`` with ``info["failure"] = "<reason>"``; the runner records a sim error.
An env clips an out-of-range action itself only as a last resort: the runner clips and counts
first, so envs receive in-range actions. NaN or wrong-shaped actions make ``env.step`` raise
``ValueError`` with a message naming the expected shape.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import gymnasium

Observation = dict[str, Any]


@dataclass(frozen=True)
class ActionSpace:
    """A named action space with documented semantics, not a guessed box.

    ``names`` are the per-dimension field names of a continuous space, or the action names
    of a discrete one (``discrete=True``: an action is one integer index into ``names``).
    """

    name: str
    names: tuple[str, ...]
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()
    discrete: bool = False
    description: str = ""

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
    """A named, versioned unit of evaluation (see the module docstring for obs and info)."""

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

    ``action_spaces`` lists the action-space names the policy can drive (``"*"`` for any).
    ``n_action_steps`` is how many actions of a chunk the runner executes before asking again
    (None: the whole chunk). ``warmup_calls`` is how many untimed ``act`` calls the runner
    makes before the first episode (0 for pay-per-call APIs). A policy with
    ``privileged = True`` (a scripted expert) is handed the env at reset and may read its
    hidden state; its results say so. ``uses_images = False`` lets the runner skip rendering.
    """

    action_spaces: ClassVar[tuple[str, ...]]
    n_action_steps: int | None
    warmup_calls: int
    privileged: bool
    uses_images: bool

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: gymnasium.Env | None) -> None:
        """Start an episode (clear queues and history; reseed from ``episode.seed``)."""
        ...

    def act(self, observation: Observation) -> ActionChunk:
        """The next chunk of actions for this observation."""
        ...

    def observe(self, observation: Observation) -> None:
        """See an observation without acting (steps executed from a queued chunk).

        Policies with an observation history (Diffusion Policy's last two frames) keep it
        current here; the default ignores it.
        """
        ...

    def describe(self) -> dict[str, Any]:
        """What a leaderboard row needs: ``checkpoint``, ``weights`` kind, parameters, ..."""
        ...

    def close(self) -> None:
        """Release what the policy holds (model memory, connections)."""
        ...


class Spending:
    """USD one ``bench run`` has spent so far, summed over all its worker processes.

    The runner owns it: it adds every chunk's ``cost_usd`` as the chunk comes back, and gives
    the same ledger to the policy in each worker as ``policy.spending``. A policy with a budget
    (``max_cost``) checks ``spending.usd`` before each paid call, so the budget holds for the
    whole invocation however many workers run, overshooting by at most one call per worker.
    """

    def __init__(self, shared: Any = None) -> None:
        # ``shared``: a multiprocessing ``Value("d")`` the workers inherit; None: this process.
        self._shared = shared
        self._local = 0.0

    @classmethod
    def across_processes(cls, context: Any) -> Spending:
        """A ledger that worker processes started from ``context`` add to and read."""
        return cls(context.Value("d", 0.0))

    @property
    def usd(self) -> float:
        """Spent so far in this run, all workers."""
        return float(self._shared.value) if self._shared is not None else self._local

    def add(self, usd: float) -> None:
        """Record ``usd`` more spent (a chunk's ``cost_usd``)."""
        if not usd:
            return
        if self._shared is None:
            self._local += usd
            return
        with self._shared.get_lock():
            self._shared.value += usd

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled into spawned workers as the shared value itself (a plain copy would fork it).
        return (Spending, (self._shared,))


class PolicyBase:
    """Sensible defaults for the optional parts of the Policy protocol."""

    action_spaces: ClassVar[tuple[str, ...]] = ("*",)
    n_action_steps: int | None = None
    warmup_calls: int = 1
    privileged: bool = False
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
