"""Provenance recorded in every run.json."""

from __future__ import annotations

import os
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from harness import provenance


def test_package_versions_match_installed_metadata() -> None:
    expected = {}
    for name in provenance.KEY_PACKAGES:
        try:
            expected[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    assert provenance.package_versions() == expected
    assert {"numpy", "pandas", "pluggy"} <= set(expected)


def test_git_state_and_host() -> None:
    git = provenance.git_state()
    assert git["revision"] is None or len(git["revision"]) == 40
    host = provenance.host_info()
    assert host["cpu_count"] >= 1 and host["memory_bytes"] > 0 and host["cpu"]


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return done.stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_state_names_the_commit_and_whether_tracked_files_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # no repository above it
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    assert provenance.git_state(repo / "pkg") == {"revision": None, "dirty": None}  # no repo
    _git(repo, "init", "-q")
    (repo / "pkg" / "a.py").write_text("x = 1\n")
    assert provenance.git_state(repo / "pkg") == {"revision": None, "dirty": None}  # no commit
    _git(repo, "add", "pkg/a.py")
    _git(repo, "commit", "-q", "-m", "first")
    head = _git(repo, "rev-parse", "HEAD")
    assert provenance.git_state(repo / "pkg") == {"revision": head, "dirty": False}
    (repo / "pkg" / "new.py").write_text("untracked\n")
    assert provenance.git_state(repo / "pkg") == {"revision": head, "dirty": False}
    (repo / "pkg" / "a.py").write_text("x = 2\n")
    assert provenance.git_state(repo / "pkg") == {"revision": head, "dirty": True}
    _git(repo, "add", "pkg/a.py")  # staged but not committed is still a change
    assert provenance.git_state(repo / "pkg") == {"revision": head, "dirty": True}
    _git(repo, "commit", "-q", "-m", "second")
    assert provenance.git_state(repo / "pkg") == {
        "revision": _git(repo, "rev-parse", "HEAD"),
        "dirty": False,
    }
