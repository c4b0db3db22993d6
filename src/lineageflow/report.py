"""The benchmark report: read finished runs, draw plots (matplotlib), render one self-contained HTML page.

A *run folder* is a workflow output folder (config key ``out``). The report reads from it:

- ``eval/metrics.json``: TRA, DET, LNK, SEG, false and missed objects, division precision/recall/F1 (traccuracy and
  ``seg_metrics.ctc_seg``, rule evaluate_tracking);
- ``track/solution.json``: solver, status and gap of every tracking window (rule track_stitch);
- ``track/lineage_nodes.parquet`` and ``track/tracks.csv`` (CTC ``L B E P``): lineage tree and track positions (and,
  from physical against pixel positions, the pixel size for the scale bar);
- ``benchmarks/**/*.tsv``: Snakemake ``benchmark:`` files, one per job (``benchmarks/RULE.tsv`` or
  ``benchmarks/RULE/JOB.tsv`` for per-chunk and per-window rules): seconds summed and peak memory (max_rss)
  maximised over a rule's jobs, and the run's wall time (first job start to last job end);
- ``ctc/maskTTT.tif`` and the raw movie, to draw tracks over a few frames;
- ``qc/summary.json`` and ``qc/qc.png``: per-frame quality control, flagged frames (rule qc_summary, qc_report.py).

The page has no JavaScript and no external resources: CSS is inline, images are base64 ``data:`` URIs. Its header
holds the date it was made (``SOURCE_DATE_EPOCH`` when set) and the workflow's git commit (else the package
version); the figures carry neither, so the same input gives the same PNG bytes. "TRA across runs" comes from a
small history file (JSON) that every report appends to.

Modules: ``report_data`` (reading), ``report_figures`` (plots), ``report_html`` (the page); this one holds the
history, the provenance and ``make_report``, and re-exports their public names.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from .atomic import atomic_path
# the public names of the report_* modules stay importable from here
from .report_data import (RunData, pixel_size, read_benchmarks, read_run, safe_name, wall_seconds,  # noqa: F401
                          window_table)
from .report_figures import (PNG_METADATA,  # noqa: F401
                             _colour, _plt, _project, history_figure, history_has_trend,
                             history_points, lineage_figure, pick_frames, save_png, scale_bar_length,
                             time_memory_figure, tracks_figure)
from .report_html import (ACCURACY_KEYS,  # noqa: F401
                          COUNT_KEYS, CSS, LABELS, SECTIONS, _fmt, _img, _table, column_label,
                          duration, render_html, short_reason)

log = logging.getLogger("lineageflow")

SOFTWARE = ("lineageflow", "snakemake", "numpy", "scipy", "pandas", "scikit-learn", "scikit-image", "traccuracy",
            "mip", "highspy", "gurobipy", "matplotlib", "tifffile", "h5py")


# --- history ----------------------------------------------------------------------------------------------------

def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _read_history(path: Path) -> list[dict]:
    """The history so far; a file that does not parse as one (truncated by a full disk, edited by hand) is set aside
    as ``history.json.corrupt-N`` with a warning, and a new history starts."""
    if not path.exists():
        return []
    try:
        history = json.loads(path.read_text())
        if not (isinstance(history, list) and all(isinstance(h, dict) and isinstance(h.get("run"), int)
                                                  for h in history)):
            raise ValueError("not a list of runs")
        return history
    except (ValueError, UnicodeDecodeError) as exc:
        n = 1
        while path.with_name(f"{path.name}.corrupt-{n}").exists():
            n += 1
        aside = path.with_name(f"{path.name}.corrupt-{n}")
        path.rename(aside)
        log.warning("%s is not a report history (%s); set aside as %s, a new history starts", path, exc, aside.name)
        return []


def append_history(path: str | Path, runs: list[RunData], config: dict) -> list[dict]:
    """Add this report's TRA per dataset to the history file (a run counter, no date) and return all entries."""
    path = Path(path)
    history = _read_history(path)
    entry = {"run": (history[-1]["run"] + 1) if history else 1, "config_hash": config_hash(config),
             "lineageflow": _version("lineageflow"),
             "TRA": {r.name: (r.metrics or {}).get("TRA") for r in runs}}
    history.append(entry)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(history, indent=1, sort_keys=True))
    return history


