"""Rule export_ctc: Cell Tracking Challenge result folder (res_track.txt + maskTTT.tif)."""

import logging

import pandas as pd
from _helpers import run

from lineageflow import lineage
from lineageflow.export.ctc import write_ctc
from lineageflow.io import LabelChunks, read_table

log = logging.getLogger("lineageflow")


def main(smk):
    nodes, _ = read_table(smk.input.nodes)
    tracks = pd.read_csv(smk.input.tracks)
    lin = lineage.Lineage.from_tables(nodes, tracks)
    write_ctc(lin, LabelChunks(smk.input.labels), smk.params.n_frames, smk.output[0])
    log.info("CTC export: %d tracks in %s", len(tracks), smk.output[0])


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
