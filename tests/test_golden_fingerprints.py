"""Track identity: every registered task's fingerprint, and the first observations of a few
episodes of one task per suite family, against the committed golden file.

A change that alters what a policy sees or what decides success (a spec field, a seed of the
track, the simulator's start state, the rendered pixels) fails here until the task's declared
version is bumped and the golden file regenerated::

    MUJOCO_GL=egl .venv/bin/python tests/test_golden_fingerprints.py --write

Image digests compare only under the renderer that made them (see
:func:`harness.fingerprint.check_golden`); state digests compare everywhere.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.fingerprint import check_golden, golden_entry, read_golden, task_fingerprint
from harness.plugins import registry

GOLDEN = Path(__file__).parent / "data" / "golden_fingerprints.json"

# One task per family whose start observations are checked (each resets a real simulator).
OBSERVED = (
    "valve",
    "pick_place",
    "handle",
    "cartpole",
    "lunarlander",
    "push-v3",
    "assembly-v3",
    "libero_spatial-0",
)
OBSERVED_EPISODES = 2
TEST_PLUGINS = frozenset({"toyplugin"})  # this folder's own plugins, loaded by other tests


def _fingerprints() -> dict[str, dict[str, Any]]:
    reg = registry()
    out = {}
    for entry in reg.entries("task"):
        if entry.plugin in TEST_PLUGINS:
            continue
        name = entry.name
        task = reg.build_task(name)
        track = task.track()
        out[name] = {
            "version": task.spec.version,
            "track_version": track.version,
            "fingerprint": task_fingerprint(task, {}, track),
        }
    return out


def _observed() -> dict[str, dict[str, Any]]:
    reg = registry()
    return {
        name: golden_entry(reg.build_task(name), {}, episodes=OBSERVED_EPISODES)
        for name in OBSERVED
    }


def test_every_task_fingerprint_matches_its_golden_or_its_version_was_bumped() -> None:
    golden = read_golden(GOLDEN)["tasks"]
    current = _fingerprints()
    problems = [
        f"{name}: new task; regenerate the golden file" for name in current.keys() - golden.keys()
    ]
    problems += [
        f"{name}: no longer registered; regenerate the golden file"
        for name in golden.keys() - current.keys()
    ]
    for name in sorted(current.keys() & golden.keys()):
        entry, known = current[name], golden[name]
        if entry["fingerprint"] != known["fingerprint"]:
            same = (entry["version"], entry["track_version"]) == (
                known["version"],
                known["track_version"],
            )
            problems.append(
                f"{name}: fingerprint changed "
                + ("but its versions did not: bump them" if same else "(version bumped)")
                + ", then regenerate the golden file"
            )
    assert not problems, "\n".join(sorted(problems))


@pytest.mark.parametrize("name", OBSERVED)
def test_first_observations_match_their_golden(name: str) -> None:
    golden = read_golden(GOLDEN)["observed"][name]
    entry = golden_entry(registry().build_task(name), {}, episodes=OBSERVED_EPISODES)
    assert not check_golden(entry, golden, name)
    # the digests also tell episodes apart (Meta-World's hand always starts in one place; its
    # objects do not): a track whose starts are all alike is caught
    starts = set(zip(entry["obs_state"], entry["obs_image"], strict=True))
    assert len(starts) == OBSERVED_EPISODES, entry


def test_a_changed_start_state_is_caught_unless_the_version_is_bumped() -> None:
    golden = read_golden(GOLDEN)["observed"]["cartpole"]
    moved = {**golden, "obs_state": ["0" * 16, *golden["obs_state"][1:]]}
    assert check_golden(moved, golden, "cartpole") == [
        "cartpole: obs_state changed but version "
        f"{golden['version']} / track {golden['track_version']} did not: bump the task's "
        "version, then regenerate the golden file"
    ]
    bumped = {**moved, "version": f"{golden['version']}.1"}
    assert check_golden(bumped, golden, "cartpole") == [
        "cartpole: version bumped; regenerate the golden file"
    ]


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: {sys.argv[0]} --write  (regenerates {GOLDEN})")
    GOLDEN.write_text(
        json.dumps({"tasks": _fingerprints(), "observed": _observed()}, indent=1) + "\n"
    )
    print(f"wrote {GOLDEN}")
