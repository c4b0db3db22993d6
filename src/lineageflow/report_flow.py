"""The report's flow section (config key ``flow.enabled``): is the estimated flow sane before the tracks are trusted?

Points seeded quasi-randomly (a Halton sequence) over the field of view, at the middle z slice, are carried through
the flow fields frame pair after frame pair (``flow.sample``) and drawn as lines over the first frame, coloured by
the direction of their overall displacement (hue on a colour wheel, grey for points that barely moved); below them,
the mean and largest displacement per frame pair. The page adds that per-frame table and a few summary numbers.

Reads the run's ``flow/CHUNK.h5`` (rule flow_estimate) one chunk at a time, so a long movie's fields are never all in
memory."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .flow import magnitude_summary, read_flow_chunk, sample
from .plan import frame_chunks

N_POINTS = 200  # seeded trajectories
MAX_STEPS = 100  # frame pairs the trajectories follow at most (the table covers every frame pair)
STILL_PIXELS = 1.0  # overall displacement (pixels) below which a trajectory is drawn grey: no direction to show


@dataclass
class FlowReport:
    """What the report shows of one run's flow."""

    frames: list[dict]  # per frame pair: {frame, mean_displacement, max_displacement} (flow.magnitude_summary)
    trajectories: np.ndarray  # (steps + 1, n, 3) physical z y x positions; NaN once a point has left the view
    shape: tuple[int, int, int]  # the movie's frame shape (z, y, x), pixels (z = 1 for 2D)
    voxel_size: tuple[float, float, float]  # physical size of a pixel (z, y, x)
    left: np.ndarray  # (n,) bool: the point left the view (its line ends at the step that took it out)

    @property
    def pixel_size(self) -> float:
        return float(self.voxel_size[2])


# --- reading ------------------------------------------------------------------------------------------------------

def chunk_paths(out: str | Path, n_frames: int, frames_per_job: int) -> list[Path]:
    """The run's flow files, in frame order (the chunks of ``frames_per_job``, as rule flow_estimate wrote them;
    files left by another chunking are not read)."""
    paths = [Path(out) / "flow" / f"{chunk}.h5" for chunk in frame_chunks(n_frames, frames_per_job)]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputError(f"{missing[0]} is missing ({len(missing)} of {len(paths)} flow files): the report shows "
                         "the flow of a run made with config key flow.enabled: true; rerun the workflow to make them")
    return paths


def read_chunks(paths, spatial_shape):
    """(fields, grid, t0) per flow file, read lazily, each checked against the movie's frame shape."""
    for path in paths:
        yield read_flow_chunk(path, spatial_shape)


def seed_points(shape, voxel_size, n: int = N_POINTS) -> np.ndarray:
    """``n`` physical positions (z y x) spread evenly over the y/x field of view at the middle z slice.

    The unscrambled Halton sequence (bases 2 and 3) is fixed, so the same movie always gets the same points; its
    first point, the corner (0, 0), is skipped."""
    from scipy.stats import qmc

    halton = qmc.Halton(d=2, scramble=False)
    halton.fast_forward(1)
    unit = halton.random(n)
    shape, vs = np.asarray(shape, float), np.asarray(voxel_size, float)
    pos = np.empty((n, 3))
    pos[:, 0] = (shape[0] - 1) / 2 * vs[0]  # pixel i lies at i × voxel size (flow.Grid)
    pos[:, 1:] = unit * (shape[1:] - 1) * vs[1:]
    return pos


def summarise(chunks, shape, *, n_points: int = N_POINTS, max_steps: int = MAX_STEPS) -> FlowReport:
    """Per-frame magnitudes of every chunk's fields, and trajectories of ``n_points`` seeded points through the first
    ``max_steps`` frame pairs. ``chunks``: (fields, grid, t0) in frame order, from frame 0 on without a gap; ``shape``
    the movie's frame shape ((y, x) or (z, y, x)); the pixel size is the flow grid's."""
    shape3 = (1, *shape) if len(shape) == 2 else tuple(shape)
    path, frames, expected = [], [], 0
    for fields, grid, t0 in chunks:
        if not path:  # the first chunk: seed the points
            vs3 = np.asarray(grid.voxel_size, float)
            upper = (np.asarray(shape3, float) - 1) * vs3  # the view: every pixel centre from 0 to here
            pos = seed_points(shape3, vs3, n_points)
            inside = np.ones(len(pos), bool)
            path.append(pos.copy())
        if t0 != expected:
            raise InputError(f"flow chunks in the wrong order or with a gap: a chunk starts at frame {t0}, the one "
                             f"before it ended at frame {expected}")
        frames += magnitude_summary(fields, t0)
        expected = t0 + len(fields)
        for field in fields[:max(0, max_steps - (len(path) - 1))]:
            pos[inside] += sample(field, grid, pos[inside])
            step = np.where(inside[:, None], pos, np.nan)  # the step that left the view is drawn, none after it
            inside &= np.all((pos >= -0.5 * vs3) & (pos <= upper + 0.5 * vs3), axis=1)
            path.append(step)
    if not frames:
        raise InputError("the run's flow files hold no frame pair")
    return FlowReport(frames=frames, trajectories=np.stack(path), shape=shape3,
                      voxel_size=tuple(float(v) for v in vs3), left=~inside)


