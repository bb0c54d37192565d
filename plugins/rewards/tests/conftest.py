"""Shared fixtures: cartpole runs with keyframes and known outcomes, keys for the stand-ins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from harness.contract import PolicyConfig
from harness.record import RunSettings
from harness.run import execute

ANTHROPIC_KEY = "sk-ant-rewards-test-KEY-never-stored-41c"
OPENAI_KEY = "sk-openai-rewards-test-KEY-never-stored-77d"


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two cartpole runs with 3 keyframes per episode: the scripted expert (every episode a
    success, 500 steps) and the random policy (every episode a failure within ~40 steps)."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, episodes in (("scripted", 2), ("random", 4)):
        out[name] = root / name
        report = execute(
            PolicyConfig(name=name),
            "cartpole",
            RunSettings(episodes=episodes, keyframes=3),
            out[name],
            ["test"],
        )
        assert report.status == "complete"
    return out


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Fake API keys in the environment (the only place the clients read them)."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return {"anthropic": ANTHROPIC_KEY, "openai": OPENAI_KEY}
