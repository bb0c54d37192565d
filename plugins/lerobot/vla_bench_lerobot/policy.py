"""vla-bench policies backed by LeRobot: SmolVLA, π0, π0.5, π0-FAST, Diffusion Policy, ACT.

``--policy-args`` (fields ``checkpoint``, ``device``, ``dtype`` plus these options):

``weights=pretrained|random``
    ``pretrained`` (default) loads ``checkpoint`` (hub id or local directory; each named
    backend has a default hub id). ``random`` builds the architecture at full size with random
    weights for the task's features, for latency and memory profiling; its actions mean nothing
    and results say ``weights: random``. A checkpoint ``bench train`` wrote (it carries a
    ``training.json``) is reported as ``weights: trained`` (from scratch) or ``finetuned``.
``camera_map``, ``state_map``, ``action_map``
    explicit feature mapping (see :mod:`vla_bench_lerobot.adapter`).
``stats=<stats.json>``
    normalisation statistics for a checkpoint saved without them.
``vlm=<dir>``, ``tokenizer=<dir>``, ``action_tokenizer=<dir>``
    local copies of the hub files LeRobot loads besides the checkpoint (SmolVLM2 config and
    processor; PaliGemma tokenizer; FAST tokenizer).
``n_action_steps=<k>``
    how many actions of each chunk the runner executes (default: the checkpoint's). It is set on
    the LeRobot config before the model is built, as ``lerobot-eval --policy.n_action_steps``
    does (Diffusion Policy predicts that many); more than one call predicts is refused.
``temporal_ensemble_coeff=<c>|none``
    ACT's temporal ensembling (default: the checkpoint's): every step calls the model and
    executes the exponentially weighted mean of all chunks' predictions for that step, with
    LeRobot's own ensembler, reset per episode; it implies ``n_action_steps=1``.

``act`` returns the whole chunk that LeRobot's ``predict_action_chunk`` produces (not one
queued action), or with temporal ensembling the one ensembled action. ``model_time_s`` is that
call, device-synchronised; pre/post processing time is in ``info``. Seeds: ``reset`` seeds
torch from ``--seed`` and the episode seed, so the noise of flow-matching/diffusion sampling is
reproducible. On CUDA the model call runs as ``lerobot-eval`` runs it: TF32 matmuls, and
autocast when the checkpoint's ``use_amp`` is set (``describe()["precision"]``).

One class serves every registered name: the name picks the backend (:data:`BACKENDS`). Every
problem a user can fix raises :class:`~harness.contract.PolicyConfigError` with the fix.

**One model, many episodes.** ``fork()`` gives a session that shares the loaded model (one copy
in memory whatever the number of env workers; ``weights=random`` models are built once per
task feature set and shared too) with its own observation history, adapter and sampling RNG.
``act_batch`` answers several sessions with one ``predict_action_chunk`` on the stacked batch
for ACT without temporal ensembling, the backend whose forward pass is deterministic: each
session gets what it would get alone, to float rounding of a batched matmul. The sampling
backends (SmolVLA, π0, π0.5, π0-FAST, Diffusion Policy) answer a batch session by session,
each drawing its noise from its own RNG, so an episode's actions never depend on which other
episodes share the batch; batched sampling with per-session noise is not done yet. With
temporal ensembling LeRobot keeps the ensembler inside the model object, so a session gets a
copy of the model of its own.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import difflib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from harness.contract import (
    ActionChunk,
    EpisodeSpec,
    Observation,
    PolicyBase,
    PolicyConfig,
    PolicyConfigError,
    TaskSpec,
    act_each,
)
from vla_bench_lerobot.adapter import Adapter, PolicyFeatures, build_adapter
from vla_bench_lerobot.backends import BACKENDS
from vla_bench_lerobot.loading import (
    Built,
    apply_execution,
    build_random,
    check_device,
    load_pretrained,
    positive_int_option,
)
from vla_bench_lerobot.plugin import ACTION_SPACES

if TYPE_CHECKING:
    import gymnasium

OPTIONS = frozenset(
    {
        "weights",
        "camera_map",
        "state_map",
        "action_map",
        "stats",
        "vlm",
        "tokenizer",
        "action_tokenizer",
        "n_action_steps",
        "temporal_ensemble_coeff",
    }
)
FIELDS = ("checkpoint", "device", "dtype")
WEIGHTS = ("pretrained", "random")


def _check_options(backend: str, options: dict[str, str]) -> None:
    """Unknown ``--policy-args`` keys are an error with the closest known one."""
    known = sorted({*FIELDS, *OPTIONS})
    for key in sorted(set(options) - OPTIONS):
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" — did you mean {close[0]!r}?" if close else ""
        raise PolicyConfigError(
            f"unknown --policy-args {key!r} for {backend}{hint} (known: {', '.join(known)})"
        )


class LeRobotPolicy(PolicyBase):
    """A LeRobot policy behind the vla-bench Policy protocol; ``config.name`` (the registered
    name) picks the backend."""

    action_spaces: ClassVar[tuple[str, ...]] = ACTION_SPACES
    warmup_calls = 1

    def __init__(self, config: PolicyConfig, built: Built | None = None) -> None:
        """Load ``config.checkpoint`` (or prepare ``weights=random``); ``built`` wraps a policy
        already in memory instead (e.g. straight from training), skipping any loading."""
        super().__init__(config)
        if config.name not in BACKENDS:
            raise PolicyConfigError(
                f"{config.name!r} is not a LeRobot backend ({', '.join(BACKENDS)}); register "
                f"the name with the backend it stands for"
            )
        self.backend = BACKENDS[config.name]
        _check_options(self.backend.name, dict(config.options))
        self.options = dict(config.options)
        self.weights = self.options.get("weights", "pretrained")
        if self.weights not in WEIGHTS:
            raise PolicyConfigError(f"weights={self.weights!r} is not one of {WEIGHTS}")
        if built is not None:
            self.weights = built.weights
        self.device = check_device(config.device)
        self._built = built
        # weights=random is built per task (its features come from the task) at reset
        self._builds_itself = built is None and self.weights == "random"
        self._built_for: tuple[Any, ...] | None = None
        self._adapter: Adapter | None = None
        self._history: collections.deque[dict[str, Any]] = collections.deque()
        self._observed = False
        self._rng: list[Any] = []
        # weights=random models by task feature set, shared with every fork() session
        self._random_models: dict[tuple[Any, ...], Built] = {}
        if self._built is None and self.weights == "random":
            if config.checkpoint:
                raise PolicyConfigError(
                    "weights=random builds the architecture from data shipped with the plugin; "
                    "drop checkpoint= (or drop weights=random to load the checkpoint)"
                )
        elif self._built is None:
            reference = config.checkpoint or self.backend.default_checkpoint
            if reference is None:
                raise PolicyConfigError(
                    f"--policy {self.backend.name} needs checkpoint=<hub id or local dir>"
                )
            self._built = load_pretrained(
                self.backend, reference, self.device, config.dtype, self.options
            )
            # "trained" or "finetuned" when `bench train` made the checkpoint
            self.weights = self._built.weights
        elif "temporal_ensemble_coeff" in self.options:
            raise PolicyConfigError(
                "temporal_ensemble_coeff is set when a checkpoint is loaded (the ensembler is "
                "built with the model); save the policy and load it with checkpoint="
            )
        else:
            apply_execution(self._built.config, self.options)
        self.n_action_steps = self._action_steps()

    def _action_steps(self) -> int | None:
        """Actions executed per call: the LeRobot config's (options are applied to it)."""
        if self._built is not None:
            return int(self._built.config.n_action_steps)
        if self.options.get("temporal_ensemble_coeff", "none").strip().lower() != "none":
            return 1
        steps = positive_int_option(self.options, "n_action_steps")
        default = (self.backend.random_config or {}).get("n_action_steps")
        return steps if steps is not None else default

    @property
    def _ensembling(self) -> bool:
        """ACT with temporal ensembling: one ensembled action per model call."""
        config = self._built.config if self._built else None
        return getattr(config, "temporal_ensemble_coeff", None) is not None

    # -- Policy protocol ---------------------------------------------------------------------
    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: gymnasium.Env | None) -> None:
        """Build (random weights) or check the policy against ``task``; clear history; seed."""
        import torch

        if self._builds_itself:
            signature = (tuple(task.cameras.items()), task.state_fields, task.action_space.dim)
            if self._built is None or self._built_for != signature:
                built = self._random_models.get(signature)
                if built is None:
                    torch.manual_seed(self.config.seed)
                    built = build_random(
                        self.backend, task, self.device, self.config.dtype, options=self.options
                    )
                    self._random_models[signature] = built
                self._built = built
                self._built_for = signature
                self.n_action_steps = self._action_steps()
        assert self._built is not None
        features = PolicyFeatures.of(self._built.config, self._built.training)
        self._adapter = build_adapter(task, features, self.options, self._built.source)
        self._built.policy.reset()
        self._history.clear()
        self._observed = False
        seed = int(np.random.SeedSequence([self.config.seed, episode.seed]).generate_state(1)[0])
        with torch.random.fork_rng(devices=self._cuda_devices()):
            torch.manual_seed(seed)
            self._rng = self._rng_state()

    def observe(self, observation: Observation) -> None:
        """Record an observation the runner did not ask an action for (queued steps).

        Only policies that condition on several past observations (Diffusion Policy's
        ``n_obs_steps = 2``) use it; without these calls their history is the current
        observation repeated, as LeRobot does at an episode's start.
        """
        if self._n_obs_steps > 1:
            self._observed = True
            self._remember(observation)

    def act(self, observation: Observation) -> ActionChunk:
        """The policy's whole predicted chunk for this observation, in the task's action space."""
        import torch

        built = self._ready()[0]
        t0 = time.perf_counter()
        batch = self._model_input(observation)
        cuda = self.device.startswith("cuda")
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        _synchronize(self.device)
        t1 = time.perf_counter()
        with (
            torch.random.fork_rng(devices=self._cuda_devices()),
            _count_decode_failures() as failures,
            torch.inference_mode(),
            self._precision(),
        ):
            self._set_rng_state(self._rng)
            if self._ensembling:
                # LeRobot's ensembler (reset per episode by policy.reset) folds this call's
                # chunk into the running weighted mean and returns this step's action.
                chunk = built.policy.select_action(batch)[:, None]
            else:
                chunk = built.policy.predict_action_chunk(batch)
            self._rng = self._rng_state()
        _synchronize(self.device)
        t2 = time.perf_counter()
        actions = built.postprocessor(chunk)
        array = actions.detach().to("cpu", torch.float64).numpy()[0]
        mapped = self._task_actions(array)
        t3 = time.perf_counter()
        return ActionChunk(
            actions=mapped,
            model_time_s=t2 - t1,
            decode_failures=failures.count,
            peak_memory_bytes=int(torch.cuda.max_memory_allocated(self.device)) if cuda else None,
            info={"preprocess_s": t1 - t0, "postprocess_s": t3 - t2, "chunk_len": len(mapped)},
        )

    def fork(self) -> LeRobotPolicy:
        """A session sharing this policy's model, with episode state of its own (see the
        module docstring; with temporal ensembling the session's model is a copy)."""
        twin = copy.copy(self)
        twin._adapter = None
        twin._history = collections.deque()
        twin._observed = False
        twin._rng = []
        if self._ensembling and self._built is not None:
            twin._built = copy.deepcopy(self._built)
        return twin

    def act_batch(
        self, sessions: list[LeRobotPolicy], observations: list[Observation]
    ) -> list[ActionChunk]:
        """The sessions' chunks for their observations: one forward pass for ACT (without
        ensembling), else each session alone. Raises without touching any session's state."""
        if not sessions:
            return []
        if len(sessions) == 1 or not all(s._batchable for s in sessions):
            return act_each(sessions, observations)
        built = sessions[0]._ready()[0]
        if any(s._built is not built for s in sessions):
            return act_each(sessions, observations)  # different task features: other models
        return self._act_stacked(built, sessions, observations)

    @property
    def _batchable(self) -> bool:
        """Whether this session's answer can come from a stacked forward pass unchanged."""
        built = self._built
        return built is not None and built.config.type == "act" and not self._ensembling

    def _act_stacked(
        self, built: Built, sessions: list[LeRobotPolicy], observations: list[Observation]
    ) -> list[ActionChunk]:
        import torch

        t0 = time.perf_counter()
        # Preprocess without touching the sessions: ACT reads one observation, no history.
        inputs = [s._preprocess(o) for s, o in zip(sessions, observations, strict=True)]
        batch = {
            key: torch.cat([i[key] for i in inputs]) if torch.is_tensor(value) else value
            for key, value in inputs[0].items()
        }
        _synchronize(self.device)
        t1 = time.perf_counter()
        with torch.inference_mode(), self._precision():
            chunk = built.policy.predict_action_chunk(batch)
        _synchronize(self.device)
        t2 = time.perf_counter()
        rows = built.postprocessor(chunk).detach().to("cpu", torch.float64).numpy()
        out = [s._task_actions(row) for s, row in zip(sessions, rows, strict=True)]
        t3 = time.perf_counter()
        info = {"preprocess_s": t1 - t0, "postprocess_s": t3 - t2}
        return [
            ActionChunk(
                actions=mapped,
                model_time_s=t2 - t1,
                info={**info, "chunk_len": len(mapped)},
            )
            for mapped in out
        ]

    def describe(self) -> dict[str, Any]:
        """Checkpoint, weights kind, parameter count and the LeRobot configuration in use."""
        out: dict[str, Any] = {
            "checkpoint": self._built.source if self._built else f"random:{self.backend.name}",
            "weights": self.weights,
            "backend": self.backend.name,
            "device": self.device,
            "dtype": self.config.dtype or "float32",
        }
        if self._built is not None:
            config = self._built.config
            out.update(
                parameters=sum(p.numel() for p in self._built.policy.parameters()),
                lerobot_type=config.type,
                chunk_size=getattr(config, "chunk_size", getattr(config, "horizon", None)),
                n_action_steps=self.n_action_steps,
                n_obs_steps=config.n_obs_steps,
                temporal_ensemble_coeff=getattr(config, "temporal_ensemble_coeff", None),
                dtype=getattr(config, "dtype", "float32"),
                precision=self._precision_settings(),
                **{k: v for k, v in self._built.notes.items() if k != "parameters"},
            )
            if self._built.digest is not None:
                out.update(self._built.digest.describe())
        with contextlib.suppress(ImportError):
            import lerobot

            out["lerobot_version"] = lerobot.__version__
        return out

    def close(self) -> None:
        """Drop the model (and free accelerator memory)."""
        self._built = None
        self._adapter = None
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    # -- internals ---------------------------------------------------------------------------
    def _precision_settings(self) -> dict[str, bool]:
        """What ``lerobot-eval`` would set: on CUDA TF32 matmuls, autocast with ``use_amp``."""
        cuda = self.device.startswith("cuda")
        use_amp = bool(getattr(self._built.config, "use_amp", False)) if self._built else False
        return {"tf32_matmul": cuda, "autocast": cuda and use_amp, "checkpoint_use_amp": use_amp}

    @contextlib.contextmanager
    def _precision(self) -> Iterator[None]:
        """The model call's precision, as ``lerobot-eval`` runs it (CUDA only; restored after,
        since the TF32 switch is process-wide)."""
        settings = self._precision_settings()
        if not settings["tf32_matmul"]:
            yield
            return
        import torch

        saved = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            if settings["autocast"]:
                with torch.autocast(device_type="cuda"):
                    yield
            else:
                yield
        finally:
            torch.backends.cuda.matmul.allow_tf32 = saved

    # Sampling noise (flow matching, diffusion) comes from torch's global generator. Each
    # policy keeps its own generator state and swaps it in around the model call, so its
    # actions depend only on its seeds, not on other code drawing random numbers.
    def _cuda_devices(self) -> list[int]:
        import torch

        if not self.device.startswith("cuda"):
            return []
        return [torch.device(self.device).index or 0]

    def _rng_state(self) -> list[Any]:
        import torch

        return [torch.get_rng_state()] + [torch.cuda.get_rng_state(d) for d in self._cuda_devices()]

    def _set_rng_state(self, state: list[Any]) -> None:
        import torch

        torch.set_rng_state(state[0])
        for device, cuda_state in zip(self._cuda_devices(), state[1:], strict=True):
            torch.cuda.set_rng_state(cuda_state, device)

    @property
    def _n_obs_steps(self) -> int:
        return int(self._built.config.n_obs_steps) if self._built else 1

    def _ready(self) -> tuple[Built, Adapter]:
        if self._built is None or self._adapter is None:
            raise RuntimeError("reset(task, ...) must come before act()")
        return self._built, self._adapter

    def _preprocess(self, observation: Observation) -> dict[str, Any]:
        """``observation`` as the model's preprocessed batch of one."""
        built, adapter = self._ready()
        processed: dict[str, Any] = built.preprocessor(adapter.batch(observation))
        return processed

    def _task_actions(self, array: np.ndarray) -> np.ndarray:
        """One chunk of model actions (postprocessed) in the task's action space, refused if it
        holds fewer than the ``n_action_steps`` the runner will execute."""
        mapped = self._ready()[1].actions(array)
        if self.n_action_steps is not None and len(mapped) < self.n_action_steps:
            raise RuntimeError(
                f"the model returned {len(mapped)} actions, fewer than n_action_steps="
                f"{self.n_action_steps}"
            )
        return mapped

    def _remember(self, observation: Observation) -> dict[str, Any]:
        processed = self._preprocess(observation)
        self._history.append(processed)
        while len(self._history) > self._n_obs_steps:
            self._history.popleft()
        return processed

    def _model_input(self, observation: Observation) -> dict[str, Any]:
        """The preprocessed batch, with an observation-time axis for multi-step policies."""
        import torch

        n = self._n_obs_steps
        if not self._observed:
            self._history.clear()
        current = self._remember(observation)
        if n == 1:
            return current
        frames = list(self._history)
        frames = [frames[0]] * (n - len(frames)) + frames
        stacked = dict(current)
        adapter = self._ready()[1]
        for key in [*adapter.cameras, "observation.state"]:
            if key in current:
                stacked[key] = torch.stack([f[key] for f in frames], dim=1)
        return stacked


def _synchronize(device: str) -> None:
    """Wait for queued kernels so wall-clock timings cover the work (CUDA and MPS run async)."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    elif device == "mps":
        torch.mps.synchronize()


class _FailureCount(logging.Handler):
    """Counts LeRobot's "Error decoding tokens" warnings (π0-FAST replaces those chunks by 0)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Error decoding tokens"):
            self.count += 1


@contextlib.contextmanager
def _count_decode_failures() -> Iterator[_FailureCount]:
    handler = _FailureCount()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
