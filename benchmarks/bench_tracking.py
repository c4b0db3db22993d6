"""Graph-building and solve seconds per movie for each solver, on the objects of finished runs.

    python benchmarks/bench_tracking.py RUN_DIR [RUN_DIR ...] [--solvers cbc highs gurobi]

RUN_DIR is a run's output folder (it needs objects/features/*.parquet and classify/probabilities/*.parquet,
e.g. after `snakemake --cores 2 --config input=../shared/data/Fluo-N2DH-SIM+/01 out=RUN_DIR`).
Tracking parameters are the schema defaults. Gurobi runs only where the model fits its licence.
"""

from __future__ import annotations

import argparse
import glob
import time

from lineageflow import ilp, solvers
from lineageflow.candidates import candidate_links
from lineageflow.config import load_schema, validate_config
from lineageflow.io import read_tables
from lineageflow.windows import tracking_nodes
from pathlib import Path

SCHEMA = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--solvers", nargs="+", default=["cbc", "highs", "gurobi"])
    a = ap.parse_args(argv)
    tr = validate_config({}, load_schema(SCHEMA))["tracking"]
    params = ilp.TrackingParams.from_dict(tr)
    print(f"{'run':40s} {'solver':7s} {'objects':>8s} {'links':>7s} {'vars':>7s} {'graph s':>8s} {'build s':>8s} "
          f"{'solve s':>8s} {'objective':>12s}")
    for run in a.runs:
        table, meta = read_tables(sorted(glob.glob(f"{run}/objects/features/*.parquet")))
        probs, _ = read_tables(sorted(glob.glob(f"{run}/classify/probabilities/*.parquet")))
        nodes = tracking_nodes(table, probs)
        t = time.perf_counter()
        edges = candidate_links(nodes, k=tr["k_neighbours"], max_distance=tr["max_distance"])
        t_graph = time.perf_counter() - t
        n_frames = int(meta["n_frames"])
        for name in a.solvers:
            t = time.perf_counter()
            model = ilp.build(nodes, edges, params, free_appearance_frames=[0], free_disappearance_frames=[n_frames - 1],
                              names=False)
            t_build = time.perf_counter() - t
            if name == "gurobi":
                chosen, why = solvers.choose_solver("auto", model.milp.n_vars, model.milp.A.shape[0])
                if chosen != "gurobi":
                    print(f"{Path(run).name:40s} gurobi  skipped: {why[:90]}")
                    continue
            sol = ilp.solve(model, name, gap=tr["gap"], threads=1)
            print(f"{Path(run).name:40s} {name:7s} {len(nodes):8d} {len(edges):7d} {sol.n_variables:7d} {t_graph:8.2f} "
                  f"{t_build:8.2f} {sol.seconds:8.2f} {sol.objective:12.2f}")


if __name__ == "__main__":
    main()
