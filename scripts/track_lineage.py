"""Rule track_lineage: the resolved solution becomes a lineage (track ids, parents, lineage ids)."""

import json
import logging

from _helpers import run

from lineageflow import lineage
from lineageflow.atomic import atomic_path
from lineageflow.io import read_table, write_table

log = logging.getLogger("lineageflow")


def main(smk):
    nodes, meta = read_table(smk.input.nodes)
    edges, _ = read_table(smk.input.edges)
    lin = lineage.from_solution(nodes, edges)
    write_table(smk.output.nodes, lin.nodes, meta)
    with atomic_path(smk.output.tracks) as tmp:
        lin.tracks.to_csv(tmp, index=False)
    summary = lin.summary()
    log.info("lineage: %s", summary)
    with atomic_path(smk.output.summary) as tmp:
        tmp.write_text(json.dumps(summary, indent=1, sort_keys=True))


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
