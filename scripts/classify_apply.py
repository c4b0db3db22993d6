"""Rule classify_apply: P(count = 0..N) and P(division) for the objects of one chunk."""

import logging
import time

from _helpers import run

from lineageflow import classifiers, normalise
from lineageflow.io import read_table, write_table
from lineageflow.progress import format_eta

log = logging.getLogger("lineageflow")


def main(smk):
    p = smk.params
    start = time.monotonic()
    table, meta = read_table(smk.input.table)
    next_table = read_table(smk.input.next_table[0])[0] if smk.input.next_table else None
    if next_table is not None:
        next_table = next_table[next_table["frame"] == meta["frames"][1]]
    levels = normalise.intensity_levels(*normalise.read_levels(smk.input.normalisation), p.channel)
    result = classifiers.classify_table(
        table, count_clf=classifiers.load_optional(smk.input.counts, kind="count"),
        division_clf=classifiers.load_optional(smk.input.division, kind="division"), n_frames=p.n_frames,
        next_table=next_table, frames=tuple(meta["frames"]), max_count=p.max_count,
        fallback_confidence=p.classify["fallback_confidence"], levels=levels)
    write_table(smk.output[0], result, meta)
    # one vectorised call for the whole chunk: its time, not per-frame progress
    log.info("frames %s: %d objects classified in %s", meta["frames"], len(result),
             format_eta(time.monotonic() - start))


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
