"""Rule objects_evaluate: objects found vs ground-truth objects, and GT objects matched with IoU > 0.5."""

import json
import logging

from _helpers import run

from lineageflow import groundtruth, seg_metrics
from lineageflow.atomic import atomic_path
from lineageflow.io import read_chunk, recorded_path

log = logging.getLogger("lineageflow")


def main(smk):
    masks = groundtruth.mask_frames(smk.params.gt)
    per_frame = []
    for path in smk.input.labels:
        labels, t0 = read_chunk(path, "labels")
        for i, lab in enumerate(labels):
            t = t0 + i
            if t in masks:
                gt = groundtruth.read_mask(masks[t], tuple(smk.params.shape))
                per_frame.append(seg_metrics.iou_matches(lab, gt) | {"frame": t})
    summary = seg_metrics.summarize(per_frame) | {"gt": recorded_path(smk.params.gt, smk.params.out), "per_frame": per_frame}
    log.info("objects %d vs GT %d; GT matched IoU>0.5: %.4f", summary["n_pred"], summary["n_gt"],
             summary["matched_fraction"])
    with atomic_path(smk.output[0]) as tmp:
        tmp.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
