"""Rule export_selection: only the lineages of the objects of frame 0 that config key export.first_frame_labels
marks, as the lineage tables every export reads."""

import json
import logging

import pandas as pd
from _helpers import run

from lineageflow import lineage
from lineageflow.atomic import atomic_path
from lineageflow.errors import ConfigError
from lineageflow.export.selection import KEY, select_lineage
from lineageflow.io import LabelChunks, read_table, write_table

log = logging.getLogger("lineageflow")


def main(smk):
    if not smk.input.reference:  # the rule's outputs asked for by path with the key unset
        raise ConfigError(f"config key '{KEY}' is empty: there is no label image of frame 0 to select lineages by")
    nodes, meta = read_table(smk.input.nodes)
    lin = lineage.Lineage.from_tables(nodes, pd.read_csv(smk.input.tracks))
    kept, summary = select_lineage(lin, LabelChunks(smk.input.labels), smk.input.reference)
    unmatched = summary["reference_labels_unmatched"]
    if unmatched:
        log.warning("%d of %d labels of %s overlap no tracked object of frame 0: %s", len(unmatched),
                    summary["reference_labels"], smk.input.reference, unmatched)
    log.info("exported lineages: %d of %d tracks, %d of %d objects (lineages %s)", summary["tracks_kept"],
             summary["tracks_total"], summary["objects_kept"], summary["objects_total"], summary["lineages"])
    write_table(smk.output.nodes, kept.nodes, meta)
    with atomic_path(smk.output.tracks) as tmp:
        kept.tracks.to_csv(tmp, index=False)
    with atomic_path(smk.output.summary) as tmp:
        tmp.write_text(json.dumps(summary, indent=1, sort_keys=True))


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
