"""The judges table: stored ``bench judge`` results as Markdown, terminal text or HTML.

One table per probe kind, since each is scored differently: success detection (precision,
recall, F1, AUROC with intervals), progress (Spearman's ρ with task progress, the return so
far and, per episode, the final return) and numeric probes (mean absolute error next to the
error of always answering the mean truth, distinct answers, the commonest answers). Every
row carries the judge's cost per query and median latency. Reference judges (the privileged
``oracle``, ``constant``) and random-weight models (``vla_bench_rewards.tiny``) are marked and
listed last: they check the scoring, they do not compete. Rows are sorted by AUROC, ρ with
progress, or MAE.

The leaderboard calls :func:`render` with the results :func:`find` collects under the same
paths as its runs (``bench report`` does not do so yet; ``bench judges PATH...`` prints it).
"""

from __future__ import annotations

import html
import io
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from vla_bench_rewards.evaluate import RESULT_FILE

UNRANKED = {"scripted": "reference", "none": "reference", "random": "random weights"}
"""Weights kinds listed after the others, with why: checks of the scoring, or random models."""
FORMATS = ("md", "term", "html")


def find(paths: Iterable[Path | str]) -> list[dict[str, Any]]:
    """Every stored judge result at or below ``paths`` (``judge.json`` files), oldest first."""
    found: list[dict[str, Any]] = []
    for base in map(Path, paths):
        files = [base / RESULT_FILE] if (base / RESULT_FILE).exists() else []
        if not files and base.is_dir():
            files = sorted(base.rglob(RESULT_FILE))
        for path in files:
            doc = json.loads(path.read_text())
            doc["path"] = str(path.parent)
            found.append(doc)
    return sorted(found, key=lambda d: str(d.get("created", "")))


def _num(x: Any, fmt: str = "{:.2f}") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return fmt.format(x)


def _ci(value: Any, ci: Sequence[Any] | None, fmt: str = "{:.2f}") -> str:
    text = _num(value, fmt)
    if text == "–" or not ci or any(c is None or math.isnan(c) for c in ci):
        return text
    return f"{text} [{fmt.format(ci[0])}, {fmt.format(ci[1])}]"


def _judge(doc: dict[str, Any]) -> tuple[str, str, bool]:
    judge = doc.get("judge", {})
    name = str(judge.get("judge", "?"))
    model = str(judge.get("model") or judge.get("checkpoint") or judge.get("value", "") or "")
    why = UNRANKED.get(str(judge.get("weights")))
    return name + (f" ({why})" if why else ""), model, why is not None


def _common(doc: dict[str, Any]) -> list[str]:
    scores = doc["scores"]
    latency = scores.get("latency_s") or {}
    status = "" if doc.get("status") == "complete" else f" ({doc.get('status')})"
    return [
        f"{scores.get('unreadable', 0)}/{scores.get('asked', 0)}",
        _num(scores.get("cost_usd_per_query"), "{:.4f}"),
        _num(latency.get("p50"), "{:.3f}") + status,
    ]


COMMON_HEADERS = ["Unreadable", "$/query", "p50 s"]


