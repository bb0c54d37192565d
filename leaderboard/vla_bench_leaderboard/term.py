"""The terminal leaderboard: compact tables per suite and per task, then notes and provenance.

Laid out for 100 columns: each figure pair shares a column on two lines (success and its
denominator, p50 and p95, the synchronous rate and the asynchronous bound, LDLJ and SPARC).
Every string that comes from a run or plugin is shown as text: Rich markup is escaped and
control characters (terminal escape sequences) are made visible.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.results import Run
from harness.summary import printable
from vla_bench_leaderboard import fmt
from vla_bench_leaderboard.table import Cell, Group, Leaderboard, Row, build

WIDTH = 100
"""Columns the report is laid out for."""


def render(runs: Sequence[Run], problems: Sequence[str]) -> str:
    """The leaderboard as terminal text, at most :data:`WIDTH` columns wide.

    Plain text by default, since the same text may go to a file (``-o``); ``FORCE_COLOR=1``
    asks for colour (rich's convention), ``NO_COLOR`` always wins.
    """
    board = build(runs, problems)
    console = Console(file=io.StringIO(), width=WIDTH, highlight=False, emoji=False)
    _render(console, board)
    return str(console.file.getvalue())  # type: ignore[attr-defined]


def text(value: object) -> str:
    """A run's or plugin's string as inert terminal text (no markup, no control codes)."""
    return escape(printable(value))


def _policy_text(entry: Cell | Row) -> str:
    p = entry.policy
    detail = " ".join(x for x in (p.weights, p.weights_label) if x)
    out = f"[bold]{text(p.name)}[/bold]\n[dim]{text(detail)}[/dim]"
    if p.ranked_reason:
        out += " †"
    return out


def _rank_text(entry: Cell | Row) -> str:
    rank = entry.rank
    label = rank.label
    if rank.tied:
        return f"[yellow]{label}[/yellow]"
    if rank.leader:
        return f"[green]{label}[/green]"
    return label


def _rate_text(entry: Cell | Row) -> str:
    s = entry.stats
    style = {"ok": "green", "slow": "red"}.get(s.pace)
    sync = fmt.hz(s.sync_hz)
    if style:
        sync = f"[{style}]{sync}[/{style}]"
    bound = f"≤ {fmt.hz(s.async_hz)}" if fmt.finite(s.async_hz) else fmt.DASH
    return f"{sync}\n[dim]{escape(bound)}[/dim]"


def _table(title: str, group: Group) -> Table:
    table = Table(
        title=text(title),
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        padding=(0, 0),
        collapse_padding=True,
        header_style="bold",
        pad_edge=False,
        show_edge=False,
    )
    table.add_column("Rank", justify="right", no_wrap=True)
    table.add_column("Policy", overflow="fold", max_width=26)
    table.add_column("Success 95% CI", justify="right")
    table.add_column("Succ/n", justify="right", no_wrap=True)
    table.add_column("p50/p95", justify="right", no_wrap=True)
    table.add_column("Sync/async", justify="right", no_wrap=True)
    table.add_column("LDLJ/SPARC", justify="right", no_wrap=True)
    for m in group.members:
        s = m.stats
        star = "*" if s.latency_source == "episodes" else ""
        error_line = f"\n[red]{s.errors} err[/red]" if s.errors else ""
        smooth = "—" if not s.smoothness_basis else f"{fmt.mean(s.ldlj)}\n{fmt.mean(s.sparc)}"
        table.add_row(
            _rank_text(m),
            _policy_text(m),
            f"{fmt.pct(s.success_rate)}\n{fmt.ci(s.ci_low, s.ci_high)}",
            fmt.fraction(s) + error_line,
            f"{fmt.ms(s.act_p50_s)}{star}\n{fmt.ms(s.act_p95_s)}{star}",
            _rate_text(m),
            smooth,
        )
    return table


def _render(console: Console, board: Leaderboard) -> None:
    console.print("[bold]vla-bench leaderboard[/bold]")
    if board.skipped:
        console.print(
            f"[bold red]WARNING: {len(board.skipped)} run(s) skipped as malformed; the tables "
            "below leave them out:[/]"
        )
        for line in board.skipped:
            console.print(f"[red]- {text(line)}[/red]")
    if board.empty:
        console.print("No finished episodes in the runs given (bench run ... then bench report).")
    elif board.ranked == 0:
        console.print(escape(fmt.ALONE_NOTE))
    for group in board.suite_groups:
        console.print()
        console.print(_table(f"Suite {group.title}", group))
        if group.note:
            console.print(f"  [dim]{text(group.note)}[/dim]")
    for group in board.task_groups:
        console.print()
        console.print(_table(f"Task {group.title}", group))
        for cell in group.members:
            for line in _cell_lines(cell):
                console.print(f"  [dim]{text(line)}[/dim]")
    console.print()
    for note in (fmt.RANK_NOTE, "† " + fmt.UNRANKED_NOTE + ".", fmt.SMOOTHNESS_NOTE):
        console.print(escape(note))
    console.print(
        "Sync = n_action_steps / (mean act() + n_action_steps / task rate); async bound = "
        "n_action_steps / p95 (bench report --format html: Methods)."
    )
    if any(m.stats.latency_source == "episodes" for m in board.cells):
        console.print(escape(fmt.LATENCY_FOOTNOTE))
    if board.problems or board.notes:
        console.print()
        console.print("[bold]Notes[/bold]")
        for line in [*board.problems, *board.notes]:
            console.print(f"- {text(line)}")
    console.print()
    console.print("[bold]Runs[/bold]")
    for s in board.sources:
        console.print(
            f"- {text(s.run_id)} [{text(s.status)}] {text(fmt.when(s.created))} · vla-bench "
            f"{text(s.harness_version)} · {text(s.host.text)}\n  $ {text(s.command)}"
        )


def _cell_lines(cell: Cell) -> list[str]:
    lines = []
    name = cell.policy.name
    if cell.rank.method and not cell.rank.leader:
        lines.append(f"{name}: {cell.rank.method}")
    if cell.rank.reason:
        lines.append(f"{name}: not ranked: {cell.rank.reason}")
    if cell.stats.first_error:  # its first line; the other formats keep the traceback
        lines.append(f"{name}: first error: {cell.stats.first_error.splitlines()[0]}")
    lines.extend(f"{name}: {f}" for f in cell.flags if f != cell.policy.ranked_reason)
    lines.extend(f"{name}: {n}" for n in cell.notes)
    return lines
