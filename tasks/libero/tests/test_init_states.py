"""The package's initial states are LIBERO's official ones, and altered ones are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from vla_bench_libero.catalog import STANDARD_SUITES, find_task, suites
from vla_bench_libero.init_states import (
    InitStateMismatch,
    load_init_states,
    official_digests,
    package_states,
    state_digest,
)


def test_every_standard_task_has_the_official_states() -> None:
    """The digests were taken from hf-libero's own .pruned_init files
    (scripts/official_init_digest.py); 130 tasks x 50 states."""
    digests = official_digests()
    checked = 0
    for name in STANDARD_SUITES:
        for task in suites()[name].tasks:
            states = package_states(name, task.index)
            assert states.shape[0] == 50
            assert state_digest(states) == digests[f"{name}/{task.libero_name}"], task.name
            checked += 1
    assert checked == len(digests) == 130


def test_a_state_changed_in_the_last_bit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = find_task("libero_goal-2")
    states = package_states("libero_goal", 2)
    assert load_init_states(task, "libero_goal").tobytes() == states.tobytes()
    altered = states.copy()
    altered[17, 5] = np.nextafter(altered[17, 5], np.inf)
    folder = tmp_path / "init" / "libero_goal"
    folder.mkdir(parents=True)
    np.savez(folder / f"{task.libero_name}.pruned_init.npz", states=altered)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"init_states": str(tmp_path / "init")}))
    monkeypatch.setenv("LIBERO_CONFIG_PATH", str(tmp_path))
    with pytest.raises(InitStateMismatch, match=r"libero_goal-2 .* differ from the official"):
        load_init_states(task, "libero_goal")