def read_flow_report(out: str | Path, n_frames: int, frames_per_job: int, spatial_shape, **kw) -> FlowReport:
    """The flow report of the run in ``out`` (a movie of ``n_frames`` frames of ``spatial_shape``)."""
    return summarise(read_chunks(chunk_paths(out, n_frames, frames_per_job), spatial_shape), spatial_shape, **kw)


# --- numbers ------------------------------------------------------------------------------------------------------

def net_displacement(trajectories: np.ndarray) -> np.ndarray:
    """Each point's overall displacement (n, 3): its last position in the view minus its first."""
    last = np.zeros_like(trajectories[0])
    for step in trajectories:  # steps are few (≤ MAX_STEPS); the last finite position per point
        ok = np.isfinite(step).all(axis=1)
        last[ok] = step[ok]
    return last - trajectories[0]


def direction_colours(trajectories: np.ndarray, still: float) -> np.ndarray:
    """RGB (n, 3) per trajectory: hue = angle of its overall y/x displacement as drawn (image x to the right, y
    down; 0 = right, a quarter turn = down), grey when it moved less than ``still``."""
    from matplotlib.colors import hsv_to_rgb

    net = net_displacement(trajectories)
    hue = (np.arctan2(net[:, 1], net[:, 2]) % (2 * np.pi)) / (2 * np.pi)
    rgb = hsv_to_rgb(np.stack([hue, np.ones_like(hue), np.full_like(hue, 0.95)], axis=1))
    rgb[np.hypot(net[:, 1], net[:, 2]) < still] = 0.6
    return rgb


def summary(report: FlowReport) -> dict:
    """The section's headline numbers (physical units; the largest displacement also in pixels)."""
    mean = np.array([f["mean_displacement"] for f in report.frames])
    peak = np.array([f["max_displacement"] for f in report.frames])
    frame = np.array([f["frame"] for f in report.frames])
    net = np.linalg.norm(net_displacement(report.trajectories), axis=1)
    return {"pairs": len(mean), "mean": float(mean.mean()), "median": float(np.median(mean)),
            "busiest_mean": float(mean.max()), "busiest_frame": int(frame[mean.argmax()]),
            "max": float(peak.max()), "max_frame": int(frame[peak.argmax()]),
            "max_pixels": float(peak.max() / report.pixel_size), "points": report.trajectories.shape[1],
            "steps": report.trajectories.shape[0] - 1, "median_net": float(np.median(net)),
            "left": int(report.left.sum())}


# --- figure -------------------------------------------------------------------------------------------------------

def _colour_wheel(ax):
    """The hue legend: a disc coloured as a trajectory going in that direction would be."""
    from matplotlib.colors import hsv_to_rgb

    y, x = np.mgrid[-1:1:64j, -1:1:64j]
    hue = (np.arctan2(y, x) % (2 * np.pi)) / (2 * np.pi)
    rgba = np.ones((64, 64, 4))
    rgba[..., :3] = hsv_to_rgb(np.stack([hue, np.ones_like(hue), np.full_like(hue, 0.95)], axis=-1))
    rgba[..., 3] = np.hypot(y, x) <= 1
    ax.imshow(rgba, interpolation="bilinear")  # row 0 on top: the same y-down directions as the image
    ax.set_axis_off()


