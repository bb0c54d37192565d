"""Provenance recorded in every run.json."""

from __future__ import annotations

from importlib import metadata

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
