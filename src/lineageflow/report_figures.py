"""The benchmark report's figures (matplotlib, Agg): lineage trees, tracks over the movie, time and memory per rule,
TRA across report runs. PNG bytes are deterministic: same figure, same bytes."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_path

PNG_METADATA = {"Software": None}  # no matplotlib version in the file: same figure, same bytes
PANEL_INCHES = 5.6  # width of one movie frame in the tracks figure (560 px at the report's 100 dpi)
PANELS_PER_ROW = 2


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


def text_figure(text: str, width: float = 7, height: float = 1.2):
    """A figure holding one sentence and no axes (for a plot that has nothing to show yet)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(width, height))
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig


# --- lineage trees ----------------------------------------------------------------------------------------------

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


# --- tracks over the movie --------------------------------------------------------------------------------------

def pick_frames(n_frames: int, k: int = 4) -> list[int]:
    """``k`` frames spread over the movie (first and last included)."""
    if n_frames <= 0:
        return []
    return sorted({int(round(v)) for v in np.linspace(0, n_frames - 1, min(k, n_frames))})


def _project(image: np.ndarray) -> np.ndarray:
    """Maximum projection along z of a 3D frame; 2D frames unchanged."""
    return image.max(axis=0) if image.ndim == 3 else image


def scale_bar_length(width: float) -> float:
    """The largest round length (1, 2 or 5 × 10^k) up to a fifth of ``width``."""
    target = width / 5
    power = 10.0 ** math.floor(math.log10(target))
    return float(f"{max(m * power for m in (1, 2, 5) if m * power <= target):.6g}")  # 0.30000000000000004 → 0.3


def _outlined(**kw) -> dict:
    """Text and line styles that stay readable on bright and dark pixels (a dark outline)."""
    from matplotlib import patheffects

    return {**kw, "path_effects": [patheffects.withStroke(linewidth=2.2, foreground="black")]}


def _scale_bar(ax, width_px: int, height_px: int, pixel_size: float | None):
    """A horizontal bar in the lower left corner, labelled in µm (or in pixels when the pixel size is unknown)."""
    unit = pixel_size or 1.0
    length = scale_bar_length(width_px * unit)
    px = length / unit
    x0, y0 = 0.04 * width_px, 0.94 * height_px
    ax.plot([x0, x0 + px], [y0, y0], "-", color="white", lw=3, solid_capstyle="butt", **_outlined())
    label = f"{length:g} µm" if pixel_size else f"{length:g} px"
    ax.text(x0 + px / 2, y0 - 0.02 * height_px, label, color="white", fontsize=9, ha="center", va="bottom",
            **_outlined())


def tracks_figure(raw_at, mask_at, nodes: pd.DataFrame, frames: list[int], title: str = "", trail: int = 5,
                  pixel_size: float | None = None):
    """Raw frames (max projection in 3D), two to a row, with each track's mask outline, its last ``trail``
    positions and its track id, and a scale bar (``pixel_size``: physical width of a pixel, µm)."""
    plt = _plt()
    from skimage.segmentation import find_boundaries

    images = [_project(np.asarray(raw_at(t), dtype=float)) for t in frames]
    cols = min(PANELS_PER_ROW, max(1, len(frames)))
    rows = max(1, math.ceil(len(frames) / cols))
    aspect = images[0].shape[0] / images[0].shape[1] if images else 1.0
    panel_h = min(2 * PANEL_INCHES, PANEL_INCHES * aspect) + 0.35  # room for the panel title
    fig, axes = plt.subplots(rows, cols, figsize=(PANEL_INCHES * cols, panel_h * rows + (0.4 if title else 0)),
                             squeeze=False)
    for ax in axes.flat[len(frames):]:
        ax.set_axis_off()
    for ax, t, image in zip(axes.flat, frames, images):
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
                ax.plot(path["centroid_x"], path["centroid_y"], "-", color=_colour(tid), lw=1.5)
                last = path.iloc[-1]
                ax.text(last["centroid_x"], last["centroid_y"], str(int(tid)), color="white", fontsize=8,
                        ha="center", va="center", **_outlined())
        _scale_bar(ax, image.shape[1], image.shape[0], pixel_size)
        ax.set_title(f"frame {t}")
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --- time and memory, history -----------------------------------------------------------------------------------

def time_memory_figure(runs: list):
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


def history_points(history: list[dict]) -> dict[str, list[tuple[int, float]]]:
    """(report run, TRA) per dataset, for the runs that had a TRA."""
    names = sorted({n for h in history for n in h.get("TRA", {})})
    return {name: [(h["run"], h["TRA"][name]) for h in history if h.get("TRA", {}).get(name) is not None]
            for name in names}


def history_has_trend(history: list[dict]) -> bool:
    """A TRA history is worth a plot once some dataset has TRA from two report runs; one point is noise."""
    return any(len(pts) >= 2 for pts in history_points(history).values())


def history_figure(history: list[dict]):
    """TRA per dataset across report runs; before there are two points, a sentence saying when the plot starts."""
    if not history_has_trend(history):
        return text_figure("TRA across report runs: plotted from the second report run with accuracy on "
                           f"({len(history)} report run(s) so far)")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3))
    points = history_points(history)
    for i, (name, pts) in enumerate(points.items()):
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, "o-", label=name, color=_colour(2 * i))
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("report run")
    ax.set_ylabel("TRA")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig
