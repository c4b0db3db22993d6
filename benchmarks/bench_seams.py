"""Seam quality: windowed + stitched tracking against the global solve, on the same detections.

    python benchmarks/bench_seams.py RUN_DIR [--gt GT_DIR] [--windows 20:5 20:2 10:3 30:10 ...] [--solver auto]

RUN_DIR is a finished run's output folder (objects/features, classify/probabilities, objects/labels), e.g.
`snakemake --cores 2 --config input=../shared/data/Fluo-N2DH-SIM+/01 out=RUN_DIR`. Every row solves the
windows in turn and stitches them with the workflow's own functions (lineageflow.stitch.solve_windowed), then
splits mergers, builds the lineage, writes the CTC result and scores it with traccuracy (when GT is given).
It prints, per window size W and overlap O: the number of windows, the links that differ from the global
solution (count and fraction of the union), the relative objective gap (energy of the stitched solution under the
global model vs the global optimum) and TRA / ΔTRA. The row "W:O costed" charges appearance/disappearance at the
windows' inner edges (the alternative reading of the design, kept for comparison).
"""

from __future__ import annotations

import argparse
import glob
import tempfile
import time
from pathlib import Path

import numpy as np

from lineageflow import lineage, mergers
from lineageflow.config import load_schema, validate_config
from lineageflow.evaluate import evaluate_ctc
from lineageflow.export.ctc import write_ctc
from lineageflow.io import LabelChunks, read_tables
from lineageflow.stitch import solve_windowed
from lineageflow.windows import tracking_nodes

SCHEMA = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"
KEY = ["frame", "label_src", "label_dst"]


def tra(run: Path, st, meta: dict, gt: str | None, work: Path, name: str) -> float | None:
    """Mergers → lineage → CTC folder → traccuracy TRA (None without GT)."""
    if gt is None:
        return None
    labels = LabelChunks(sorted(glob.glob(f"{run}/objects/labels/*.h5")))
    res = mergers.resolve_mergers(st.nodes, st.edges, labels, meta["voxel_size"])
    lin = lineage.from_solution(res.nodes, res.edges)
    out = work / name
    write_ctc(lin, lambda t: res.new_labels.get(t, labels(t)), meta["n_frames"], out)
    return float(evaluate_ctc(out, gt)["TRA"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--gt", help="CTC ground-truth folder (…/01_GT) for TRA")
    ap.add_argument("--windows", nargs="+", default=["20:5", "20:2", "20:0", "10:3", "30:10", "20:5:costed"],
                    help="W:O pairs (append ':costed' to charge appearance at inner window edges)")
    ap.add_argument("--solver", default="auto")
    a = ap.parse_args(argv)
    tracking = validate_config({}, load_schema(SCHEMA))["tracking"] | {"solver": a.solver}
    table, meta = read_tables(sorted(glob.glob(f"{a.run}/objects/features/*.parquet")))
    probs, _ = read_tables(sorted(glob.glob(f"{a.run}/classify/probabilities/*.parquet")), expected=meta)
    nodes = tracking_nodes(table, probs)
    n = int(meta["n_frames"])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        ref, ref_sum = solve_windowed(nodes, tracking, n, 0, 0)
        secs = time.perf_counter() - t
        ref_links = set(map(tuple, ref.edges[KEY].to_numpy().tolist()))
        ref_tra = tra(a.run, ref, meta, a.gt, work, "global")
        print(f"{a.run}: {n} frames, {len(nodes)} objects, solver {ref_sum['solver']}")
        print(f"{'W:O':>12s} {'windows':>7s} {'links':>6s} {'differ':>6s} {'fraction':>9s} {'obj gap':>9s} "
              f"{'TRA':>7s} {'ΔTRA':>8s} {'seconds':>8s}")
        tra_txt = f"{ref_tra:7.4f}" if ref_tra is not None else "      -"
        print(f"{'global':>12s} {1:7d} {len(ref_links):6d} {0:6d} {0:9.4f} {0:9.5f} {tra_txt} {'':>8s} {secs:8.1f}")
        for spec in a.windows:
            parts = spec.split(":")
            w, o, costed = int(parts[0]), int(parts[1]), parts[2:] == ["costed"]
            t = time.perf_counter()
            st, summ = solve_windowed(nodes, tracking, n, w, o, free_inner_edges=not costed)
            secs = time.perf_counter() - t
            links = set(map(tuple, st.edges[KEY].to_numpy().tolist()))
            differ = len(links ^ ref_links)
            frac = differ / max(1, len(links | ref_links))
            gap = (summ["objective"] - ref_sum["objective"]) / max(1e-9, abs(ref_sum["objective"]))
            value = tra(a.run, st, meta, a.gt, work, spec.replace(":", "_"))
            tra_txt = f"{value:7.4f} {value - ref_tra:+8.4f}" if value is not None else f"{'-':>7s} {'-':>8s}"
            label = f"{w}:{o}" + (" costed" if costed else "")
            print(f"{label:>12s} {summ['n_windows']:7d} {len(links):6d} {differ:6d} {frac:9.4f} {gap:9.5f} {tra_txt} "
                  f"{secs:8.1f}")
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    raise SystemExit(main())
