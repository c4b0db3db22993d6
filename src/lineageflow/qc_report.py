"""Quality control in pictures and in the benchmark report: the QC plot of a run and its report section."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_path
from .report import _img, _plt, _table, save_png

NOTE = ("<p>Per frame, without ground truth (<code>qc/frames.csv</code>): object count, mean probability margin "
        "|2p − 1| and fraction of uncertain pixels; a frame is flagged when it is blank, non-finite or saturated, or "
        "when its object count jumps or its margin drops (thresholds: config section <code>qc</code>). Bad raw "
        "frames (<code>qc/frame_check.csv</code>: non-finite, saturated, empty, or a mean or std far from the "
        "movie's) are skipped or kept as config key <code>input_check.bad_frames</code> says.</p>")


def qc_figure(table: pd.DataFrame | None, title: str = ""):
    """Object count, probability margin and uncertain fraction against frame; flagged frames marked in red.
    ``table`` None (a run folder without QC outputs) gives a figure saying so."""
    plt = _plt()
    prefix = f"{title}: " if title else ""
    if table is None:
        fig, ax = plt.subplots(figsize=(8, 1.2))
        ax.text(0.5, 0.5, f"{prefix}no quality-control table in this run folder", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    fig, axes = plt.subplots(3, 1, figsize=(8, 5.4), sharex=True)
    frames = table["frame"].to_numpy()
    bad = (table["flags"] != "").to_numpy()
    panels = (("n_objects", "objects"), ("mean_probability_margin", "mean |2p − 1|"),
              ("uncertain_fraction", "uncertain fraction"))
    for ax, (column, label) in zip(axes, panels):
        y = table[column].to_numpy(float)
        for t in frames[bad]:
            ax.axvline(t, color="#d62728", alpha=0.25, lw=3)
        if np.isfinite(y).any():
            ax.plot(frames, y, "-", color="#1f3b57", lw=1.2)
            ax.plot(frames[bad], y[bad], "o", color="#d62728", ms=4)
        else:
            ax.text(0.5, 0.5, "no probabilities (objects from label images)", ha="center", va="center",
                    transform=ax.transAxes, color="#666")
        ax.set_ylabel(label)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[-1].set_xlabel("frame")
    n_bad = int(bad.sum())
    flagged = f"{n_bad} flagged (red)" if n_bad else "no frame flagged"
    axes[0].set_title(f"{prefix}{len(table)} frames, {flagged}")
    fig.tight_layout()
    return fig


def copy_qc_png(out: str | Path, name: str, path: str | Path) -> bytes:
    """A run's own QC plot (``out``/qc/qc.png) written to ``path``; for a run folder without one, a figure saying
    so. Returns the PNG bytes."""
    source = Path(out) / "qc" / "qc.png"
    data = source.read_bytes() if source.exists() else save_png(qc_figure(None, name))
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return data


def report_text(summary: dict | None) -> tuple[str, list[tuple[int, str]]]:
    """What the report says about a run's QC: one sentence, and the flagged frames as (frame, reasons)."""
    if summary is None:
        return "no quality-control outputs (qc/summary.json) in this run folder", []
    rows = [(int(f["frame"]), str(f["flags"])) for f in summary["flagged"]]
    margin, uncertain = summary.get("median_mean_probability_margin"), summary.get("median_uncertain_fraction")
    medians = (f" (median margin {margin:.3f}, median uncertain fraction {uncertain:.4f})"
               if margin is not None and uncertain is not None else "")
    if not rows:
        return f"{summary['n_frames']} frames{medians}: no frame flagged", []
    return f"{summary['n_frames']} frames{medians}: {len(rows)} flagged as unreliable{_input_check_text(summary)}", rows


def _input_check_text(summary: dict) -> str:
    """'; N bad raw frames (input check): k skipped, m kept', or '' when the input check found none."""
    check = summary.get("input_check") or {}
    frames = check.get("frames") or []
    if not frames:
        return ""
    skipped = sum(f["action"] == "skipped" for f in frames)
    return f"; {len(frames)} bad raw frame(s) (input check): {skipped} skipped, {len(frames) - skipped} kept"


def input_check_rows(summary: dict | None) -> list[list[str]]:
    """The report's rows for the bad raw frames: frame, file, kind, why, what was done."""
    check = (summary or {}).get("input_check") or {}
    rows = [[str(f["frame"]), f["file"], f["kind"], f["reason"], f["action"]] for f in check.get("frames") or []]
    rows += [[str(f["frame"]), f["file"], "other dtype", f["note"], "converted"] for f in check.get("dtype_notes") or []]
    return sorted(rows, key=lambda r: int(r[0]))


def qc_section(runs, pngs: dict[str, bytes]) -> str:
    """The report's QC section: per run its plot and its flagged frames (or that none is flagged)."""
    parts = []
    for r in runs:
        text, rows = report_text(r.qc)
        parts.append(f"<h3>{html.escape(r.name)}</h3>{_img(pngs[r.name], f'quality control {r.name}')}"
                     f'<p{"" if r.qc else " class=note"}>{html.escape(text)}</p>')
        if rows:
            parts.append(_table(["frame", "why it looks unreliable"], [[t, html.escape(f)] for t, f in rows]))
        bad = input_check_rows(r.qc)
        if bad:
            parts.append("<p>Raw frames the input check names (<code>qc/frame_check.csv</code>):</p>")
            parts.append(_table(["frame", "file", "kind", "why", "handling"],
                                [[html.escape(c) for c in row] for row in bad]))
    return "".join(parts) + NOTE
