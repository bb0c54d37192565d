"""Plugin discovery: broken plugins, autoload switch, duplicates, and a real third-party package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from harness import plugins
from harness.registry import RegistrationError, Registry, UnknownNameError


def fresh() -> plugins.Loaded:
    plugins.loaded.cache_clear()
    return plugins.loaded()


def test_builtins_and_env_plugins_load() -> None:
    loaded = fresh()
    by_name = {p.name: p for p in loaded.plugins}
    assert by_name["baselines"].distribution == "vla-bench"
    assert by_name["baselines"].registered == {"policy": ["random", "scripted"]}
    assert by_name["toyplugin"].registered["task"] == ["reach", "reach_crash", "reach_unstable"]


def test_a_broken_plugin_is_reported_and_the_rest_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_plugin.py").write_text("raise ImportError('needs libfoo >= 2')\n")
    (tmp_path / "dup_plugin.py").write_text(
        textwrap.dedent("""
        from harness.hookspecs import hookimpl
        @hookimpl
        def vla_bench_register_policies(registry):
            registry.add_policy("random", "x:y")
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("VLA_BENCH_PLUGINS", "toyplugin,broken_plugin,dup_plugin")
    loaded = fresh()
    errors = {p.name: p.error for p in loaded.broken}
    assert "needs libfoo >= 2" in errors["broken_plugin"]
    assert "registered by both 'baselines' and 'dup_plugin'" in errors["dup_plugin"]
    assert loaded.registry.get("task", "reach").plugin == "toyplugin"
    assert loaded.registry.get("policy", "random").plugin == "baselines"


