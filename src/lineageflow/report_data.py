"""What the benchmark report reads from a finished run folder (see ``lineageflow.report`` for the list of files)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError

NODE_COLUMNS = ["frame", "label", "centroid_y", "centroid_x", "pos_x", "track_id", "lineage_id"]


@dataclass
class RunData:
    name: str
    out: str
    metrics: dict | None
    solution: dict
    windows: pd.DataFrame
    benchmarks: pd.DataFrame
    tracks: pd.DataFrame
    nodes: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    qc: dict | None = None  # qc/summary.json; None for a run folder without QC
    weights: dict | None = None  # track/weights.json when the run learnt its tracking weights
    wall_seconds: float | None = None  # first job's start to last job's end (benchmark files)
    movie: str = ""  # the raw movie (config key input), as the run was given it


def safe_name(name: str) -> str:
    """A dataset name usable in file names."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("_") or "run"


def _benchmark_files(folder: Path):
    """(rule, path, table) per readable Snakemake benchmark file under ``folder``."""
    for tsv in sorted(folder.rglob("*.tsv")):
        rule = tsv.stem if tsv.parent == folder else tsv.relative_to(folder).parts[0]
        try:
            table = pd.read_csv(tsv, sep="\t")
        except (pd.errors.EmptyDataError, pd.errors.ParserError):
            continue
        if "s" in table and not table.empty:
            yield rule, tsv, table


def read_benchmarks(folder: str | Path) -> pd.DataFrame:
    """Snakemake benchmark files under ``folder``: one row per rule with jobs, seconds (sum) and max_rss MB (max)."""
    rows = []
    for rule, _, table in _benchmark_files(Path(folder)):
        seconds = pd.to_numeric(table["s"], errors="coerce").mean()  # repeats (benchmark: repeat()) averaged
        rss = pd.to_numeric(table.get("max_rss", pd.Series(dtype=float)), errors="coerce").max()
        rows.append({"rule": rule, "seconds": float(seconds), "max_rss_mb": float(rss) if pd.notna(rss) else np.nan})
    if not rows:
        return pd.DataFrame(columns=["rule", "jobs", "seconds", "max_rss_mb"])
    df = pd.DataFrame(rows)
    out = df.groupby("rule", sort=True).agg(jobs=("seconds", "size"), seconds=("seconds", "sum"),
                                            max_rss_mb=("max_rss_mb", "max")).reset_index()
    return out.sort_values(["seconds", "rule"], ascending=[False, True], kind="stable").reset_index(drop=True)


def wall_seconds(folder: str | Path) -> float | None:
    """Wall time of the jobs timed under ``folder``: from the earliest job start to the latest job end. Snakemake
    writes a benchmark file when its job ends, so a job ran from the file's modification time minus its seconds.
    None without benchmark files."""
    spans = []
    for _, tsv, table in _benchmark_files(Path(folder)):
        end = tsv.stat().st_mtime
        spans.append((end - float(pd.to_numeric(table["s"], errors="coerce").fillna(0).sum()), end))
    if not spans:
        return None
    return max(0.0, max(e for _, e in spans) - min(s for s, _ in spans))


def pixel_size(nodes: pd.DataFrame) -> float | None:
    """Physical width of a pixel along x: ``pos_x`` is ``centroid_x`` (pixels) times the voxel size. None when the
    table cannot tell (no node away from x = 0, or no physical positions)."""
    if "pos_x" not in nodes or nodes.empty:
        return None
    away = nodes[nodes["centroid_x"] > 0.5]
    if away.empty:
        return None
    size = float(np.median(away["pos_x"].to_numpy(float) / away["centroid_x"].to_numpy(float)))
    return float(f"{size:.6g}") if np.isfinite(size) and size > 0 else None  # 0.5000000001 → 0.5


def window_table(solution: dict) -> pd.DataFrame:
    """One row per tracking window (a global solve without ``windows`` is one row)."""
    windows = solution.get("windows") or [{**solution, "window": "global"}]
    rows = []
    for w in windows:
        frames = w.get("frames") or [None, None]
        rows.append({"window": str(w.get("window", "")),
                     "frames": f"{frames[0]}–{frames[1] - 1}" if None not in frames else "",
                     "solver": w.get("solver", ""), "status": w.get("status", ""), "gap": w.get("gap"),
                     "seconds": w.get("seconds"), "objects": w.get("n_objects", w.get("n_detections")),
                     "variables": w.get("n_variables")})
    return pd.DataFrame(rows)


def read_run(name: str, out: str | Path, movie: str = "") -> RunData:
    """Everything the report shows about one finished run folder (``movie``: the raw movie it was given)."""
    out = Path(out)
    notes = []
    metrics_path = out / "eval" / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else None
    if metrics is None:
        notes.append(f"{metrics_path} is missing: no accuracy (ground truth is given by config key 'gt')")
    elif "SEG" not in metrics:
        notes.append(f"{metrics_path} has no SEG (it predates SEG in lineageflow): "
                     "rerun with --forcerun evaluate_tracking for it")
    solution_path = out / "track" / "solution.json"
    if not solution_path.exists():
        raise InputError(f"{solution_path} is missing: the run in {out} has not finished tracking")
    solution = json.loads(solution_path.read_text())
    tracks = pd.read_csv(out / "track" / "tracks.csv")
    nodes_path = out / "track" / "lineage_nodes.parquet"
    nodes = pd.read_parquet(nodes_path, columns=[c for c in NODE_COLUMNS if c in _parquet_columns(nodes_path)])
    qc = json.loads((out / "qc" / "summary.json").read_text()) if (out / "qc" / "summary.json").exists() else None
    wpath = out / "track" / "weights.json"
    # a weights.json left from an earlier run in the same folder is not this run's
    weights = json.loads(wpath.read_text()) if solution.get("weights_learned") and wpath.exists() else None
    dpath = out / "eval" / "metrics_default_weights.json"
    if weights is not None and dpath.exists():
        weights["default_metrics"] = json.loads(dpath.read_text())
    return RunData(name=name, out=str(out), metrics=metrics, solution=solution, windows=window_table(solution),
                   benchmarks=read_benchmarks(out / "benchmarks"), tracks=tracks, nodes=nodes, notes=notes, qc=qc,
                   weights=weights, wall_seconds=wall_seconds(out / "benchmarks"), movie=str(movie))


def _parquet_columns(path: Path) -> set[str]:
    import pyarrow.parquet as pq

    return set(pq.read_schema(path).names)