def tables(results: Sequence[dict[str, Any]]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) per probe, best first, references last."""
    out = []
    probes = sorted({doc["probe"]["name"] for doc in results})
    for probe in probes:
        docs = [d for d in results if d["probe"]["name"] == probe]
        kind = docs[0]["probe"]["kind"]
        keyed = []
        for doc in docs:
            name, model, reference = _judge(doc)
            scores = doc["scores"]
            head = [name, model, ", ".join(doc.get("tasks", []))]
            if kind == "binary":
                b = scores.get("binary") or {}
                key = b.get("auroc", math.nan)
                row = [
                    *head,
                    f"{b.get('n', 0)} ({b.get('positives', 0)}/{b.get('negatives', 0)})",
                    _ci(b.get("precision"), b.get("precision_ci")),
                    _ci(b.get("recall"), b.get("recall_ci")),
                    _ci(b.get("f1"), b.get("f1_ci")),
                    _ci(b.get("auroc"), b.get("auroc_ci")),
                ]
                headers = ["n (pos/neg)", "Precision", "Recall", "F1", "AUROC [DeLong]"]
            elif kind == "ranking":
                rho = scores.get("spearman_progress") or {}
                ret = scores.get("spearman_return") or {}
                ep = scores.get("spearman_episode_return") or {}
                key = rho.get("rho", math.nan)
                row = [
                    *head,
                    str(scores.get("answered", 0)),
                    _ci(rho.get("rho"), rho.get("ci")),
                    _ci(ret.get("rho"), ret.get("ci")),
                    _ci(ep.get("rho"), ep.get("ci")),
                    str(scores.get("distinct_answers", 0)),
                ]
                headers = ["n", "ρ progress", "ρ return so far", "ρ episode return", "Distinct"]
            else:
                num = scores.get("numeric") or {}
                rho = scores.get("spearman") or {}
                key = -num.get("mae", math.nan)
                unit = docs[0]["probe"]["question"].get("unit", "")
                common = ", ".join(f"{v:.3g}×{c}" for v, c in num.get("commonest", []))
                row = [
                    *head,
                    str(scores.get("answered", 0)),
                    _num(num.get("mae")),
                    _num(num.get("mae_constant_mean")),
                    str(num.get("distinct", 0)),
                    common or "–",
                    _ci(rho.get("rho"), rho.get("ci")),
                ]
                headers = [
                    "n",
                    f"MAE ({unit})" if unit else "MAE",
                    "MAE of the mean",
                    "Distinct",
                    "Commonest",
                    "ρ",
                ]
            sort = (reference, -key if not math.isnan(key) else math.inf)
            keyed.append((sort, [*row, *_common(doc)]))
        rows = [row for _, row in sorted(keyed, key=lambda kr: kr[0])]
        out.append(
            (f"Judges: {probe}", ["Judge", "Model", "Tasks", *headers, *COMMON_HEADERS], rows)
        )
    return out


def render(results: Sequence[dict[str, Any]], fmt: str = "md") -> str:
    """The judges tables in ``fmt`` (md, term or html)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    parts = tables(results)
    if fmt == "md":
        return _markdown(parts)
    if fmt == "html":
        return _html(parts)
    return _term(parts)


NOTE = (
    "Intervals are 95 %: Wilson for precision and recall, bootstrap for F1, DeLong for "
    "AUROC, Fisher z for Spearman's ρ. Unreadable = answers with no number in them."
)


def _md_cell(text: str) -> str:
    from vla_bench_leaderboard.markdown import md_escape

    return md_escape(text)


def _markdown(parts: list[tuple[str, list[str], list[list[str]]]]) -> str:
    lines: list[str] = []
    for title, headers, rows in parts:
        lines += [f"## {_md_cell(title)}", ""]
        lines.append("| " + " | ".join(_md_cell(h) for h in headers) + " |")
        lines.append("|" + "|".join("---" if i < 3 else "---:" for i in range(len(headers))) + "|")
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
        lines.append("")
    lines += [_md_cell(NOTE), ""]
    return "\n".join(lines)


def _html(parts: list[tuple[str, list[str], list[list[str]]]]) -> str:
    out = ['<section class="judges">']
    for title, headers, rows in parts:
        out.append(f"<h2>{html.escape(title)}</h2><table><thead><tr>")
        out += [f"<th>{html.escape(h)}</th>" for h in headers]
        out.append("</tr></thead><tbody>")
        for row in rows:
            out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
        out.append("</tbody></table>")
    out.append(f"<p>{html.escape(NOTE)}</p></section>")
    return "\n".join(out)


def _term(parts: list[tuple[str, list[str], list[list[str]]]]) -> str:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=io.StringIO(), width=200, highlight=False, emoji=False)
    for title, headers, rows in parts:
        table = Table(title=escape(title), title_justify="left", show_edge=False)
        for i, header in enumerate(headers):
            table.add_column(escape(header), justify="left" if i < 3 else "right")
        for row in rows:
            table.add_row(*(escape(c) for c in row))
        console.print(table)
        console.print()
    console.print(NOTE)
    return str(console.file.getvalue())  # type: ignore[attr-defined]