def test_registration_refuses_unsafe_names_foreign_suites_and_keeps_nothing_of_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "escape_plugin.py").write_text(
        textwrap.dedent("""
        from harness.hookspecs import hookimpl
        @hookimpl
        def vla_bench_register_tasks(registry):
            registry.add_task("fine", "x:y", suite="esc")
            registry.add_task("../../X", "x:y", suite="esc")
    """)
    )
    (tmp_path / "squatter_plugin.py").write_text(
        textwrap.dedent("""
        from harness.hookspecs import hookimpl
        @hookimpl
        def vla_bench_register_tasks(registry):
            registry.add_task("my_valve", "x:y", suite="manipulation")
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("VLA_BENCH_PLUGINS", "escape_plugin,squatter_plugin")
    loaded = fresh()
    errors = {p.name: p.error or "" for p in loaded.plugins}
    assert "task name '../../X' is not allowed" in errors["escape_plugin"]
    assert "suite 'manipulation' belongs to plugin 'manipulation'" in errors["squatter_plugin"]
    names = loaded.registry.names("task")
    assert (
        "fine" not in names
        and "my_valve" not in names
        and "esc" not in loaded.registry.names("suite")
    )
    assert "my_valve" not in loaded.registry.resolve_tasks("manipulation")


def test_targets_that_raise_or_are_not_callable_name_the_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "raising_target.py").write_text("raise ValueError('bad config at import')\n")
    (tmp_path / "odd_plugin.py").write_text(
        textwrap.dedent("""
        from harness.hookspecs import hookimpl
        NOT_CALLABLE = 42
        @hookimpl
        def vla_bench_register_policies(registry):
            registry.add_policy("raiser", "raising_target:Policy")
            registry.add_policy("forty_two", "odd_plugin:NOT_CALLABLE")
        @hookimpl
        def vla_bench_register_commands(registry):
            registry.add_command("odd-cmd", "raising_target:command")
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("VLA_BENCH_PLUGINS", "odd_plugin")
    reg = fresh().registry
    with pytest.raises(RegistrationError, match=r"policy 'raiser' \(plugin 'odd_plugin'\) "
                       r"failed to import: ValueError: bad config at import"):  # fmt: skip
        reg.get("policy", "raiser").load()
    with pytest.raises(RegistrationError, match="is a int, not a callable"):
        reg.get("policy", "forty_two").load()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "VLA_BENCH_PLUGINS": "odd_plugin",
    }
    run = subprocess.run([sys.executable, "-m", "harness", "--help"], capture_output=True,
                         text=True, env=env, timeout=120)  # fmt: skip
    assert run.returncode == 0 and "odd-cmd" in run.stdout and "Traceback" not in run.stderr
    run = subprocess.run([sys.executable, "-m", "harness", "odd-cmd", "x"], capture_output=True,
                         text=True, env=env, timeout=120)  # fmt: skip
    assert run.returncode == 1 and "bad config at import" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_name_with_a_benchmark_prefix_suggests_the_registered_name() -> None:
    known = ["metaworld", "metaworld_easy", "reach-v3", "reach-wall-v3", "push-v3", "valve"]
    assert "did you mean 'reach-v3'?" in str(UnknownNameError("task", "metaworld-reach-v3", known))
    assert "did you mean 'reach-v3'?" in str(UnknownNameError("task", "MetaWorld/Reach-V3", known))
    assert "did you mean 'push-v3'?" in str(UnknownNameError("task", "psh-v3", known))
    assert "did you mean" not in str(UnknownNameError("task", "libero_spatial", known))


def test_unknown_name_error_names_the_fix() -> None:
    reg = Registry()
    reg.add_policy("smolvla", "a:b")
    with pytest.raises(UnknownNameError) as info:
        reg.get("policy", "smovla")
    assert str(info.value).strip("'\"") == (
        "unknown policy 'smovla' — did you mean 'smolvla'? (bench list policies)"
    )
    with pytest.raises(
        RegistrationError, match=r"policy 'smolvla' \(plugin '<unknown>'\) cannot be imported"
    ):
        reg.get("policy", "smolvla").load()
    reg.add_policy("odd", "no_colon_here")
    with pytest.raises(RegistrationError, match="must look like"):
        reg.get("policy", "odd").load()


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "minimal-plugin"


@pytest.mark.slow
def test_the_example_plugin_installs_checks_and_runs_without_touching_this_repo(
    tmp_path: Path,
) -> None:
    """examples/minimal-plugin, pip-installed into a user's environment that has vla-bench."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # The throwaway venv sees vla-bench (installed here) through a .pth file, like a user's
    # environment that already has vla-bench; the plugin itself is installed into it.
    site = next((venv / "lib").glob("python3*/site-packages"))
    host_site = sysconfig.get_paths()["purelib"]
    (site / "vla_bench_host.pth").write_text(f"import site; site.addsitedir({host_site!r})\n")
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "uv", "pip", "install", "--python", str(python), "--no-deps",
         "--quiet", str(EXAMPLE)],
        check=True,
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("VLA_BENCH_PLUGINS", "PYTHONPATH")}

    def bench(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(python), "-m", "harness", *args],
            capture_output=True,
            text=True,
            env={**env, **extra},
            cwd=tmp_path,
            timeout=240,
        )

    listed = json.loads(bench("list", "--json").stdout)
    assert "example-pd" in {p["name"] for p in listed["policies"]}
    assert {"name": "example-reach", "action_space": "ee_delta_7d"}.items() <= next(
        t for t in listed["tasks"] if t["name"] == "example-reach"
    ).items()
    infos = {p["name"]: p for p in json.loads(bench("plugins", "--json").stdout)}
    assert infos["example"]["distribution"] == "vla-bench-example"
    assert infos["example"]["version"] == "0.1.0"
    # the autoload switch keeps exactly the third-party plugin out
    hidden = json.loads(bench("list", "--json", VLA_BENCH_DISABLE_PLUGIN_AUTOLOAD="1").stdout)
    assert "example-pd" not in {p["name"] for p in hidden["policies"]}
    assert "random" in {p["name"] for p in hidden["policies"]}
    checked = bench("check", "example", "--json")
    assert checked.returncode == 0, checked.stderr
    levels = {(f["subject"], f["check"]): f["level"] for f in json.loads(checked.stdout)}
    assert levels[("task example-reach", "gymnasium check_env")] == "ok"
    assert levels[("task example-reach", "scripted expert")] == "ok"
    assert levels[("policy example-pd", "on example-reach")] == "ok"
    result = bench("run", "--policy", "example-pd", "--task", "example", "--episodes", "3",
                   "--out", "runs/example", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["tasks"][0]["success_rate"] == 1.0
