"""Rule export_geff: the lineage as a GEFF graph with its segmentation, in one zarr store."""

import logging

import pandas as pd
from _helpers import run

from lineageflow import lineage
from lineageflow.export.geff import write_geff
from lineageflow.io import LabelChunks, read_table

log = logging.getLogger("lineageflow")


def main(smk):
    nodes, _ = read_table(smk.input.nodes)
    lin = lineage.Lineage.from_tables(nodes, pd.read_csv(smk.input.tracks))
    summary = write_geff(lin, LabelChunks(smk.input.labels), smk.params.n_frames, smk.output[0],
                         voxel_size=smk.params.voxel_size)
    log.info("GEFF export: %s in %s", summary, smk.output[0])


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
