"""Rule evaluate_tracking: traccuracy's CTC metrics (TRA, DET, LNK) and division metrics against ground truth."""

import logging

from _helpers import run

from lineageflow.evaluate import evaluate_ctc, write_metrics
from lineageflow.io import recorded_path

log = logging.getLogger("lineageflow")


def main(smk):
    metrics = evaluate_ctc(smk.input.ctc, smk.params.gt)
    log.info("metrics: %s", {k: metrics[k] for k in ("TRA", "DET", "LNK", "division_f1") if k in metrics})
    for key in ("gt_dir", "pred_dir"):
        metrics[key] = recorded_path(metrics[key], smk.params.out)
    write_metrics(smk.output[0], metrics)


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
