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


def test_disable_autoload_keeps_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLA_BENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    loaded = fresh()
    assert all(
        p.distribution in plugins.BUILTIN_DISTRIBUTIONS or p.distribution is None
        for p in loaded.plugins
    )
    assert "random" in loaded.registry.names("policy")


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


THIRD_PARTY_PYPROJECT = """
[project]
name = "acme-vla-bench-plugin"
version = "0.3.1"
requires-python = ">=3.12"
[project.entry-points.vla_bench]
acme = "acme_plugin"
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
[tool.hatch.build.targets.wheel]
packages = ["acme_plugin"]
"""

THIRD_PARTY_CODE = '''
"""A third party's plugin: one task and one policy, written only against the public contract."""
import gymnasium
import numpy as np
from harness.contract import ActionChunk, ActionSpace, PolicyBase, TaskSpec, seeded_track
from harness.hookspecs import hookimpl

SPACE = ActionSpace("discrete", names=("left", "right"), discrete=True)


class Corridor(gymnasium.Env):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = 0
        return self._obs(), {"success": False}

    def _obs(self):
        return {"images": {}, "state": np.array([self.x], np.float32), "instruction": "go right"}

    def step(self, action):
        self.x += 1 if action == 1 else -1
        return self._obs(), 0.0, False, False, {"success": self.x >= 3}


class CorridorTask:
    spec = TaskSpec(name="acme_corridor", version="1", suite="acme", instruction="go right",
                    control_hz=5.0, max_steps=10, action_space=SPACE, state_fields=("x",))

    def track(self):
        return seeded_track("acme_corridor", "1", 5, base_seed=7)

    def make_env(self, episode, *, render=True):
        return Corridor()


class GoRight(PolicyBase):
    action_spaces = ("discrete",)

    def act(self, observation):
        return ActionChunk(np.array([[1.0]]))


@hookimpl
def vla_bench_register_tasks(registry):
    registry.add_task("acme_corridor", "acme_plugin:CorridorTask", suite="acme")


@hookimpl
def vla_bench_register_policies(registry):
    registry.add_policy("acme_right", "acme_plugin:GoRight", action_spaces=("discrete",))
'''


@pytest.mark.slow
def test_third_party_plugin_installs_and_runs_without_touching_this_repo(tmp_path: Path) -> None:
    package = tmp_path / "acme"
    (package / "acme_plugin").mkdir(parents=True)
    (package / "pyproject.toml").write_text(THIRD_PARTY_PYPROJECT)
    (package / "acme_plugin" / "__init__.py").write_text(THIRD_PARTY_CODE)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # The throwaway venv sees vla-bench (installed here) through a .pth file, like a user's
    # environment that already has vla-bench; the plugin itself is pip-installed into it.
    site = next((venv / "lib").glob("python3*/site-packages"))
    host_site = sysconfig.get_paths()["purelib"]
    (site / "vla_bench_host.pth").write_text(f"import site; site.addsitedir({host_site!r})\n")
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "uv",
            "pip",
            "install",
            "--python",
            str(python),
            "--no-deps",
            "--quiet",
            str(package),
        ],
        check=True,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("VLA_BENCH_PLUGINS", "PYTHONPATH")}

    def bench(*args: str) -> str:
        result = subprocess.run(
            [str(python), "-m", "harness", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=240,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    listed = json.loads(bench("list", "--json"))
    assert "acme_right" in {p["name"] for p in listed["policies"]}
    assert "acme_corridor" in {t["name"] for t in listed["tasks"]}
    infos = {p["name"]: p for p in json.loads(bench("plugins", "--json"))}
    assert infos["acme"]["distribution"] == "acme-vla-bench-plugin"
    assert infos["acme"]["version"] == "0.3.1"
    summary = json.loads(
        bench(
            "run",
            "--policy",
            "acme_right",
            "--task",
            "acme",
            "--episodes",
            "3",
            "--out",
            "runs/acme",
            "--json",
        )
    )
    assert summary["tasks"][0]["success_rate"] == 1.0
    assert summary["tasks"][0]["mean_steps_to_success"] == 3.0
