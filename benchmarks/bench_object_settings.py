"""Object-stage settings on a finished run's probabilities: simple vs hysteresis thresholds, size filters and the
touching-object split, scored against the ground truth (no pixel prediction is repeated).

    python benchmarks/bench_object_settings.py RUN_DIR --gt GT_DIR [--voxel-size 1 1] [--masks seg|tra]

RUN_DIR is a finished run's output folder (pixels/probabilities/*.h5), e.g. one of `bench_transfer.py`'s shifted
copies. Per setting, over the frames with GT masks:
* seg: GT objects matched one-to-one with IoU > 0.5 (fraction) and objects found per GT object (SEG masks);
* CTC: with the CTC coverage rule on the TRA masks (a GT object belongs to the object holding more than half of its
  pixels, as DET and the count classifier's annotations count): the fraction of GT objects alone in their object,
  the fraction inside mergers, and the objects covering no GT object (false detections) per GT object.
`--masks tra` scores the IoU columns on the TRA masks too (datasets whose SEG annotates only some cells).
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import numpy as np
import pandas as pd

from lineageflow import annotations, groundtruth, seg_metrics, threshold
from lineageflow.io import read_chunk

BASE = dict(channel=0, method="simple", threshold=0.5, low=0.4, high=0.7, sigma=[1.0, 1.0, 1.0], min_size=10,
            max_size=0, max_foreground_fraction=0.95, split=0.0)
SETTINGS = {
    "simple 0.5 (default)": {},
    "simple 0.4": {"threshold": 0.4},
    "simple 0.6": {"threshold": 0.6},
    "hysteresis 0.4/0.7": {"method": "hysteresis"},
    "hysteresis 0.3/0.8": {"method": "hysteresis", "low": 0.3, "high": 0.8},
    "min_size 30": {"min_size": 30},
    "split 0.2": {"split": 0.2},
    "split 0.3": {"split": 0.3},
    "split 0.4": {"split": 0.4},
    "split 0.3, min_size 30": {"split": 0.3, "min_size": 30},
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--gt", type=Path, required=True)
    ap.add_argument("--voxel-size", type=float, nargs="+", default=[1.0, 1.0])
    ap.add_argument("--masks", choices=["seg", "tra"], default="seg",
                    help="score against SEG masks (default) or TRA masks (where they are full masks, e.g. GOWT1)")
    a = ap.parse_args(argv)
    masks = groundtruth.mask_frames(a.gt) if a.masks == "seg" else groundtruth.track_frames(a.gt)
    probs = {}
    keep = set(masks) if a.masks == "seg" else set(groundtruth.track_frames(a.gt))
    for path in sorted(glob.glob(str(a.run / "pixels" / "probabilities" / "*.h5"))):
        chunk, t0 = read_chunk(path, "exported_data")
        probs.update({t0 + i: p for i, p in enumerate(chunk) if t0 + i in keep and t0 + i in masks})
    print(f"{a.run}: {len(probs)} frames with GT masks")
    tra = groundtruth.track_frames(a.gt)
    dividing = annotations.dividing_parents(annotations.read_man_track(a.gt / "TRA" / "man_track.txt"))
    print("| setting | IoU matched | found / GT | CTC alone | CTC in mergers | false / GT |")
    print("|---|---|---|---|---|---|")
    for name, over in SETTINGS.items():
        cfg = {**BASE, **over}
        per, counts, n_tra = [], [], 0
        for t, p in sorted(probs.items()):
            lab = threshold.threshold_from_config(p, cfg, a.voxel_size)
            gt = groundtruth.read_mask(masks[t])
            if gt.shape == lab.shape:  # (3D single-slice SEG masks are skipped)
                per.append(seg_metrics.iou_matches(lab, gt))
            gt_tra = groundtruth.read_mask(tra[t])
            n_tra += len(np.unique(gt_tra[gt_tra > 0]))
            ids = np.unique(lab[lab > 0])
            table = pd.DataFrame({"frame": t, "label": ids})
            counts.append(annotations.annotations_from_gt(lab, gt_tra, table, dividing=dividing, frame=t)["count"])
        c = pd.concat(counts).to_numpy()
        s = seg_metrics.summarize(per) if per else {"matched_fraction": float("nan"), "n_pred": 0, "n_gt": 0}
        print(f"| {name} | {s['matched_fraction']:.4f} | {s['n_pred'] / max(s['n_gt'], 1):.3f} | "
              f"{(c == 1).sum() / n_tra:.4f} | {c[c >= 2].sum() / n_tra:.4f} | {(c == 0).sum() / n_tra:.3f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
