"""The benchmark report: read finished runs, draw plots (matplotlib), render one self-contained HTML page.

A *run folder* is a workflow output folder (config key ``out``). The report reads from it:

- ``eval/metrics.json``: TRA, DET, LNK, division precision/recall/F1 (traccuracy, rule evaluate_tracking);
- ``track/solution.json``: solver, status and gap of every tracking window (rule track_stitch);
- ``track/lineage_nodes.parquet`` and ``track/tracks.csv`` (CTC ``L B E P``): lineage tree and track positions;
- ``benchmarks/**/*.tsv``: Snakemake ``benchmark:`` files, one per job (``benchmarks/RULE.tsv`` or
  ``benchmarks/RULE/JOB.tsv`` for per-chunk and per-window rules): seconds summed and peak memory (max_rss)
  maximised over a rule's jobs;
- ``ctc/maskTTT.tif`` and the raw movie, to draw tracks over a few frames;
- ``qc/summary.json`` and ``qc/qc.png``: per-frame quality control, flagged frames (rule qc_summary, qc_report.py).

The page has no JavaScript and no external resources: CSS is inline, images are base64 ``data:`` URIs. The same
input gives the same bytes (PNG metadata carries no software version or date). "TRA across runs" comes from a
small history file (JSON) that every report appends to.
"""

from __future__ import annotations

import base64
import hashlib
import html
import importlib.metadata
import io
import json
import logging
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_path
from .errors import InputError

log = logging.getLogger("lineageflow")

ACCURACY_KEYS = ("TRA", "DET", "LNK", "division_precision", "division_recall", "division_f1")
SECTIONS = {
    "accuracy": "Accuracy",
    "time-memory": "Time and memory per rule",
    "solver": "Solver per window",
    "lineage": "Lineage trees",
    "tracks": "Tracks over the movie",
    "qc": "Quality control (no ground truth)",
    "weights": "Learned tracking weights",
    "history": "TRA across runs",
    "configuration": "Configuration",
    "software": "Software versions",
}
SOFTWARE = ("lineageflow", "snakemake", "numpy", "scipy", "pandas", "scikit-learn", "scikit-image", "traccuracy",
            "mip", "highspy", "gurobipy", "matplotlib", "tifffile", "h5py")
PNG_METADATA = {"Software": None}  # no matplotlib version in the file: same figure, same bytes


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


