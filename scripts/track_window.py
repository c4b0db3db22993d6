"""Rule track_window: the conservation-tracking ILP of one time window (reads only that window's chunks)."""

import json
import logging

from _helpers import run

from lineageflow import learn, solvers, windows
from lineageflow.atomic import atomic_path
from lineageflow.io import read_tables, write_table

log = logging.getLogger("lineageflow")


def main(smk):
    p = smk.params
    start, stop = p.frames
    table, meta = read_tables(smk.input.tables)
    probs, _ = read_tables(smk.input.probabilities, expected=meta)
    nodes = windows.tracking_nodes(table, probs)
    tracking = learn.tracking_config(p.tracking, getattr(smk.input, "weights", []))
    log.info("weights %s%s", [float(w) for w in tracking["weights"]],
             " (learned)" if p.tracking["weights"] == "learned" else "")
    with solvers.solver_output_logged():  # the solver's own progress goes to this job's log
        res = windows.solve_window(nodes, tracking, start, stop, p.n_frames, threads=smk.threads,
                                   failed_model_path=p.failed_model)
    meta = meta | {"frames": [start, stop]}
    write_table(smk.output.nodes, res.nodes, meta)
    write_table(smk.output.edges, res.edges, meta)
    with atomic_path(smk.output.summary) as tmp:
        tmp.write_text(json.dumps(res.summary, indent=1, sort_keys=True, default=str))


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
