"""Learned vs default tracking weights: learn on the first half of a sequence, score on the second half.

    python benchmarks/bench_learn.py WORK [--datasets SIM GOWT1 CHO] [--config k=v ...]

Each shared 01 sequence is cut into two self-contained CTC sequences (frames of the first half → "train", the
rest → "test", with their ground truth, :func:`lineageflow.ctc_subset.write_subsequence`). The workflow runs on
the test half with everything trained on the train half (`input=test train=train`): once with ilastik's default
weights and once with `tracking.weights=learned` (rule track_learn learns from the train half's ground truth).
Only the tracking stages differ between the two runs. Prints TRA / DET / LNK / division F1 for both, the learnt
weights, the learning time (track_learn's wall time from its Snakemake benchmark file) and its iterations.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from _workflow_runs import DATASETS, SHARED, metric_cells, run_workflow

from lineageflow.ctc_subset import write_subsequence


def run(out: Path, test: Path, train: Path, extra: list[str], cores: int, force: list[str]) -> dict:
    # tracking is always redone (forced): Snakemake's params trigger needs the metadata of the folder it ran from
    return run_workflow(out, [f"input={test}", f"train={train}", *extra], cores, ["--forcerun", *force])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("work", type=Path)
    ap.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--config", nargs="*", default=[], help="extra config keys for every run (k=v)")
    ap.add_argument("--cores", type=int, default=2)
    a = ap.parse_args(argv)
    rows = []
    for ds in a.datasets:
        rel, extra = DATASETS[ds]
        seq = SHARED / rel
        n = len(list(seq.glob("t*.tif")))
        half = n // 2
        root = a.work / ds
        train, test = root / "train" / "01", root / "test" / "01"
        if not (root / ".complete").exists():
            gt = seq.parent / f"{seq.name}_GT"
            write_subsequence(seq, gt, range(0, half), train, root / "train" / "01_GT", link=True)
            write_subsequence(seq, gt, range(half, n), test, root / "test" / "01_GT", link=True)
            (root / ".complete").touch()
        out = root / "out"
        cfg = extra + a.config
        default = run(out, test, train, cfg, a.cores, ["track_window"])
        learned = run(out, test, train, cfg + ["tracking={weights: learned}"], a.cores, ["track_learn", "track_window"])
        w = json.loads((out / "track" / "weights.json").read_text())
        with open(out / "benchmarks" / "track_learn.tsv") as f:
            learn_s = float(next(csv.DictReader(f, delimiter="\t"))["s"])
        rows.append((ds, f"0-{half - 1} → {half}-{n - 1}", default, learned, w, learn_s))
        print(ds, json.dumps({"default": default, "learned": learned, "weights": w["weights"],
                              "iterations": len(w["history"]), "stopped": w["stopped"], "learn_seconds": learn_s,
                              "representable": w["data"]["representable"]}), flush=True)
    print()
    print("| dataset | frames (train → scored) | weights | TRA | DET | LNK | division F1 |")
    print("|---|---|---|---|---|---|---|")
    for ds, frames, d, lrn, w, _ in rows:
        for name, m in (("default [10, 10, 10, 500, 500]", d), ("learned " + str([round(v, 3) for v in w["weights"]]), lrn)):
            print(f"| {ds} | {frames} | {name} | " + " | ".join(metric_cells(m)) + " |")
    print()
    print("| dataset | learning wall s (track_learn) | iterations | stopped | examples |")
    print("|---|---|---|---|---|")
    for ds, _, _, _, w, s in rows:
        print(f"| {ds} | {s:.1f} | {len(w['history'])} | {w['stopped']} | {w['n_examples']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