def flow_figure(report: FlowReport, background: np.ndarray | None = None, title: str = ""):
    """Trajectories over ``background`` (the first frame, max projection in 3D), coloured by direction, with a
    colour wheel and a scale bar; below, mean and largest displacement per frame pair."""
    from matplotlib.collections import LineCollection

    from .report_figures import PANEL_INCHES, _plt, _project, _scale_bar

    plt = _plt()
    _, h, w = report.shape
    aspect = min(2.0, h / w)
    fig = plt.figure(figsize=(PANEL_INCHES * 1.25, PANEL_INCHES * 1.25 * aspect + 2.4 + (0.3 if title else 0)))
    grid = fig.add_gridspec(2, 1, height_ratios=[PANEL_INCHES * 1.25 * aspect, 1.6])
    ax, mag = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    if background is not None:
        image = _project(np.asarray(background, float))
        lo, hi = np.percentile(image, [1, 99.5])
        ax.imshow(np.clip((image - lo) / max(hi - lo, 1e-9), 0, 1), cmap="gray", vmin=0, vmax=2.2,
                  interpolation="nearest")  # dimmed (vmax > 1), so the lines stand out
    else:
        ax.imshow(np.zeros((h, w)), cmap="gray", vmin=0, vmax=1)
    vs = np.asarray(report.voxel_size)
    xy = report.trajectories[..., [2, 1]] / vs[[2, 1]]  # physical → pixels, (x, y) for plotting
    colours = direction_colours(report.trajectories, STILL_PIXELS * report.pixel_size)
    ax.add_collection(LineCollection(list(np.transpose(xy, (1, 0, 2))), colors=colours, linewidths=1.1))
    ends = np.array([p[np.isfinite(p).all(axis=1)][-1] for p in np.transpose(xy, (1, 0, 2))])
    ax.scatter(ends[:, 0], ends[:, 1], s=5, c=colours, linewidths=0, zorder=3)  # where each point ended
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    _scale_bar(ax, w, h, report.pixel_size)
    ax.set_axis_off()
    steps = report.trajectories.shape[0] - 1
    ax.set_title(f"{report.trajectories.shape[1]} points carried by the flow through frames 0–{steps}"
                 + (f" (z slice {(report.shape[0] - 1) // 2})" if report.shape[0] > 1 else ""))
    _colour_wheel(ax.inset_axes([0.86, 0.02, 0.12, 0.12]))
    frame = [f["frame"] for f in report.frames]
    mag.plot(frame, [f["mean_displacement"] for f in report.frames], "-", color="#1f77b4", label="mean")
    mag.plot(frame, [f["max_displacement"] for f in report.frames], "-", color="#d62728", label="largest")
    mag.set_xlabel("frame pair t → t+1 (t)")
    mag.set_ylabel("displacement, µm")
    mag.set_ylim(bottom=0)
    mag.legend(fontsize=7, loc="upper right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --- page -----------------------------------------------------------------------------------------------------------

def flow_rows(report: FlowReport) -> list[list[str]]:
    """The per-frame table: frame pair, mean and largest displacement (µm), largest in pixels."""
    from .report_html import _fmt

    return [[f"{f['frame']} → {f['frame'] + 1}", _fmt(f["mean_displacement"], 3), _fmt(f["max_displacement"], 3),
             _fmt(f["max_displacement"] / report.pixel_size, 1)] for f in report.frames]


def summary_rows(report: FlowReport) -> list[list[str]]:
    """The summary table: what a glance needs before trusting the tracks."""
    s = summary(report)
    return [["frame pairs", str(s["pairs"])],
            ["mean displacement per frame pair (µm)", f"{s['mean']:.3f}"],
            ["median of the per-frame means (µm)", f"{s['median']:.3f}"],
            ["busiest frame pair (largest mean)", f"{s['busiest_frame']} → {s['busiest_frame'] + 1}: "
                                                  f"{s['busiest_mean']:.3f} µm"],
            ["largest displacement", f"{s['max']:.3f} µm = {s['max_pixels']:.1f} px at {s['max_frame']} → "
                                     f"{s['max_frame'] + 1}"],
            ["points followed, over frame pairs", f"{s['points']}, {s['steps']}"],
            ["median overall displacement of a point (µm)", f"{s['median_net']:.2f}"],
            ["points that left the view", str(s["left"])]]


def flow_section(flows: dict[str, FlowReport], pngs: dict[str, bytes]) -> str:
    """The report's flow section: per run with flow, the figure, its summary numbers and the per-frame table."""
    from .report_html import _img, _table

    out = ""
    for name, report in flows.items():
        out += (f"<h3>{html.escape(name)}</h3>" + _img(pngs[name], f"flow trajectories {name}")
                + '<div style="display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start">'
                + _table(["summary", "value"], summary_rows(report), "flow-summary")
                + '<div style="max-height:320px;overflow:auto">'  # a long movie's table scrolls
                + _table(["frames", "mean displacement (µm)", "largest displacement (µm)", "largest (px)"],
                         flow_rows(report), "flow") + "</div></div>")
    return out + (f"<p>Points seeded evenly over the field of view (a Halton sequence; the middle z slice in 3D) are "
                  f"moved by the estimated flow (<code>flow/CHUNK.h5</code>, rule flow_estimate) frame after frame, "
                  f"for the first {MAX_STEPS} frame pairs at most, and drawn over the first frame. A line's colour "
                  "is the direction of its overall displacement (the wheel in the corner; grey: moved less than "
                  f"{STILL_PIXELS:g} pixel); a dot marks where it ended. Coherent motion (drift, rotation, shear) "
                  "shows as smooth, similarly coloured lines; tangles or isolated long jumps suggest frames whose "
                  "flow should not be trusted. The table gives the mean and largest displacement over the flow grid "
                  "per frame pair, in the run's voxel size units (µm).</p>")
