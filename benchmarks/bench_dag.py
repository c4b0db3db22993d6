"""Wall time of `snakemake -n` (building the job graph) for long movies, and how many jobs each rule gets.

    python benchmarks/bench_dag.py [--frames 2000] [--frames-per-job 25] [--window-size 50] [--overlap 5]

The movie is the demo's configuration with that many frames (a dry run generates nothing, so no images are
needed); chunks and windows follow from the frame count exactly as for a real input.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, nargs="+", default=[2000])
    ap.add_argument("--frames-per-job", type=int, default=25)
    ap.add_argument("--window-size", type=int, default=50)
    ap.add_argument("--overlap", type=int, default=5)
    a = ap.parse_args(argv)
    for n in a.frames:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-n", "--cores", "2", "--config",
                   f"out={tmp}/out", f"demo={{n_frames: {n}}}", f"frames_per_job={a.frames_per_job}",
                   f"window_size={a.window_size}", f"overlap={a.overlap}"]
            t = time.perf_counter()
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            wall = time.perf_counter() - t
        if proc.returncode:
            sys.exit(proc.stderr[-3000:])
        table = (proc.stdout + proc.stderr).split("Job stats:")[-1]
        counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}
        total = counts.pop("total")
        print(f"{n} frames, frames_per_job {a.frames_per_job}, window {a.window_size}/{a.overlap}: "
              f"`snakemake -n` {wall:.1f} s wall, {total} jobs")
        print("  " + ", ".join(f"{rule} {c}" for rule, c in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