def safe_name(name: str) -> str:
    """A dataset name usable in file names."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("_") or "run"


# --- reading ----------------------------------------------------------------------------------------------------

def read_benchmarks(folder: str | Path) -> pd.DataFrame:
    """Snakemake benchmark files under ``folder``: one row per rule with jobs, seconds (sum) and max_rss MB (max)."""
    folder = Path(folder)
    rows = []
    for tsv in sorted(folder.rglob("*.tsv")):
        rule = tsv.stem if tsv.parent == folder else tsv.relative_to(folder).parts[0]
        try:
            table = pd.read_csv(tsv, sep="\t")
        except (pd.errors.EmptyDataError, pd.errors.ParserError):
            continue
        if "s" not in table or table.empty:
            continue
        seconds = pd.to_numeric(table["s"], errors="coerce").mean()  # repeats (benchmark: repeat()) averaged
        rss = pd.to_numeric(table.get("max_rss", pd.Series(dtype=float)), errors="coerce").max()
        rows.append({"rule": rule, "seconds": float(seconds), "max_rss_mb": float(rss) if pd.notna(rss) else np.nan})
    if not rows:
        return pd.DataFrame(columns=["rule", "jobs", "seconds", "max_rss_mb"])
    df = pd.DataFrame(rows)
    out = df.groupby("rule", sort=True).agg(jobs=("seconds", "size"), seconds=("seconds", "sum"),
                                            max_rss_mb=("max_rss_mb", "max")).reset_index()
    return out.sort_values(["seconds", "rule"], ascending=[False, True], kind="stable").reset_index(drop=True)


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


def read_run(name: str, out: str | Path) -> RunData:
    """Everything the report shows about one finished run folder."""
    out = Path(out)
    notes = []
    metrics_path = out / "eval" / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else None
    if metrics is None:
        notes.append(f"{metrics_path} is missing: no accuracy (ground truth is given by config key 'gt')")
    solution_path = out / "track" / "solution.json"
    if not solution_path.exists():
        raise InputError(f"{solution_path} is missing: the run in {out} has not finished tracking")
    solution = json.loads(solution_path.read_text())
    tracks = pd.read_csv(out / "track" / "tracks.csv")
    nodes = pd.read_parquet(out / "track" / "lineage_nodes.parquet",
                            columns=["frame", "label", "centroid_y", "centroid_x", "track_id", "lineage_id"])
    qc = json.loads((out / "qc" / "summary.json").read_text()) if (out / "qc" / "summary.json").exists() else None
    wpath = out / "track" / "weights.json"
    # a weights.json left from an earlier run in the same folder is not this run's
    weights = json.loads(wpath.read_text()) if solution.get("weights_learned") and wpath.exists() else None
    dpath = out / "eval" / "metrics_default_weights.json"
    if weights is not None and dpath.exists():
        weights["default_metrics"] = json.loads(dpath.read_text())
    return RunData(name=name, out=str(out), metrics=metrics, solution=solution, windows=window_table(solution),
                   benchmarks=read_benchmarks(out / "benchmarks"), tracks=tracks, nodes=nodes, notes=notes, qc=qc,
                   weights=weights)


# --- figures ----------------------------------------------------------------------------------------------------

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "lineageflow", "font.size": 9})
    return plt


def save_png(fig, path: str | Path | None = None) -> bytes:
    """The figure as PNG bytes (deterministic), also written atomically to ``path`` when given."""
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata=PNG_METADATA)
    plt.close(fig)
    data = buf.getvalue()
    if path is not None:
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    return data


def _colour(i: int):
    plt = _plt()
    return plt.get_cmap("tab20")(int(i) % 20)


def lineage_figure(tracks: pd.DataFrame, title: str = "", max_tracks: int = 400):
    """Lineage trees: time left to right, one horizontal line per track, a division joins parent and daughters."""
    plt = _plt()
    tracks = tracks.sort_values("L").reset_index(drop=True)
    if len(tracks) > max_tracks:  # keep the largest lineages whole
        roots = _roots(tracks)
        size = roots.value_counts()
        keep = set(size.index[np.cumsum(size.to_numpy()) <= max_tracks]) or {size.index[0]}
        tracks = tracks[roots.isin(keep).to_numpy()].reset_index(drop=True)
    children: dict[int, list[int]] = {}
    for lab, parent in zip(tracks["L"], tracks["P"]):
        children.setdefault(int(parent), []).append(int(lab))
    span = {int(r.L): (int(r.B), int(r.E)) for r in tracks.itertuples()}
    known = set(span)
    parent_of = dict(zip(tracks["L"].astype(int), tracks["P"].astype(int)))
    roots = [lab for lab in span if parent_of[lab] not in known]
    y: dict[int, float] = {}
    next_row = [0.0]

    def place(lab: int) -> float:  # leaves get consecutive rows, a parent sits between its daughters
        kids = children.get(lab, [])
        if not kids:
            y[lab] = next_row[0]
            next_row[0] += 1
        else:
            y[lab] = float(np.mean([place(k) for k in kids]))
        return y[lab]

    root_of = {}
    for r in sorted(roots):
        place(r)
        stack = [r]
        while stack:
            lab = stack.pop()
            root_of[lab] = r
            stack.extend(children.get(lab, []))
        next_row[0] += 0.6  # gap between lineages
    rows = max(next_row[0], 1)
    fig, ax = plt.subplots(figsize=(9, min(12, max(2.5, 0.12 * rows + 1))))
    for lab, (b, e) in span.items():
        c = _colour(root_of.get(lab, lab))
        ax.plot([b, e + 0.9], [y[lab], y[lab]], color=c, lw=1.6, solid_capstyle="butt")
        for k in children.get(lab, []):
            ax.plot([e + 0.9, span[k][0]], [y[lab], y[k]], color=c, lw=0.8)
        if children.get(lab):
            ax.plot([e + 0.9], [y[lab]], marker="o", ms=3, color=c)
    ax.invert_yaxis()
    ax.set_yticks([])
    ax.set_xlabel("frame")
    n_div = sum(1 for k in children if k in known and len(children[k]) >= 2)
    ax.set_title(f"{title}: {len(span)} tracks, {len(roots)} lineages, {n_div} divisions" if title else "")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def _roots(tracks: pd.DataFrame) -> pd.Series:
    parent = dict(zip(tracks["L"].astype(int), tracks["P"].astype(int)))
    out = []
    for lab in tracks["L"].astype(int):
        seen = 0
        while parent.get(lab, 0) in parent and seen < len(parent):
            lab, seen = parent[lab], seen + 1
        out.append(lab)
    return pd.Series(out)


def pick_frames(n_frames: int, k: int = 4) -> list[int]:
    """``k`` frames spread over the movie (first and last included)."""
    if n_frames <= 0:
        return []
    return sorted({int(round(v)) for v in np.linspace(0, n_frames - 1, min(k, n_frames))})


def _project(image: np.ndarray) -> np.ndarray:
    """Maximum projection along z of a 3D frame; 2D frames unchanged."""
    return image.max(axis=0) if image.ndim == 3 else image


def tracks_figure(raw_at, mask_at, nodes: pd.DataFrame, frames: list[int], title: str = "", trail: int = 5):
    """Raw frames (max projection in 3D) with each track's mask outline and its last ``trail`` positions."""
    plt = _plt()
    from skimage.segmentation import find_boundaries

    n = len(frames)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.6), squeeze=False)
    for ax, t in zip(axes[0], frames):
        image = _project(np.asarray(raw_at(t), dtype=float))
        lo, hi = np.percentile(image, [1, 99.5])
        ax.imshow(np.clip((image - lo) / max(hi - lo, 1e-9), 0, 1), cmap="gray", interpolation="nearest")
        mask = _project(np.asarray(mask_at(t)))
        overlay = np.zeros(mask.shape + (4,))
        edges = find_boundaries(mask, mode="inner")
        for lab in np.unique(mask[edges]):
            if lab:
                overlay[edges & (mask == lab)] = _colour(lab)
        ax.imshow(overlay, interpolation="nearest")
        recent = nodes[(nodes["frame"] <= t) & (nodes["frame"] > t - trail)]
        for tid, path in recent.sort_values("frame").groupby("track_id", sort=True):
            if (path["frame"] == t).any():
                ax.plot(path["centroid_x"], path["centroid_y"], "-", color=_colour(tid), lw=1.2)
                last = path.iloc[-1]
                ax.text(last["centroid_x"], last["centroid_y"], str(int(tid)), color="white", fontsize=6,
                        ha="center", va="center")
        ax.set_title(f"frame {t}")
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def time_memory_figure(runs: list[RunData]):
    """Seconds per rule (summed over jobs) and peak memory per rule, one bar colour per dataset."""
    plt = _plt()
    total = pd.concat([run.benchmarks[["rule", "seconds"]] for run in runs]).groupby("rule")["seconds"].sum()
    rules = sorted(total.index, key=lambda r: (-total[r], r))  # slowest first, as in the tables
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, max(2.5, 0.28 * len(rules) * max(1, len(runs)) ** 0.5 + 1)))
    height = 0.8 / max(1, len(runs))
    for i, run in enumerate(runs):
        b = run.benchmarks.set_index("rule").reindex(rules)
        pos = np.arange(len(rules)) + i * height
        a1.barh(pos, b["seconds"].fillna(0), height, label=run.name, color=_colour(2 * i))
        a2.barh(pos, b["max_rss_mb"].fillna(0), height, label=run.name, color=_colour(2 * i))
    for ax, label in ((a1, "seconds (sum over jobs)"), (a2, "peak memory, MB (max over jobs)")):
        ax.set_yticks(np.arange(len(rules)) + 0.4 - height / 2)
        ax.set_yticklabels(rules)
        ax.invert_yaxis()
        ax.set_xlabel(label)
    a2.set_yticklabels([])
    if len(runs) > 1:
        a1.legend(fontsize=7)
    fig.tight_layout()
    return fig


