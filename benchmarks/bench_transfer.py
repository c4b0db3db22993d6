"""Transfer benchmark: train on a sequence, run on deterministic shifted copies of it, score with its ground truth.

    python benchmarks/bench_transfer.py WORK [--datasets SIM GOWT1 CHO] [--shifts contrast0.5 ...] [--config k=v ...]

Stand-in for "the next movie of the experiment": each shifted copy (lineageflow.shift.SUITE: contrast 0.5× and
0.35× with the noise kept, gain 0.4×, an offset, a bleaching ramp) is written to WORK/<dataset>/<shift>/01 and run
through the one-command contract with the classifiers trained on the unshifted sequence
(`input=<copy> train=<seq> train_gt=<seq>_GT gt=<seq>_GT`). The copy's own ground truth is never used for training.
Prints TRA / DET / LNK / division F1 per shift next to the unshifted run ("orig", trained and scored on the
sequence itself, as the accuracy tests do), and the difference in TRA.

`--demo`: generated movies instead (lineageflow.synthetic, 2D, 40 frames, 256², seed 5): one at the demo's
contrast-to-noise (≈ 9.1, contrast 0.92) trains, the same cells rendered at CNR ≈ 4 and ≈ 2 (contrast 0.4 and 0.2)
are tracked and scored with their (identical) ground truth.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _workflow_runs import DATASETS, SHARED, metric_cells, run_workflow

from lineageflow import shift, synthetic


def run(out: Path, seq: Path, train: Path, extra: list[str], cores: int) -> dict:
    gt = train.parent / f"{train.name}_GT"
    # a finished run in WORK is reused (only missing outputs are made), so shifts can be added to a WORK folder
    return run_workflow(out, [f"input={seq}", f"train={train}", f"train_gt={gt}", f"gt={gt}", *extra], cores,
                        ["--rerun-triggers", "mtime"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("work", type=Path)
    ap.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--shifts", nargs="*", default=[s.name for s in shift.SUITE])
    ap.add_argument("--config", nargs="*", default=[], help="extra config keys for every run (k=v)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--demo", action="store_true", help="generated movies at three signal-to-noise levels instead")
    a = ap.parse_args(argv)
    rows = []
    if a.demo:
        a.datasets = []
        movies = {}
        for c in (0.92, 0.4, 0.2):
            cfg = synthetic.SyntheticConfig(n_frames=40, shape=(256, 256), n_cells=20, seed=5, contrast=c)
            summary = synthetic.generate(a.work / "demo" / f"contrast{c:g}", cfg)
            movies[c] = (a.work / "demo" / f"contrast{c:g}" / "01", summary["contrast_to_noise"])
        train = movies[0.92][0]
        for c, (seq, cnr) in movies.items():
            m = run(a.work / "demo" / f"contrast{c:g}" / "out", seq, train, a.config, a.cores)
            name = f"contrast {c:g} (CNR {cnr:.1f})"
            rows.append(("demo", name, m, m["TRA"] - rows[0][2]["TRA"] if rows else 0.0))
            print(f"demo {name} {json.dumps(m)}", flush=True)
    for ds in a.datasets:
        rel, extra = DATASETS[ds]
        seq = SHARED / rel
        base = run(a.work / ds / "orig" / "out", seq, seq, extra + a.config, a.cores)
        rows.append((ds, "orig", base, 0.0))
        print(f"{ds} orig {json.dumps(base)}", flush=True)
        for name in a.shifts:
            copy = a.work / ds / name / "01"
            if not (copy / ".complete").exists():  # deterministic: a finished copy is kept (and its runs reused)
                shift.write_shifted_sequence(seq, copy, shift.by_name(name), seed=0)
                (copy / ".complete").touch()
            m = run(a.work / ds / name / "out", copy, seq, extra + a.config, a.cores)
            rows.append((ds, name, m, m["TRA"] - base["TRA"]))
            print(f"{ds} {name} {json.dumps(m)}", flush=True)
    print()
    print("| dataset | movie | TRA | DET | LNK | division F1 | ΔTRA | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for ds, name, m, d in rows:
        print(f"| {ds} | {name} | " + " | ".join(metric_cells(m)) + f" | {d:+.4f} | {m['seconds']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
