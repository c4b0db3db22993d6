"""Rule track_stitch: window solutions → one valid solution of the whole movie (seams re-solved, then checked)."""

import json
import logging

from _helpers import run

from lineageflow import learn, stitch
from lineageflow.atomic import atomic_path
from lineageflow.io import read_tables, write_table
from lineageflow.windows import WindowResult

log = logging.getLogger("lineageflow")


def main(smk):
    p = smk.params
    ids = sorted(p.windows, key=lambda w: p.windows[w])
    results, meta = {}, None
    for w, nodes_path, edges_path, summary_path in zip(ids, smk.input.nodes, smk.input.edges, smk.input.summaries):
        nodes, meta = read_tables([nodes_path], expected=meta)
        edges, _ = read_tables([edges_path], expected=meta)
        with open(summary_path) as f:
            results[w] = WindowResult(nodes, edges, json.load(f))
    tracking = learn.tracking_config(p.tracking, getattr(smk.input, "weights", []))
    st = stitch.stitch(p.windows, results, tracking)
    energy, problems = stitch.check(st, tracking, p.n_frames)
    if problems:  # a bug, not a user error: the seam model is always feasible
        raise RuntimeError("the stitched solution is not a valid lineage:\n" + "\n".join(problems[:20]))
    summary = stitch.summary(st, results, energy) | {"weights": [float(w) for w in tracking["weights"]],
                                                     "weights_learned": p.tracking["weights"] == "learned"}
    log.info("stitched %d windows: %s", len(ids), {k: v for k, v in summary.items() if k not in ("windows", "seams")})
    meta = meta | {"frames": [0, p.n_frames]}
    write_table(smk.output.nodes, st.nodes, meta)
    write_table(smk.output.edges, st.edges, meta)
    with atomic_path(smk.output.summary) as tmp:
        tmp.write_text(json.dumps(summary, indent=1, sort_keys=True, default=str))


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
