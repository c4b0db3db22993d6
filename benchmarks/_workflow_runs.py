"""Shared by the benchmarks that run the whole workflow on the shared CTC sequences (bench_transfer, bench_learn)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DATASETS = {  # name: (sequence under SHARED, extra config)
    "SIM": ("Fluo-N2DH-SIM+/01", []),
    "GOWT1": ("Fluo-N2DH-GOWT1/01", []),
    "CHO": ("Fluo-N3DH-CHO/01", ["voxel_size=[1.0,0.202,0.202]"]),
}
METRICS = ("TRA", "DET", "LNK", "division_f1")


def run_workflow(out: Path, config: list[str], cores: int, snakemake_args: list[str] = ()) -> dict:
    """One workflow run into ``out``; its metrics and wall seconds. Stops the benchmark with the run's stderr
    when it fails."""
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "-s", str(ROOT / "Snakefile"),
           *snakemake_args, "--config", f"out={out}", *config]
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"run failed: {' '.join(cmd)}")
    m = json.loads((out / "eval" / "metrics.json").read_text())
    return {**{k: m[k] for k in METRICS}, "seconds": time.time() - t0}


def metric_cells(m: dict) -> list[str]:
    """Table cells of the metrics ("–" where undefined, e.g. no division in the GT)."""
    return ["–" if m[k] is None else f"{m[k]:.4f}" for k in METRICS]
