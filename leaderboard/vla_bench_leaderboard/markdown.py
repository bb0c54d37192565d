"""The Markdown leaderboard (GitHub-flavoured tables): for a pull request or a wiki page."""

from __future__ import annotations

import re
from collections.abc import Sequence

from harness.results import Run
from vla_bench_leaderboard import fmt
from vla_bench_leaderboard.table import Cell, Group, Leaderboard, Row, build

# with [ and ] escaped no link can form, so parentheses and the like may stay as they are
_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_escape(text: object) -> str:
    """Text safe inside a Markdown table cell: HTML and Markdown syntax shown literally."""
    s = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _SPECIAL.sub(r"\\\1", s)
    return s.replace("\r", " ").replace("\n", " ")


def render(runs: Sequence[Run], problems: Sequence[str]) -> str:
    """The leaderboard as Markdown."""
    return _render(build(runs, problems))


def _policy(entry: Cell | Row) -> str:
    p = entry.policy
    text = f"**{md_escape(p.name)}**"
    if p.weights_label:
        text += f"<br>{md_escape(p.weights_label)}"
    if p.config_label:
        text += f"<br><sub>{md_escape(p.config_label)}</sub>"
    return text


def _table(group: Group) -> list[str]:
    metric_headers, values = fmt.table_columns([m.stats for m in group.members])
    headers = ["Rank", "Policy", "Weights", *metric_headers]
    lines = [
        "| " + " | ".join(md_escape(h) for h in headers) + " |",
        "|" + "|".join("---" if h in ("Policy", "Weights") else "---:" for h in headers) + "|",
    ]
    for m, row in zip(group.members, values, strict=True):
        weights = md_escape(m.policy.weights) + (" †" if m.policy.ranked_reason else "")
        rank = f"**{m.rank.label}**" if m.rank.leader else m.rank.label
        cells = [rank, _policy(m), weights, *(md_escape(v) for v in row)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _render(board: Leaderboard) -> str:
    out = ["# vla-bench leaderboard", ""]
    if board.skipped:
        out += [
            f"> **Warning: {len(board.skipped)} run(s) skipped as malformed; the tables leave "
            "them out.**",
            "",
            *(f"> - {md_escape(line)}" for line in board.skipped),
            "",
        ]
    if board.empty:
        out += [
            "No finished episodes in the runs given (`bench run ...`, then `bench report`).",
            "",
        ]
    elif board.ranked == 0:
        out += [md_escape(fmt.ALONE_NOTE), ""]
    for group in board.suite_groups:
        out += [f"## Suite {md_escape(group.title)}", ""]
        if group.note:
            out += [md_escape(group.note), ""]
        out += _table(group)
        out.append("")
    if board.task_groups:
        out += ["## Per task", ""]
    for group in board.task_groups:
        out += [f"### {md_escape(group.title)}", ""]
        out += _table(group)
        out.append("")
        for cell in group.members:
            name = md_escape(cell.policy.name)
            if cell.rank.method and not cell.rank.leader:
                out.append(f"- {name}: {md_escape(cell.rank.method)}")
            if cell.rank.reason:
                out.append(f"- {name}: not ranked: {md_escape(cell.rank.reason)}")
            if cell.stats.first_error:
                out.append(f"- {name}: first error: {md_escape(cell.stats.first_error)}")
            out.extend(
                f"- {name}: {md_escape(f)}" for f in cell.flags if f != cell.policy.ranked_reason
            )
            out.extend(f"- {name}: {md_escape(n)}" for n in cell.notes)
        out.append("")
    out += [md_escape(fmt.RANK_NOTE) + " † = " + md_escape(fmt.UNRANKED_NOTE) + ".", ""]
    out += [md_escape(fmt.SMOOTHNESS_NOTE), ""]
    if any(m.stats.latency_source == "episodes" for m in board.cells):
        out += [md_escape(fmt.LATENCY_FOOTNOTE), ""]
    if board.problems or board.notes:
        out += ["## Notes", ""]
        out += [f"- {md_escape(n)}" for n in [*board.problems, *board.notes]]
        out.append("")
    out += ["## Methods", "", fmt.methods_markdown(), ""]
    if board.sources:
        out += [
            "## Runs",
            "",
            "| Run | Status | Created | vla-bench | Host | Command |",
            "|---|---|---|---|---|---|",
        ]
        for s in board.sources:
            out.append(
                "| "
                + " | ".join(
                    md_escape(v)
                    for v in (
                        s.run_id,
                        s.status,
                        fmt.when(s.created),
                        s.harness_version,
                        s.host.text,
                        s.command,
                    )
                )
                + " |"
            )
        out.append("")
    return "\n".join(out)
