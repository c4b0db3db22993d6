"""Rule track_solve: candidate links + conservation-tracking ILP over the movie's objects."""

import json
import logging

from _helpers import run

from lineageflow import ilp
from lineageflow.atomic import atomic_path
from lineageflow.candidates import candidate_links
from lineageflow.io import read_tables, write_table

log = logging.getLogger("lineageflow")


def main(smk):
    p = smk.params
    tr = p.tracking
    table, meta = read_tables(smk.input.tables)
    probs, _ = read_tables(smk.input.probabilities, expected=meta)
    nodes = table.merge(probs, on=["frame", "label"], how="inner", validate="one_to_one")
    if len(nodes) != len(table):
        raise ValueError("classifier output does not cover every object")
    # cells enter and leave laterally: z borders of a thin stack would make every object "at the border"
    nodes["border_distance"] = nodes["border_distance_yx"]
    edges = candidate_links(nodes, k=tr["k_neighbours"], max_distance=tr["max_distance"])
    params = ilp.TrackingParams(weights=tuple(tr["weights"]), max_count=tr["max_count"],
                                transition_lambda=tr["transition_lambda"], division_threshold=tr["division_threshold"],
                                border_width=tr["border_width"], division_into_merger=tr["division_into_merger"],
                                keep_all_objects=tr["keep_all_objects"])
    model = ilp.build(nodes, edges, params, free_appearance_frames=[0], free_disappearance_frames=[p.n_frames - 1],
                      names=False)
    log.info("model: %d objects, %d candidate links", len(nodes), len(edges))
    sol = ilp.solve(model, tr["solver"], gap=tr["gap"], time_limit=tr["time_limit"] or None, threads=smk.threads,
                    failed_model_path=p.failed_model)
    summary = sol.to_dict() | {"n_objects": len(nodes), "n_candidate_links": len(edges), "frames": [0, p.n_frames]}
    log.info("solved: %s", summary)
    write_table(smk.output.nodes, nodes.merge(sol.nodes, on=["frame", "label"]), meta)
    write_table(smk.output.edges, sol.edges, meta)
    with atomic_path(smk.output.summary) as tmp:
        tmp.write_text(json.dumps(summary, indent=1, sort_keys=True, default=str))


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
