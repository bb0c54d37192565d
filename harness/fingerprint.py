"""Task and track identity derived from what a policy sees and what decides success.

A declared version (``TaskSpec.version``, ``Track.version``) is a promise someone must keep by
hand; a fingerprint is computed. Two parts:

- :func:`task_fingerprint`: a digest of the task's spec (instruction, control rate, step
  limit, cameras and resolution, state layout, action space and bounds, description), its
  options, its track (episode seeds), and the bytes the task says decide its physics and looks
  (``task.fingerprint_material()`` when the task provides it: model XML, assets, success rule
  parameters). Cheap; recorded per task in run.json.
- :func:`observation_digests`: per episode, a digest of the first observation's state and
  instruction (renderer-independent) and one of its images, with the renderer that drew them
  (images differ between GL implementations, so image digests compare only under the same
  renderer). Recorded in every episode row.

Runs with different task fingerprints are never merged or ranked together; a suite's tests
compare the fingerprints against committed ones so a change that alters what a policy sees
cannot ship without a version bump (see ``check_golden``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness.contract import Task, Track
from harness.record import task_spec_dict

DIGEST_CHARS = 16


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()[:DIGEST_CHARS]


def task_fingerprint(task: Task, options: Mapping[str, str], track: Track) -> str:
    """The digest of a task's declared identity, options, track seeds and model material."""
    declared = json.dumps(
        {
            "spec": task_spec_dict(task.spec),
            "options": dict(options),
            "track": [track.version, [[e.index, e.seed] for e in track.episodes]],
        },
        sort_keys=True,
        default=str,
    ).encode()
    material = getattr(task, "fingerprint_material", None)
    return _digest(declared, material() if callable(material) else b"")


def observation_digests(observation: Mapping[str, Any]) -> tuple[str, str]:
    """(state digest, image digest) of one observation; '' where it has no such part.

    The state is digested at float32 precision: the same start computed on another CPU may
    differ in the last bits of a float64 (vectorised math libraries pick different code per
    instruction set), which is not a different start."""
    state = np.ascontiguousarray(np.asarray(observation.get("state", ()), dtype=np.float32))
    text = str(observation.get("instruction", "")).encode()
    state_digest = _digest(state.tobytes(), text)
    images = observation.get("images") or {}
    if not images:
        return state_digest, ""
    parts = []
    for name in sorted(images):
        image = np.ascontiguousarray(images[name])
        parts += [name.encode(), str(image.shape).encode(), image.tobytes()]
    return state_digest, _digest(*parts)


def renderer_id() -> str:
    """Which GL implementation draws images here: ``MUJOCO_GL`` and the GL renderer string
    when it can be read (e.g. ``egl:llvmpipe (LLVM 15.0.7, 256 bits)``)."""
    backend = os.environ.get("MUJOCO_GL", "")
    try:
        import mujoco  # noqa: F401  (selects the GL backend from MUJOCO_GL)
        from OpenGL import GL

        name = GL.glGetString(GL.GL_RENDERER)
        if name:
            return f"{backend}:{name.decode()}"
    except Exception:  # no context current, no PyOpenGL: the backend name alone
        pass
    return backend


def golden_entry(task: Task, options: Mapping[str, str], episodes: int = 3) -> dict[str, Any]:
    """What a suite's golden file records for one task: declared versions, the fingerprint
    and the first observations' digests of the first ``episodes`` track episodes."""
    track = task.track()
    first = track.episodes[:episodes]
    states, images = [], []
    renderer = ""
    for episode in first:
        env = task.make_env(episode, render=True)
        try:
            obs, _ = env.reset(seed=episode.seed)
            if not renderer:
                renderer = renderer_id()
        finally:
            env.close()
        state_digest, image_digest = observation_digests(obs)
        states.append(state_digest)
        images.append(image_digest)
    return {
        "version": task.spec.version,
        "track_version": track.version,
        "fingerprint": task_fingerprint(task, options, track),
        "obs_state": states,
        "obs_image": images,
        "renderer": renderer,
    }


def check_golden(entry: Mapping[str, Any], golden: Mapping[str, Any], name: str) -> list[str]:
    """Problems between a freshly computed entry and the committed one: a changed digest
    under an unchanged declared version says the version must be bumped."""
    problems = []
    same_version = (entry["version"], entry["track_version"]) == (
        golden["version"],
        golden["track_version"],
    )
    keys = ["fingerprint", "obs_state"]
    if entry["renderer"] == golden["renderer"]:
        keys.append("obs_image")  # pixels compare only under the renderer that made them
    for key in keys:
        if entry[key] != golden[key]:
            if same_version:
                problems.append(
                    f"{name}: {key} changed but version {entry['version']} / track "
                    f"{entry['track_version']} did not: bump the task's version, then "
                    "regenerate the golden file"
                )
            else:
                problems.append(f"{name}: version bumped; regenerate the golden file")
    return problems


def read_golden(path: Path) -> dict[str, Any]:
    """A suite's committed golden fingerprints."""
    data: dict[str, Any] = json.loads(path.read_text())
    return data
