"""Rule export_ilastik: ilastik's tracking table and divisions table (CSV, ilastik's column names)."""

import logging

import pandas as pd
from _helpers import run

from lineageflow import lineage
from lineageflow.export.ilastik_tables import write_ilastik
from lineageflow.io import read_table

log = logging.getLogger("lineageflow")


def main(smk):
    nodes, _ = read_table(smk.input.nodes)
    lin = lineage.Lineage.from_tables(nodes, pd.read_csv(smk.input.tracks))
    summary = write_ilastik(lin, smk.output[0], ndim=smk.params.ndim)
    log.info("ilastik export: %s in %s", summary, smk.output[0])


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
