"""Rule export_napari: the lineage as napari's Tracks layer (tracks.csv, graph.json, layer.json)."""

import logging

import pandas as pd
from _helpers import run

from lineageflow import lineage
from lineageflow.export.napari_tracks import write_napari
from lineageflow.io import read_table

log = logging.getLogger("lineageflow")


def main(smk):
    nodes, _ = read_table(smk.input.nodes)
    lin = lineage.Lineage.from_tables(nodes, pd.read_csv(smk.input.tracks))
    summary = write_napari(lin, smk.output[0], voxel_size=smk.params.voxel_size)
    log.info("napari export: %s in %s", summary, smk.output[0])


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
