"""Flow-guided linking (config key flow): what it costs and what it gains.

    python benchmarks/bench_flow.py cost [--frames 3]
    python benchmarks/bench_flow.py motile WORK [--ndim 2 3] [--kinds drift rotation shear] [--steps 1 2 3]
    python benchmarks/bench_flow.py shared WORK [--datasets SIM GOWT1 CHO] [--cores 2]

cost    seconds of flow estimation per megapixel (2D: a generated 1024² pair, SIM+ and GOWT1 frame pairs) and per
        megavoxel (CHO, the 3D path), one process, best of the pairs' mean over --frames pairs.
motile  the demo workflow on generated motile movies (config demo.motion, demo.motion_step = displacement per
        frame in nucleus diameters), without and with flow: TRA and LNK per row. Each row runs without flow, then
        with flow in the same output folder (so the pixel stage is shared, only flow and what follows rerun).
shared  the whole workflow on the shared SIM+, GOWT1 and CHO sequences (slow cells) without and with flow: TRA,
        LNK and ΔTRA (the issue asks |ΔTRA| < 0.005).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _workflow_runs import DATASETS, SHARED, run_workflow  # noqa: E402

from lineageflow import flow  # noqa: E402
from lineageflow.io import open_movie  # noqa: E402

VOXEL = {"CHO": (1.0, 0.202, 0.202)}  # as DATASETS runs it; 2D movies: pixels (the cost does not depend on it)


def _generated_pair(size=1024, n=400, radius=8.0, step=24.0, seed=0):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(radius * 3, size - radius * 3, (n, 2))
    yy, xx = np.mgrid[:size, :size].astype(np.float32)

    def render(p):
        img = np.zeros((size, size), np.float32)
        for y, x in p:
            y0, y1, x0, x1 = int(max(y - 4 * radius, 0)), int(y + 4 * radius), int(max(x - 4 * radius, 0)), int(x + 4 * radius)
            img[y0:y1, x0:x1] += np.exp(-((yy[y0:y1, x0:x1] - y) ** 2 + (xx[y0:y1, x0:x1] - x) ** 2) / (2 * radius**2))
        return img + rng.normal(0, 0.05, img.shape).astype(np.float32)

    return render(pts), render(pts + [0.6 * step, 0.8 * step])


def _time_pairs(frames, grid) -> float:
    """Mean seconds per pair over consecutive pairs of ``frames``."""
    seconds = []
    for a, b in zip(frames, frames[1:]):
        t0 = time.perf_counter()
        flow.estimate_flow(a, b, grid)
        seconds.append(time.perf_counter() - t0)
    return float(np.mean(seconds))


def cost(args) -> None:
    print("| movie | frame shape | seconds per pair | per MP (2D) / MV (3D) |")
    print("|---|---|---|---|")
    a, b = _generated_pair()
    grid = flow.Grid.of(a.shape, (1.0, 1.0), 4)
    _time_pairs([a, b], grid)  # warm-up (imports, FFT plans)
    s = _time_pairs([a, b, a, b][: max(2, args.frames + 1)], grid)
    print(f"| generated drift 3 diameters | {a.shape} | {s:.3f} | {s / (a.size / 1e6):.3f} s/MP |")
    for name in ("SIM", "GOWT1", "CHO"):
        seq = SHARED / DATASETS[name][0]
        if not seq.is_dir():
            print(f"| {name} | – | missing {seq} | |")
            continue
        movie = open_movie(str(seq))
        frames = [np.asarray(movie.read(t), np.float32) for t in range(args.frames + 1)]
        grid = flow.Grid.of(movie.spatial_shape, VOXEL.get(name, (1.0, 1.0)), 4)
        s = _time_pairs(frames, grid)
        unit = "MV" if len(movie.spatial_shape) == 3 else "MP"
        print(f"| {name} 01 | {tuple(movie.spatial_shape)} (grid {grid.shape}) | {s:.3f} | "
              f"{s / (frames[0].size / 1e6):.3f} s/{unit} |")


def _row(cells) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)


def motile(args) -> None:
    _row(["ndim", "motion", "diameters/frame", "TRA off", "LNK off", "TRA flow", "LNK flow", "s off", "s flow"])
    _row(["---"] * 9)
    for ndim in args.ndim:
        for kind in args.kinds:
            for step in args.steps:
                out = Path(args.work) / f"{ndim}d_{kind}_{step}"
                shape = args.shape if ndim == 2 else [8, *args.shape]
                demo = (f"demo={{ndim: {ndim}, n_frames: {args.n_frames}, n_cells: {args.cells}, shape: {shape}, "
                        f"motion: {kind}, motion_step: {step}}}")
                off = run_workflow(out, [demo, "flow={enabled: false}"], args.cores)
                on = run_workflow(out, [demo, "flow={enabled: true}"], args.cores)
                _row([ndim, kind, step, f"{off['TRA']:.4f}", f"{off['LNK']:.4f}", f"{on['TRA']:.4f}",
                      f"{on['LNK']:.4f}", f"{off['seconds']:.0f}", f"{on['seconds']:.0f}"])


def shared(args) -> None:
    _row(["sequence", "TRA off", "LNK off", "TRA flow", "LNK flow", "ΔTRA", "s off", "s flow"])
    _row(["---"] * 8)
    for name in args.datasets:
        seq, extra = DATASETS[name]
        gt = SHARED / (seq + "_GT")
        base = [f"input={SHARED / seq}", f"gt={gt}", *extra]
        out = Path(args.work) / name
        off = run_workflow(out, [*base, "flow={enabled: false}"], args.cores)
        on = run_workflow(out, [*base, "flow={enabled: true}"], args.cores)
        _row([f"{name} 01", f"{off['TRA']:.4f}", f"{off['LNK']:.4f}", f"{on['TRA']:.4f}", f"{on['LNK']:.4f}",
              f"{on['TRA'] - off['TRA']:+.4f}", f"{off['seconds']:.0f}", f"{on['seconds']:.0f}"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cost")
    c.add_argument("--frames", type=int, default=3)
    m = sub.add_parser("motile")
    m.add_argument("work")
    m.add_argument("--ndim", type=int, nargs="+", default=[2, 3])
    m.add_argument("--kinds", nargs="+", default=["drift", "rotation", "shear"])
    m.add_argument("--steps", type=float, nargs="+", default=[1, 2, 3])
    m.add_argument("--n-frames", type=int, default=20)
    m.add_argument("--cells", type=int, default=24)
    m.add_argument("--shape", type=int, nargs=2, default=[320, 320], help="y x of the frames (3D: 8 z slices)")
    m.add_argument("--cores", type=int, default=2)
    s = sub.add_parser("shared")
    s.add_argument("work")
    s.add_argument("--datasets", nargs="+", default=["SIM", "GOWT1", "CHO"], choices=sorted(DATASETS))
    s.add_argument("--cores", type=int, default=2)
    args = p.parse_args(argv)
    {"cost": cost, "motile": motile, "shared": shared}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
