"""Registration: every name and suite LeRobot has, lazily, and options that change identity."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.plugins import registry
from harness.registry import TaskOptionError


def lerobot_config() -> dict:
    """LeRobot 0.6.1's Meta-World table (names, descriptions, difficulty, scripted policies),
    read from its installed file: importing ``lerobot`` would cost seconds of torch."""
    spec = importlib.util.find_spec("lerobot")
    assert spec is not None and spec.submodule_search_locations, "LeRobot is not installed"
    root = Path(spec.submodule_search_locations[0])
    return json.loads((root / "envs" / "metaworld_config.json").read_text())


def test_suites_hold_lerobots_tasks_and_grouping() -> None:
    reference = lerobot_config()
    groups = reference["DIFFICULTY_TO_TASKS"]
    reg = registry()
    for difficulty, tasks in groups.items():
        assert reg.resolve_tasks(f"metaworld_{difficulty}") == tasks
    assert [len(groups[d]) for d in ("easy", "medium", "hard", "very_hard")] == [28, 11, 6, 5]
    everything = reg.resolve_tasks("metaworld")
    assert everything == [t for d in ("easy", "medium", "hard", "very_hard") for t in groups[d]]
    assert sorted(everything) == sorted(reference["TASK_DESCRIPTIONS"])
    for name in everything:
        entry = reg.get("task", name)
        assert entry.extra["suite"] == "metaworld"
        assert entry.extra["expert"] is not None


def test_instructions_are_lerobots_descriptions() -> None:
    descriptions = lerobot_config()["TASK_DESCRIPTIONS"]
    for name in ("push-v3", "assembly-v3", "window-close-v3"):
        assert registry().build_task(name).spec.instruction == descriptions[name]
    from vla_bench_metaworld.catalog import TASKS

    assert {name: text for name, (_, text) in TASKS.items()} == descriptions


def test_experts_are_metaworlds_scripted_policies_as_lerobot_maps_them() -> None:
    import metaworld.policies

    mapping = lerobot_config()["TASK_POLICY_MAPPING"]
    assert {k: v.__name__ for k, v in metaworld.policies.ENV_POLICY_MAP.items()} == mapping


def test_listing_imports_neither_metaworld_nor_the_task_modules() -> None:
    script = (
        "import sys, json\n"
        "from click.testing import CliRunner\n"
        "from harness.cli import main\n"
        "out = CliRunner().invoke(main, ['list', 'tasks'])\n"
        "assert out.exit_code == 0, out.output\n"
        "assert 'push-v3' in out.output\n"
        "print(json.dumps(sorted(m for m in sys.modules if 'metaworld' in m)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == [
        "vla_bench_metaworld",
        "vla_bench_metaworld.catalog",
        "vla_bench_metaworld.plugin",
    ]


def test_render_fast_is_another_track() -> None:
    canonical = registry().build_task("push-v3")
    fast = registry().build_task("push-v3", {"render": "fast"})
    assert canonical.spec.version == canonical.track().version == "1-canonical"
    assert fast.spec.version == fast.track().version == "1-fast"
    same = registry().build_task("push-v3", {"render": "canonical"})
    assert same.spec == canonical.spec


def test_track_is_lerobot_evals_default_seeds() -> None:
    track = registry().build_task("reach-v3").track()
    assert len(track.episodes) == 50
    assert [e.seed for e in track.episodes[:3]] == [1000, 1001, 1002]  # lerobot-eval --seed 1000


def test_bad_options_say_what_to_use() -> None:
    with pytest.raises(ValueError, match=r"render='pretty'.*render=canonical.*render=fast"):
        registry().build_task("push-v3", {"render": "pretty"})
    with pytest.raises(TaskOptionError, match="no option 'shadows'"):
        registry().build_task("push-v3", {"shadows": "false"})
