"""``report.html``: one self-contained page per experiment, readable offline and easy to send around.

It holds the question, the contrast table (mean and an interval over seeds), every experiment figure
(PNG, and GIF animations, embedded as base64, with its caption from ``plots/captions.json``), the figures of each run that has
them (folded), the state of every piece, and the resolved spec. Everything is read from the experiment
directory's files, so a report can be rebuilt at any time with ``rlcredit report EXP_DIR``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from rlcredit.experiments.contrast import build_contrast, table_cells
from rlcredit.experiments.directory import EVAL_FILE, EXPERIMENT_FILE, load_experiment
from rlcredit.experiments.spec import expand_pieces
from rlcredit.tracking import atomic_write_text

__all__ = ["REPORT_FILE", "write_report"]

REPORT_FILE = "report.html"

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 1180px;
       padding: 0 1.2rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.7rem; margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
.question { font-size: 1.2rem; color: #333; margin: 0.4rem 0 1rem; }
.meta { color: #666; font-size: 0.85rem; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.8rem 0; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 0.3rem 0.6rem; text-align: right; white-space: nowrap; }
th { background: #f5f5f5; } td:nth-child(-n+2), th:nth-child(-n+2) { text-align: left; }
tr.plan td:first-child { font-style: italic; }
figure { margin: 1.4rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.88rem; margin-top: 0.3rem; max-width: 900px; }
details { margin: 0.6rem 0; } summary { cursor: pointer; font-weight: 600; }
pre { background: #f7f7f7; padding: 0.8rem; overflow-x: auto; font-size: 0.8rem; }
.failed { color: #b00020; } code { background: #f3f3f3; padding: 0 0.2rem; }
"""


def _captions(plots_dir: Path) -> dict[str, str]:
    path = plots_dir / "captions.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}


_FIRST = ("discoverability", "power", "contrast", "learning_curves", "reach", "env_map", "policy_field")
_RUN_FIRST = (
    "env_map",
    "policy_field",
    "reach",
    "learning_curves",
    "shaping_map",
    "credit_map",
    "credit_vs_exact",
)


def _figures(plots_dir: Path, first: tuple[str, ...] = _FIRST) -> str:
    """Every PNG (and GIF animation) of a plots directory as ``<figure>`` elements with their captions.

    Figures whose names start with an entry of ``first`` come first, in that order; then the rest by name.
    """
    if not plots_dir.is_dir():
        return ""
    captions = _captions(plots_dir)
    files = [*plots_dir.glob("*.png"), *plots_dir.glob("*.gif")]

    def rank(p: Path) -> tuple[int, str]:
        return next((i for i, f in enumerate(first) if p.stem.startswith(f)), len(first)), p.name

    parts = []
    for path in sorted(files, key=rank):
        mime = "image/gif" if path.suffix == ".gif" else "image/png"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        caption = captions.get(path.name, "")
        parts.append(
            f'<figure><img alt="{html.escape(path.stem)}" src="data:{mime};base64,{data}">'
            f"<figcaption><b>{html.escape(path.stem)}</b>{': ' + html.escape(caption) if caption else ''}"
            f"</figcaption></figure>"
        )
    return "\n".join(parts)


def _table_html(header: list[str], rows: list[list[str]], kinds: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "\n".join(
        f'<tr class="{html.escape(k)}">' + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
        for r, k in zip(rows, kinds)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def _pieces_html(exp_dir: Path, spec: Any) -> tuple[str, list[Any]]:

    pieces = expand_pieces(spec, exp_dir)
    done = [p for p in pieces if (Path(p.run_dir) / EVAL_FILE).is_file()]
    missing = [p for p in pieces if p not in done]
    text = f"<p>{len(done)} of {len(pieces)} pieces finished.</p>"
    if missing:
        names = ", ".join(f"<code>{html.escape(p.name)}</code>" for p in missing)
        text += (
            f'<p class="failed">Not finished: {names}. Continue with '
            f"<code>rlcredit run --resume {html.escape(str(exp_dir))}</code>.</p>"
        )
    return text, done


def write_report(exp_dir: str | os.PathLike[str], *, table: pd.DataFrame | None = None) -> Path:
    """Write ``EXP_DIR/report.html`` from the experiment directory's files and return its path.

    Parameters
    ----------
    exp_dir : path-like
        An experiment directory (with ``experiment.toml``).
    table : DataFrame, optional
        The contrast table, if already computed (:func:`~rlcredit.experiments.contrast.contrast_table`).

    Raises
    ------
    FileNotFoundError
        If ``exp_dir`` is not an experiment directory.
    """

    exp_dir = Path(exp_dir)
    spec, info = load_experiment(exp_dir)
    if table is None:
        _, table = build_contrast(exp_dir, spec)
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>{esc(spec.name)}: rlcredit experiment</title>',
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{esc(spec.name)}</h1>",
        f'<p class="question">{esc(spec.question)}</p>',
    ]
    if spec.description:
        parts.append(f"<p>{esc(spec.description)}</p>")
    envs = "; ".join(f"{e.label} (test: {', '.join(t.label for t in e.tests)})" for e in spec.envs)
    parts.append(
        f'<p class="meta">run {esc(str(info.get("run_id", exp_dir.name)))} · wandb group '
        f"<code>{esc(str(info.get('group', '')))}</code> · seeds {esc(str(spec.seed_list))} · envs {esc(envs)} · "
        f"agents {esc(', '.join(spec.agents))} · report written "
        f"{_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}<br>{esc(str(exp_dir.resolve()))}</p>"
    )
    pieces_text, _ = _pieces_html(exp_dir, spec)
    parts.append("<h2>Contrast</h2>")
    if table.empty:
        parts.append("<p>No piece has finished yet.</p>")
    else:
        header, rows = table_cells(table, spec.metrics)
        parts.append(_table_html(header, rows, [str(k) for k in table["kind"]]))
        parts.append(
            '<p class="meta">Mean over seeds; in brackets a 95% bootstrap confidence interval (BCa) with 5+ seeds, '
            "the range over the seeds with fewer; IQM = interquartile "
            "mean (5+ seeds). <i>optimal</i>: best expected return on the test env (backward induction); "
            "<i>regret</i> = optimal − return. Rates are fractions of test episodes; <i>exact</i> figures are "
            "computed from the env's model for the final policy. Planner rows are in italics. Files: "
            "<code>contrast.csv</code> (long form), <code>evals.csv</code> (per seed).</p>"
        )
    parts.append(pieces_text)
    figures = _figures(exp_dir / "plots")
    if figures:
        parts += ["<h2>Figures</h2>", figures]
    run_parts = []
    for run_dir in sorted(
        p for p in exp_dir.iterdir() if (p / "plots").is_dir() and any((p / "plots").glob("*.png"))
    ):
        run_parts.append(
            f"<details><summary>{esc(run_dir.name)}</summary>{_figures(run_dir / 'plots', _RUN_FIRST)}</details>"
        )
    if run_parts:
        parts += ["<h2>Runs</h2>", "<p>Figures of single runs (first seed of each agent).</p>", *run_parts]
    spec_text = (exp_dir / EXPERIMENT_FILE).read_text(encoding="utf-8")
    parts += ["<h2>Spec</h2>", f"<pre>{esc(spec_text)}</pre>", "</body></html>"]
    path = exp_dir / REPORT_FILE
    atomic_write_text(path, "\n".join(parts) + "\n")
    return path