def history_figure(history: list[dict]):
    """TRA per dataset across report runs (history entries)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3))
    names = sorted({n for h in history for n in h.get("TRA", {})})
    if len(history) < 2:
        ax.text(0.5, 0.5, "first report: no earlier runs to compare with yet", ha="center", va="center",
                transform=ax.transAxes)
    for i, name in enumerate(names):
        pts = [(h["run"], h["TRA"][name]) for h in history if h.get("TRA", {}).get(name) is not None]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, "o-", label=name, color=_colour(2 * i))
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("report run")
    ax.set_ylabel("TRA")
    if names:
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


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


# --- HTML -------------------------------------------------------------------------------------------------------

def _version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def software_versions() -> dict[str, str]:
    return {"python": platform.python_version(), **{p: _version(p) for p in SOFTWARE}}


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _fmt(v, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if isinstance(v, (float, np.floating)):
        return f"{v:.{digits}f}"
    return html.escape(str(v))


def _table(header: list[str], rows: list[list], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f3b57;color:#fff;padding:14px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85}nav{padding:8px 28px;background:#e8eef4;font-size:14px}
nav a{margin-right:14px;color:#1f3b57}main{padding:0 28px 40px;max-width:1200px}
section{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:10px 18px;margin:18px 0}
h2{font-size:18px;color:#1f3b57}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:right}
th{background:#f0f3f6}td:first-child,th:first-child{text-align:left}
img{max-width:100%;height:auto;border:1px solid #eee}.note{color:#8a4b00}pre{background:#f5f5f5;padding:8px;
overflow:auto;font-size:12px;max-height:420px}
"""


