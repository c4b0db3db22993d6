"""Rule qc_summary: all frames' QC rows, unreliable frames flagged; the table (CSV), a plot and a summary (JSON);
the bad-frame check of every frame (qc/frame_check.csv)."""

import json
import logging
import sys

import pandas as pd
from _helpers import run

from lineageflow import frame_check, qc
from lineageflow.atomic import atomic_path
from lineageflow.io import read_table
from lineageflow.qc_report import qc_figure
from lineageflow.report import save_png

log = logging.getLogger("lineageflow")


def main(smk):
    settings = smk.params.qc
    rows = pd.concat([read_table(p)[0] for p in smk.input.frames], ignore_index=True)
    # bad raw frames (config input_check): skipped only where our pixel stage made the objects
    mode = smk.params.input_check["bad_frames"]
    check = pd.concat([frame_check.read_check(p) for p in smk.input.checks], ignore_index=True)
    check = check.sort_values("frame", kind="stable").reset_index(drop=True)
    skipped = (frame_check.frames_to_skip(check, mode, smk.params.input_check["skip_abnormal"]) if smk.params.skips
               else set())
    frame_check.write_check(smk.output.check, check)
    # bad frames are no reference for the counts and margins of the others
    table = qc.flag_frames(rows, count_jump=settings["count_jump"], count_window=settings["count_window"],
                           margin_drop_k=settings["margin_drop_k"], margin_min_drop=settings["margin_min_drop"],
                           saturated_fraction=settings["saturated_fraction"],
                           exclude=set(frame_check.bad(check)["frame"].astype(int)), skipped=skipped)
    table = qc.add_input_check(table, check, skipped)
    with atomic_path(smk.output.table) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g", lineterminator="\n")
    save_png(qc_figure(table, smk.params.name), smk.output.plot)
    summary = qc.summary(table, settings)
    summary["input_check"] = qc.input_check_summary(check, mode, skipped)
    for f in summary["input_check"]["frames"]:  # one line per bad frame, naming its file
        log.warning("bad frame %d (%s): %s; %s", f["frame"], f["file"], f["reason"], f["action"])
    for f in summary["input_check"]["dtype_notes"]:
        log.warning("frame %d (%s): %s", f["frame"], f["file"], f["note"])
    if skipped and len(skipped) > len(check) / 2:
        message = (f"{len(skipped)} of {len(check)} frames are bad and were skipped (no objects): look at the movie "
                   f"({smk.output.check}), or set config key 'input_check.bad_frames' to 'keep'")
        log.warning("%s", message)
        sys.stderr.write(f"lineageflow: WARNING: {message}\n")
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
