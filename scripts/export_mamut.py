"""Rule export_mamut: MaMuT XML + BigDataViewer XML/HDF5 of the raw movie (open mamut.xml in Fiji's MaMuT)."""

import logging

import pandas as pd
from _helpers import run

from lineageflow import lineage
from lineageflow.export.mamut import write_mamut
from lineageflow.io import open_movie, read_table

log = logging.getLogger("lineageflow")


def main(smk):
    nodes, _ = read_table(smk.input.nodes)
    lin = lineage.Lineage.from_tables(nodes, pd.read_csv(smk.input.tracks))
    raw = smk.params.raw
    raw_at, n_frames, channel = None, smk.params.n_frames, 0
    if raw["path"]:
        movie = open_movie(raw["path"], dataset=raw["dataset"], axes=raw["axes"],
                           what="raw movie for the MaMuT export (config key 'input')")
        raw_at, n_frames = movie.read, movie.n_frames
        channel = raw["channel"] if movie.n_channels else 0
    summary = write_mamut(lin, raw_at, n_frames, smk.output[0], voxel_size=smk.params.voxel_size,
                          source_channel=channel)
    bdv = summary.pop("bdv")
    log.info("MaMuT export: %s in %s", summary, smk.output[0])
    log.info("BigDataViewer image: %s", bdv)


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