def render_html(runs: list[RunData], *, figures: dict, config: dict, versions: dict, history: list[dict]) -> str:
    """The report page. ``figures``: {"time_memory": png, "history": png, "lineage": {name: png},
    "tracks": {name: png}, "qc": {name: png}}."""
    from .learn_report import weights_section  # here, not at the top: these modules import this one
    from .qc_report import qc_section
    parts = []
    acc_rows = []
    notes = []
    for r in runs:
        m = r.metrics
        if m is None:
            acc_rows.append([html.escape(r.name)] + ["no ground truth"] * len(ACCURACY_KEYS) + ["–"])
        else:
            acc_rows.append([html.escape(r.name)] + [_fmt(m.get(k)) for k in ACCURACY_KEYS]
                            + [f"{m.get('n_pred_divisions', '–')} / {m.get('n_gt_divisions', '–')}"])
        notes += [f"{r.name}: {n}" for n in r.notes]
    acc = _table(["dataset", *ACCURACY_KEYS, "divisions predicted / in GT"], acc_rows, "accuracy")
    acc += "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)
    acc += "<p>traccuracy's CTC metrics (TRA, DET, LNK) and division metrics (no frame buffer).</p>"
    parts.append(("accuracy", acc))

    tm = _img(figures["time_memory"], "time and memory per rule")
    for r in runs:
        rows = [[html.escape(b.rule), int(b.jobs), _fmt(b.seconds, 1), _fmt(b.max_rss_mb, 0)]
                for b in r.benchmarks.itertuples()]
        total = r.benchmarks["seconds"].sum()
        rows.append(["<b>total</b>", int(r.benchmarks["jobs"].sum()), f"<b>{total:.1f}</b>", ""])
        tm += f"<h3>{html.escape(r.name)}</h3>" + _table(["rule", "jobs", "seconds (sum)", "peak MB (max)"], rows)
    tm += "<p>From Snakemake's <code>benchmark:</code> files: wall-clock seconds summed over a rule's jobs, " \
          "max_rss maximised over them. Jobs that ran in parallel overlap in time.</p>"
    parts.append(("time-memory", tm))

    sol = ""
    for r in runs:
        s = r.solution
        rows = [[html.escape(w.window), html.escape(w.frames), html.escape(str(w.solver)), html.escape(str(w.status)),
                 _fmt(w.gap, 6), _fmt(w.seconds, 2), _fmt(w.objects), _fmt(w.variables)]
                for w in r.windows.itertuples()]
        sol += (f"<h3>{html.escape(r.name)}</h3><p>stitched solution: solver {_fmt(s.get('solver'))}, status "
                f"{_fmt(s.get('status'))}, gap {_fmt(s.get('gap'), 6)}, objective {_fmt(s.get('objective'), 2)}, "
                f"{len(r.windows)} window(s), {len(s.get('seams') or [])} seam(s)</p>")
        if s.get("reason"):
            sol += f"<p>solver choice: {html.escape(str(s['reason']))}</p>"
        sol += _table(["window", "frames", "solver", "status", "gap", "seconds", "objects", "variables"], rows)
    parts.append(("solver", sol))

    parts.append(("lineage", "".join(f"<h3>{html.escape(r.name)}</h3>" + _img(figures["lineage"][r.name],
                                                                              f"lineage tree {r.name}")
                                     for r in runs)))
    parts.append(("tracks", "".join(f"<h3>{html.escape(r.name)}</h3>" + _img(figures["tracks"][r.name],
                                                                             f"tracks {r.name}")
                                    for r in runs)))
    parts.append(("qc", qc_section(runs, figures["qc"])))
    learnt = weights_section(runs, {r.name: r.weights for r in runs if r.weights})
    if learnt:
        parts.append(("weights", learnt))
    hist_rows = [[h["run"], html.escape(h.get("config_hash", "")), html.escape(h.get("lineageflow", ""))]
                 + [_fmt(h.get("TRA", {}).get(r.name)) for r in runs] for h in history]
    parts.append(("history", _img(figures["history"], "TRA across runs")
                  + _table(["run", "config hash", "lineageflow", *[r.name for r in runs]], hist_rows)))

    import yaml

    conf = html.escape(yaml.safe_dump(config, sort_keys=True, default_flow_style=None, width=110))
    parts.append(("configuration", f"<p>config hash {config_hash(config)}</p><pre>{conf}</pre>"))
    parts.append(("software", _table(["package", "version"],
                                     [[html.escape(k), html.escape(v)] for k, v in versions.items()])))

    nav = "".join(f'<a href="#{sid}">{html.escape(SECTIONS[sid])}</a>' for sid, _ in parts)
    body = "".join(f'<section id="{sid}"><h2>{html.escape(SECTIONS[sid])}</h2>{content}</section>'
                   for sid, content in parts)
    names = ", ".join(r.name for r in runs)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>lineageflow report: {html.escape(names)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>lineageflow benchmark report</h1><p>{html.escape(names)}</p></header>"
            f"<nav>{nav}</nav><main>{body}</main></body></html>\n")


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
                history_path: str | Path, n_frames_shown: int = 4) -> list[RunData]:
    """Read every dataset's run (``{"name", "out", "raw": {path, dataset, axes, channel}}``), write the PNGs, append
    to the history and write the HTML page. Returns what was read."""
    from .qc_report import copy_qc_png

    runs = [read_run(d["name"], d["out"]) for d in datasets]
    figures: dict = {"lineage": {}, "tracks": {}, "qc": {}}
    figures["time_memory"] = save_png(time_memory_figure(runs), time_memory_png)
    for run, d, lpng, tpng, qpng in zip(runs, datasets, lineage_pngs, tracks_pngs, qc_pngs):
        figures["lineage"][run.name] = save_png(lineage_figure(run.tracks, run.name), lpng)
        figures["qc"][run.name] = copy_qc_png(run.out, run.name, qpng)
        raw_at, mask_at, n = _movie_readers(run, d["raw"])
        figures["tracks"][run.name] = save_png(
            tracks_figure(raw_at, mask_at, run.nodes, pick_frames(n, n_frames_shown), run.name), tpng)
    history = append_history(history_path, runs, config)
    figures["history"] = save_png(history_figure(history), history_png)
    page = render_html(runs, figures=figures, config=config, versions=software_versions(), history=history)
    with atomic_path(html_path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return runs
