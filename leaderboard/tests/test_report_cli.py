"""``bench report``, ``bench compare`` and ``bench run``'s summary as a user meets them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from boardruns import wins
from click.testing import CliRunner, Result
from rich.console import Console

from harness import cli


def bench(*args: str | Path) -> Result:
    return CliRunner().invoke(cli.main, [str(a) for a in args], catch_exceptions=False)


def strict_json(text: str) -> object:
    """Parse JSON as a strict reader would: NaN and Infinity are not JSON."""

    def refuse(name: str) -> object:
        raise AssertionError(f"invalid JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_the_default_report_goes_under_the_runs_root(
    make_run: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    root = make_run("a", wins(3, 10), policy="alpha", private=True)
    result = bench("report", root.parent, "--format", "md")
    assert result.exit_code == 0, result.output
    assert (root.parent / "leaderboard.md").is_file()
    assert not (tmp_path / "reports").exists()
    # given a run directory itself, the report goes beside it, never into it
    (root.parent / "leaderboard.md").unlink()
    assert bench("report", root, "--format", "md").exit_code == 0
    assert (root.parent / "leaderboard.md").is_file()
    assert not (root / "leaderboard.md").exists()


def test_an_empty_report_is_refused_unless_asked(tmp_path: Path) -> None:
    empty = tmp_path / "runs"
    empty.mkdir()
    result = bench("report", empty)
    assert result.exit_code != 0 and "no runs found" in result.output
    assert "--allow-empty" in result.output and not (empty / "leaderboard.html").exists()
    assert bench("report", empty, "--allow-empty").exit_code == 0
    assert (empty / "leaderboard.html").is_file()
    missing = bench("report", tmp_path / "nope")
    assert missing.exit_code != 0 and "no such directory" in missing.output


def test_an_unknown_format_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    result = bench("report", tmp_path, "--format", "htm")
    assert result.exit_code != 0
    assert "unknown reporter 'htm'" in result.output and "'html'" in result.output


def test_a_report_never_writes_into_a_run_directory(make_run: Callable[..., Path]) -> None:
    root = make_run("a", wins(3, 10), policy="alpha", private=True)
    before = (root / "run.json").read_bytes()
    for target in (root / "run.json", root / "parts" / "x.html", root):
        result = bench("report", root, "-o", target)
        assert result.exit_code != 0 and "inside run directory" in result.output, target
    assert (root / "run.json").read_bytes() == before
    assert not (root / "parts" / "x.html").exists()


def test_a_run_json_that_is_not_an_object_is_a_listed_problem(
    make_run: Callable[..., Path],
) -> None:
    good = make_run("good", wins(3, 10), policy="alpha", private=True)
    bad = make_run("bad", wins(3, 10), policy="beta", private=True)
    (bad / "run.json").write_text("[]")
    out = good.parent.parent / "board.md"
    result = bench("report", good.parent, "--format", "md", "-o", out)
    assert result.exit_code == 1  # runs were skipped: said so, and not a success
    assert "could not be read" in result.output and "bad" in result.output
    assert "alpha" in out.read_text() and "beta" not in out.read_text()
    assert bench("report", good.parent, "--format", "md", "-o", out, "--skip-bad").exit_code == 0


def test_exports_are_valid_csv_and_json(make_run: Callable[..., Path], tmp_path: Path) -> None:
    runs = make_run("a", "1100n", policy="alpha").parent
    out = tmp_path / "board.json"
    assert bench("report", runs, "--format", "json", "-o", out).exit_code == 0
    document = strict_json(out.read_text())
    assert isinstance(document, dict)
    (record,) = document["records"]
    assert record["episodes"] == 5 and record["errors"] == 1 and record["successes"] == 2
    assert record["ci_low"] is not None and record["ldlj"] is None  # undefined -> null
    assert bench("report", runs, "--format", "csv", "-o", tmp_path / "board.csv").exit_code == 0
    header = (tmp_path / "board.csv").read_text().splitlines()[0]
    assert header.startswith("policy,policy_name,weights")


def test_compare_json_is_strict_and_hostile_names_are_text(
    make_run: Callable[..., Path], tmp_path: Path
) -> None:
    a = make_run("a", wins(0, 4), policy="alpha")
    b = shutil.copytree(make_run("b", wins(1, 4), policy="beta"), tmp_path / "evil")
    meta = json.loads((b / "run.json").read_text())
    meta["policy"]["name"] = "evil[/]"
    (b / "run.json").write_text(json.dumps(meta))
    result = bench("compare", a, b, "--json")
    assert result.exit_code == 0, result.output
    rows = strict_json(result.output)
    assert isinstance(rows, list) and rows[0]["a"]["ldlj"]["value"] is None
    shown = bench("compare", a, b)
    assert shown.exit_code == 0, shown.output
    assert "B = evil[/]" in shown.output


def test_run_json_is_strict_and_the_summary_shows_hostile_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOARD_PLAN", json.dumps({"pick": "0000"}))
    out = tmp_path / "run"
    result = bench("run", "--policy", "alpha", "--task", "pick", "--episodes", "4", "--out", out,
                   "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = strict_json(result.output[result.output.index("{") :])
    assert isinstance(summary, dict)
    (task,) = summary["tasks"]
    assert task["successes"] == 0 and task["mean_steps_to_success"] is None
    # a plugin may name a policy with Rich markup: the summary prints it as text
    console = Console(record=True, width=200)
    monkeypatch.setattr(cli, "console", console)
    cli._print_summary("evil[/]", summary["tasks"])
    assert "policy evil[/]" in console.export_text()
