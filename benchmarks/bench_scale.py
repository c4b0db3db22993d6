"""Tracking time against movie length and cores, on generated movies (~100 cells, 512², the demo generator).

    python benchmarks/bench_scale.py WORK_DIR [--frames 250 500 1000] [--cores 1 2] [--window-size 50] [--overlap 5]

For each length it generates the movie (once; kept in WORK_DIR), runs the workflow up to the object classifiers
with the generated ground-truth masks as label images (`objects.labels`; the pixel stage is not what is measured
here), then times `snakemake --cores C OUT/track/solution.json -R track_window` (every window job + the stitch)
for each core count. It prints the wall time, frames per second, the number of windows, the solver, and the peak
memory (max_rss from Snakemake's benchmark files) of the largest window job and of the stitch.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def snakemake(*args: str) -> None:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")


def max_rss(path: Path) -> float:
    with open(path) as f:
        return max(float(row["max_rss"]) for row in csv.DictReader(f, delimiter="\t"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work", type=Path)
    ap.add_argument("--frames", type=int, nargs="+", default=[250, 500, 1000])
    ap.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--window-size", type=int, default=50)
    ap.add_argument("--overlap", type=int, default=5)
    ap.add_argument("--cells", type=int, default=100)
    a = ap.parse_args(argv)
    print(f"{'frames':>6s} {'cores':>5s} {'objects':>8s} {'windows':>7s} {'solver':>12s} {'wall s':>8s} "
          f"{'frames/s':>8s} {'window max_rss MB':>17s} {'stitch max_rss MB':>17s}")
    for n in a.frames:
        movie = a.work / f"movie_{n}"
        if not (movie / "01_GT" / "TRA" / "man_track.txt").exists():
            subprocess.run(["lineageflow-demo-data", "--frames", str(n), "--shape", "512", "512", "--cells",
                            str(a.cells), "--seed", "1", "-q", str(movie)], check=True)
        out = a.work / f"out_{n}"
        config = ["--config", f"input={movie / '01'}", f"out={out}", f"objects={{labels: {movie / '01_GT' / 'SEG'}, min_size: 0}}",
                  f"window_size={a.window_size}", f"overlap={a.overlap}", "frames_per_job=50"]
        snakemake("--cores", str(max(a.cores)), "--until", "classify_apply", *config)
        for cores in a.cores:
            t = time.perf_counter()
            snakemake("--cores", str(cores), str(out / "track" / "solution.json"), "-R", "track_window", *config)
            wall = time.perf_counter() - t
            sol = json.loads((out / "track" / "solution.json").read_text())
            rss_w = max(max_rss(p) for p in (out / "benchmarks" / "track_window").glob("*.tsv"))
            rss_s = max_rss(out / "benchmarks" / "track_stitch.tsv")
            print(f"{n:6d} {cores:5d} {sol['n_detections']:8d} {sol['n_windows']:7d} {sol['solver']:>12s} {wall:8.1f} "
                  f"{n / wall:8.1f} {rss_w:17.0f} {rss_s:17.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
