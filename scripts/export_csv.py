"""Rule export_csv: one row per object (ids, position, features; ilastik's column names where they exist)."""

import logging

from _helpers import run

from lineageflow.export.table import write_objects_csv
from lineageflow.io import read_table

log = logging.getLogger("lineageflow")


def main(smk):
    nodes, _ = read_table(smk.input.nodes)
    table = write_objects_csv(nodes, smk.output[0], ndim=smk.params.ndim)
    log.info("CSV export: %d objects, %d columns in %s", len(table), table.shape[1], smk.output[0])


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
