"""``--policy-args`` of the ``openpi`` client: which server, and how it wants its data.

``url=ws://host:port`` (required) names the server. How observations and actions are laid out
comes from a preset, adjusted by explicit options:

=================  ===========  ===========================  ==============================
option             vla_bench    libero                       droid
=================  ===========  ===========================  ==============================
images             (our dict)   observation/image:main +     observation/exterior_image_1_left
                                observation/wrist_image:     :main + observation/
                                wrist                        wrist_image_left:wrist
state              (our dict)   observation/state            observation/joint_position:7 +
                                                             observation/gripper_position:1
prompt             instruction  prompt                       prompt
flip               none         180                          none
resize             none         224                          224
gripper            same         same                         unit
n_action_steps     server's     5 (openpi's replan_steps)    8 (openpi's open_loop_horizon)
=================  ===========  ===========================  ==============================

Without ``preset``, a vla-bench server (``bench serve``) gets ``vla_bench`` and any other server
needs a preset or explicit ``images``/``state``/``prompt`` maps. ``action_dims=START:STOP``
picks the server's action columns (default the first D of the task's D). ``gripper`` says how the
server's gripper column maps to ours (-1 open ... +1 closed): ``same``, ``flip`` (+1 open),
``unit`` (0 open ... 1 closed), ``unit_flip`` (1 open ... 0 closed). ``api_key_env=VAR`` sends
``Authorization: Api-Key $VAR`` (only the variable's name is recorded). ``timeout`` (s, default
300) bounds one reply; ``connect_window`` (s, default 10) bounds each (re)connection's backoff.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from harness.contract import PolicyConfigError
from vla_bench_openpi.connection import Endpoint
from vla_bench_openpi.layouts import DROID, LIBERO, KeyMap, LayoutError, parse_images, parse_state

OPTIONS = frozenset(
    {
        "url",
        "preset",
        "images",
        "state",
        "prompt",
        "flip",
        "resize",
        "action_dims",
        "gripper",
        "n_action_steps",
        "api_key_env",
        "timeout",
        "connect_window",
        "weights",
    }
)

GRIPPER_MAPS = {
    "same": lambda a: a,
    "flip": lambda a: -a,
    "unit": lambda a: 2.0 * a - 1.0,
    "unit_flip": lambda a: 1.0 - 2.0 * a,
}
"""Server gripper value -> ours (-1 open ... +1 closed)."""


@dataclass(frozen=True)
class Layout:
    """How observations go out and actions come back. ``keymap`` None: our own dict as is."""

    name: str
    keymap: KeyMap | None
    flip: bool = False
    resize: tuple[int, int] | None = None
    gripper: str = "same"
    n_action_steps: int | None = None
    action_dims: tuple[int, int] | None = None

    def actions(self, raw: np.ndarray, dim: int, gripper_column: int | None) -> np.ndarray:
        """The server's action rows as rows of the task's space (columns picked, gripper mapped)."""
        start, stop = self.action_dims or (0, dim)
        if raw.shape[1] < stop:
            raise LayoutError(
                f"server returned actions with {raw.shape[1]} columns; this task needs "
                f"columns {start}:{stop} (set action_dims=START:STOP)"
            )
        out = raw[:, start:stop].astype(np.float64)
        if out.shape[1] != dim:
            raise LayoutError(
                f"action_dims={start}:{stop} picks {out.shape[1]} columns; the task's action "
                f"space has {dim}"
            )
        if gripper_column is not None and self.gripper != "same":
            out[:, gripper_column] = GRIPPER_MAPS[self.gripper](out[:, gripper_column])
        return out


PRESETS = {
    "vla_bench": Layout("vla_bench", None),
    "libero": Layout("libero", LIBERO, flip=True, resize=(224, 224), n_action_steps=5),
    "droid": Layout("droid", DROID, resize=(224, 224), gripper="unit", n_action_steps=8),
}


@dataclass(frozen=True)
class ClientOptions:
    """The parsed ``--policy-args`` of the ``openpi`` client."""

    endpoint: Endpoint
    preset: str | None
    overrides: Mapping[str, str] = field(default_factory=dict)
    api_key_env: str | None = None

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> ClientOptions:
        """Check every option now, so that a typo fails before the run starts."""
        unknown = sorted(set(options) - OPTIONS)
        if unknown:
            raise PolicyConfigError(
                f"unknown --policy-args {unknown} for openpi; known: checkpoint, "
                f"{', '.join(sorted(OPTIONS))}"
            )
        url = options.get("url", "")
        if not url.startswith(("ws://", "wss://")):
            raise PolicyConfigError(
                "--policy openpi needs url=ws://HOST:PORT (the server; e.g. bench serve's)"
            )
        preset = options.get("preset")
        if preset is not None and preset not in PRESETS:
            raise PolicyConfigError(f"preset={preset!r} is not one of {sorted(PRESETS)}")
        key_env = options.get("api_key_env")
        api_key = None
        if key_env:
            api_key = os.environ.get(key_env, "")
            if not api_key:
                raise PolicyConfigError(
                    f"api_key_env={key_env} but ${key_env} is empty; export the key in it"
                )
        endpoint = Endpoint(
            url,
            api_key=api_key,
            timeout_s=_seconds(options, "timeout", 300.0),
            connect_window_s=_seconds(options, "connect_window", 10.0),
        )
        layout_keys = ("images", "state", "prompt", "flip", "resize", "action_dims", "gripper")
        overrides = {k: options[k] for k in (*layout_keys, "n_action_steps") if k in options}
        parsed = cls(endpoint, preset, overrides, key_env)
        parsed.layout(server_is_ours=preset is None or preset == "vla_bench")  # check now
        return parsed

    def layout(self, *, server_is_ours: bool) -> Layout:
        """The layout to use with this server (``server_is_ours``: it announced vla-bench)."""
        explicit = {"images", "state", "prompt"} & set(self.overrides)
        name = self.preset or ("vla_bench" if server_is_ours and not explicit else None)
        if name is None:
            if not explicit:
                raise PolicyConfigError(
                    f"{self.endpoint.shown} is not a vla-bench server: say what it expects with "
                    "preset=libero|droid or images=..., state=..., prompt=... (see the README)"
                )
            base = Layout("custom", KeyMap("custom", (), (), "prompt"))
        else:
            base = PRESETS[name]
        try:
            return self._adjust(base)
        except (LayoutError, ValueError) as exc:
            raise PolicyConfigError(str(exc)) from None

    def _adjust(self, base: Layout) -> Layout:
        o = self.overrides
        if base.keymap is None and {"images", "state", "prompt"} & set(o):
            raise LayoutError(
                "preset=vla_bench sends the observation as the task makes it; images=, state= "
                "and prompt= need preset=libero|droid or no preset"
            )
        layout = base
        if base.keymap is not None:
            keymap = base.keymap
            if "images" in o:
                keymap = replace(keymap, images=parse_images(o["images"]))
            if "state" in o:
                keymap = replace(keymap, state=parse_state(o["state"]))
            if "prompt" in o:
                keymap = replace(
                    keymap, prompt=None if o["prompt"] in ("", "none") else o["prompt"]
                )
            layout = replace(layout, keymap=keymap)
        if "flip" in o:
            if o["flip"] not in ("none", "180"):
                raise LayoutError(f"flip={o['flip']!r} is not none or 180")
            layout = replace(layout, flip=o["flip"] == "180")
        if "resize" in o:
            layout = replace(layout, resize=_size(o["resize"]))
        if "gripper" in o:
            if o["gripper"] not in GRIPPER_MAPS:
                raise LayoutError(f"gripper={o['gripper']!r} is not one of {sorted(GRIPPER_MAPS)}")
            layout = replace(layout, gripper=o["gripper"])
        if "action_dims" in o:
            layout = replace(layout, action_dims=_span(o["action_dims"]))
        if "n_action_steps" in o:
            if not o["n_action_steps"].isdigit() or int(o["n_action_steps"]) < 1:
                raise LayoutError(
                    f"n_action_steps={o['n_action_steps']!r} is not a positive integer"
                )
            layout = replace(layout, n_action_steps=int(o["n_action_steps"]))
        return layout


def _seconds(options: Mapping[str, str], key: str, default: float) -> float:
    try:
        value = float(options.get(key, default))
    except ValueError:
        raise PolicyConfigError(f"{key}={options[key]!r} is not a number of seconds") from None
    if value <= 0:
        raise PolicyConfigError(f"{key} must be positive, got {value:g}")
    return value


def _size(text: str) -> tuple[int, int] | None:
    if text == "none":
        return None
    height, _, width = text.lower().partition("x")
    if not height.isdigit() or not (width or height).isdigit():
        raise LayoutError(f"resize={text!r} is not N, HxW or none (e.g. resize=224)")
    return int(height), int(width or height)


def _span(text: str) -> tuple[int, int]:
    start, sep, stop = text.partition(":")
    if not sep or not start.isdigit() or not stop.isdigit() or int(stop) <= int(start):
        raise LayoutError(f"action_dims={text!r} is not START:STOP (e.g. action_dims=0:7)")
    return int(start), int(stop)