# --- provenance -------------------------------------------------------------------------------------------------

def _version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def software_versions() -> dict[str, str]:
    return {"python": platform.python_version(), **{p: _version(p) for p in SOFTWARE}}


def _git(folder: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):  # no git on this machine
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def git_commit(folder: str | Path) -> str | None:
    """The short commit of the git checkout holding ``folder``, with ' + local changes' when tracked files differ
    from it; None outside a checkout or without git."""
    commit = _git(Path(folder), "rev-parse", "--short=12", "HEAD")
    if not commit:
        return None
    changed = _git(Path(folder), "status", "--porcelain", "--untracked-files=no")
    return commit + (" + local changes" if changed else "")


def report_date() -> str:
    """Now (UTC), or ``SOURCE_DATE_EPOCH`` when set (reproducible builds' convention)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    when = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch.isdigit() else datetime.now(timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def provenance(workflow_dir: str | Path | None = None) -> dict:
    """The report header's facts: date, the workflow's git commit (None when it is not a checkout) and version."""
    return {"date": report_date(), "commit": git_commit(workflow_dir) if workflow_dir else None,
            "version": _version("lineageflow")}


# --- one call ---------------------------------------------------------------------------------------------------

def _movie_readers(run: RunData, raw: dict):
    from .io import list_frames, open_movie
    import tifffile

    movie = open_movie(raw["path"], dataset=raw.get("dataset", ""), axes=raw.get("axes", ""))

    def raw_at(t):
        image = movie.read(t)
        return image[..., raw.get("channel", 0)] if movie.n_channels else image

    masks = list_frames(Path(run.out) / "ctc", what="CTC masks")

    def mask_at(t):
        return tifffile.imread(masks[t])

    return raw_at, mask_at, min(movie.n_frames, len(masks))


def make_report(datasets: list[dict], *, config: dict, html_path: str | Path, time_memory_png: str | Path,
                history_png: str | Path, lineage_pngs: list, tracks_pngs: list, qc_pngs: list,
                history_path: str | Path, n_frames_shown: int = 4,
                workflow_dir: str | Path | None = None, flow_pngs: list | None = None) -> list[RunData]:
    """Read every dataset's run (``{"name", "out", "raw": {path, dataset, axes, channel}}``, and ``"flow":
    {"frames_per_job"}`` for a run with config key flow.enabled), write the PNGs (``flow_pngs``: one per dataset with
    flow, in order), append to the history and write the HTML page (``workflow_dir``: the workflow's folder, for its
    git commit). Returns what was read."""
    from .qc_report import copy_qc_png
    from .report_flow import flow_figure, read_flow_report

    runs = [read_run(d["name"], d["out"], movie=d["raw"]["path"]) for d in datasets]
    figures: dict = {"lineage": {}, "tracks": {}, "qc": {}, "flow": {}}
    flows, flow_png = {}, iter(flow_pngs or [])
    figures["time_memory"] = save_png(time_memory_figure(runs), time_memory_png)
    for run, d, lpng, tpng, qpng in zip(runs, datasets, lineage_pngs, tracks_pngs, qc_pngs):
        figures["lineage"][run.name] = save_png(lineage_figure(run.tracks, run.name), lpng)
        figures["qc"][run.name] = copy_qc_png(run.out, run.name, qpng)
        raw_at, mask_at, n = _movie_readers(run, d["raw"])
        figures["tracks"][run.name] = save_png(
            tracks_figure(raw_at, mask_at, run.nodes, pick_frames(n, n_frames_shown), run.name,
                          pixel_size=pixel_size(run.nodes)), tpng)
        if d.get("flow"):
            first = raw_at(0)
            flows[run.name] = read_flow_report(run.out, n, d["flow"]["frames_per_job"], first.shape)
            figures["flow"][run.name] = save_png(flow_figure(flows[run.name], first, run.name), next(flow_png))
    history = append_history(history_path, runs, config)
    history_png_bytes = save_png(history_figure(history), history_png)  # a rule output, also before a trend
    figures["history"] = history_png_bytes if history_has_trend(history) else None
    page = render_html(runs, figures=figures, config=config, versions=software_versions(), history=history,
                       provenance=provenance(workflow_dir), flows=flows)
    with atomic_path(html_path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return runs
