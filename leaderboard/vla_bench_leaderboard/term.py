"""The terminal leaderboard: rich tables per suite and per task, then notes and provenance."""

from __future__ import annotations

import io
import shutil
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.results import Run
from vla_bench_leaderboard import fmt
from vla_bench_leaderboard.table import Cell, Group, Leaderboard, Row, build


def render(runs: Sequence[Run], problems: Sequence[str]) -> str:
    """The leaderboard as terminal text.

    Plain text by default, since the same text may go to a file (``-o``); ``FORCE_COLOR=1``
    asks for colour (rich's convention), ``NO_COLOR`` always wins.
    """
    board = build(runs, problems)
    width = max(shutil.get_terminal_size((160, 40)).columns, 120)
    console = Console(file=io.StringIO(), width=width, highlight=False, emoji=False)
    _render(console, board)
    return str(console.file.getvalue())  # type: ignore[attr-defined]


def _policy_text(entry: Cell | Row) -> str:
    p = entry.policy
    text = f"[bold]{escape(p.name)}[/bold]"
    if p.checkpoint:
        text += f"\n[dim]{escape(p.checkpoint)}[/dim]"
    return text


def _table(title: str, group: Group) -> Table:
    table = Table(
        title=escape(title),
        title_justify="left",
        title_style="bold",
        expand=False,
        header_style="bold",
        pad_edge=False,
    )
    table.add_column("Rank", justify="right", no_wrap=True)
    table.add_column("Policy", overflow="fold", max_width=32)
    table.add_column("Weights", no_wrap=True)
    headers, values = fmt.table_columns([m.stats for m in group.members])
    for header in headers:
        table.add_column(header, justify="right", no_wrap=True)
    for m, row in zip(group.members, values, strict=True):
        rank = m.rank.label
        if m.rank.tied:
            rank = f"[yellow]{rank}[/yellow]"
        elif m.rank.leader:
            rank = f"[green]{rank}[/green]"
        weights = escape(m.policy.weights)
        if m.policy.ranked_reason:
            weights = f"[magenta]{weights}†[/magenta]"
        table.add_row(rank, _policy_text(m), weights, *(escape(v) for v in row))
    return table


def _render(console: Console, board: Leaderboard) -> None:
    console.print("[bold]vla-bench leaderboard[/bold]")
    if board.empty:
        console.print("No finished episodes in the runs given (bench run ... then bench report).")
    for group in board.suite_groups:
        console.print()
        console.print(_table(f"Suite {group.title}", group))
    for group in board.task_groups:
        console.print()
        console.print(_table(f"Task {group.title}", group))
        for cell in group.members:
            for line in _cell_lines(cell):
                console.print(f"  [dim]{escape(line)}[/dim]")
    console.print()
    console.print(escape(fmt.RANK_NOTE) + " † = " + escape(fmt.UNRANKED_NOTE))
    if any(m.stats.latency_source == "episodes" for m in board.cells):
        console.print(escape(fmt.LATENCY_FOOTNOTE))
    if board.problems or board.notes:
        console.print()
        console.print("[bold]Notes[/bold]")
        for line in [*board.problems, *board.notes]:
            console.print(f"- {escape(line)}")
    console.print()
    console.print("[bold]Runs[/bold]")
    for s in board.sources:
        console.print(
            f"- {escape(s.run_id)} [{escape(s.status)}] {escape(fmt.when(s.created))} · vla-bench "
            f"{escape(s.harness_version)} · {escape(s.host)}\n  $ {escape(s.command)}"
        )


def _cell_lines(cell: Cell) -> list[str]:
    lines = []
    name = cell.policy.name
    if cell.rank.method and not cell.rank.leader:
        lines.append(f"{name}: {cell.rank.method}")
    if cell.rank.reason:
        lines.append(f"{name}: not ranked: {cell.rank.reason}")
    if cell.stats.first_error:
        lines.append(f"{name}: first error: {cell.stats.first_error}")
    lines.extend(f"{name}: {n}" for n in cell.notes)
    return lines
