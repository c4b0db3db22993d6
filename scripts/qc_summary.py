"""Rule qc_summary: all frames' QC rows, unreliable frames flagged; the table (CSV), a plot and a summary (JSON)."""

import json
import logging
import sys

import pandas as pd
from _helpers import run

from lineageflow import qc
from lineageflow.atomic import atomic_path
from lineageflow.io import read_table
from lineageflow.qc_report import qc_figure
from lineageflow.report import save_png

log = logging.getLogger("lineageflow")


def main(smk):
    settings = smk.params.qc
    rows = pd.concat([read_table(p)[0] for p in smk.input], ignore_index=True)
    table = qc.flag_frames(rows, count_jump=settings["count_jump"], count_window=settings["count_window"],
                           margin_drop_k=settings["margin_drop_k"], margin_min_drop=settings["margin_min_drop"],
                           saturated_fraction=settings["saturated_fraction"])
    with atomic_path(smk.output.table) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g", lineterminator="\n")
    save_png(qc_figure(table, smk.params.name), smk.output.plot)
    summary = qc.summary(table, settings)
    with atomic_path(smk.output.summary) as tmp:
        tmp.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    if summary["flagged"]:
        # the run goes on; the warning is in the log and on the console, so the user sees it before trusting lineages
        named = "; ".join(f"frame {f['frame']} ({f['flags']})" for f in summary["flagged"])
        message = f"QC flagged {summary['n_flagged']} of {summary['n_frames']} frames as unreliable: {named}"
        log.warning("%s", message)
        sys.stderr.write(f"lineageflow: WARNING: {message} (see {smk.output.table})\n")
    else:
        log.info("QC: %d frames, none flagged", summary["n_frames"])


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
