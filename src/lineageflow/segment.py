"""Pixels → objects in one process for a few frames: the pixel classifier's augmented training copies (which the
count classifier also learns from) and the objects.split 'auto' decision. Movies go through the per-chunk rules."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from . import features, pixels, threshold
from .io import Movie


def augmented_count_examples(movie: Movie, clf: pixels.PixelClassifier, objects_cfg: dict, voxel_size, *,
                             gt_dir, frames, augmentation, channel: int = 0):
    """Objects of the pixel classifier's augmented training copies, with their counts from the ground truth.

    For every frame and every copy of ``augmentation`` (as the pixel classifier saw them): predict, threshold and
    measure the copy like a real frame, normalised by the copy's own levels, and count the GT objects each object
    covers (the CTC rule), so noise objects of a low signal-to-noise movie are learnt as count 0.
    Yields (table, counts, intensity levels) per frame and copy.
    """
    from . import annotations, groundtruth, normalise

    tra = groundtruth.track_frames(gt_dir)
    dividing = annotations.dividing_parents(annotations.read_man_track(Path(gt_dir) / "TRA" / "man_track.txt"))
    channels = bool(movie.n_channels)
    for t in frames:
        gt = groundtruth.read_mask(tra[t], movie.spatial_shape)
        for name, copy in augmentation.copies(movie.read(t), t, channels=channels):
            own = clf.normalisation.per_frame()
            levels = normalise.levels_for_frame(copy, own, None, channels=channels)
            source = f"{movie.source} frame {t} ({name} copy)"
            lab = threshold.threshold_from_config(pixels.predict(clf, copy, levels=levels), objects_cfg, voxel_size,
                                                  source=source)
            intensity = copy[..., channel] if channels else copy
            table = features.object_features(lab, intensity, frame=t, voxel_size=voxel_size, source=source)
            ann = annotations.annotations_from_gt(lab, gt, table, dividing=dividing, frame=t, source=source)
            counts = ann["count"].reindex(pd.MultiIndex.from_frame(table[["frame", "label"]])).to_numpy(float)
            yield table, counts, normalise.intensity_levels(clf.normalisation, levels, channel)


AUTO_SPLIT_RATIO = 0.4  # the ratio objects.split 'auto' tries
AUTO_SPLIT_MIN_GAIN = 0.01  # net gain (per GT object) the split must bring on the training frames


def choose_split(clf: pixels.PixelClassifier, images, gt_masks, objects_cfg: dict, voxel_size, *, levels=None,
                 ratio: float = AUTO_SPLIT_RATIO) -> dict:
    """Decide whether touching objects are split (objects.split 'auto'), on frames with ground truth.

    Each frame is predicted and thresholded with and without the split, and our objects are matched to the GT
    objects with the CTC coverage rule (as DET counts them). The split is kept when the GT objects it frees from
    mergers, minus the extra objects that cover no GT object (nuclei cut into pieces), exceed
    ``AUTO_SPLIT_MIN_GAIN`` per GT object. Returns {"ratio": chosen ratio (0 = off), "evidence": ...}.
    """
    from . import annotations

    totals = {"n_gt": 0, "alone_without": 0, "alone_with": 0, "false_without": 0, "false_with": 0}
    per_image = levels if isinstance(levels, list) else [levels] * len(images)  # one per image, or the movie's
    for t, (image, gt, image_levels) in enumerate(zip(images, gt_masks, per_image)):
        probs = pixels.predict(clf, image, levels=image_levels)
        gt = np.asarray(gt)
        totals["n_gt"] += int(np.unique(gt[gt > 0]).size)
        for key, r in (("without", 0.0), ("with", ratio)):
            lab = threshold.threshold_from_config(probs, {**objects_cfg, "split": r}, voxel_size)
            ids = np.unique(lab[lab > 0])
            counts = annotations.annotations_from_gt(lab, gt, pd.DataFrame({"frame": t, "label": ids}),
                                                     dividing={}, frame=t)["count"].to_numpy()
            totals[f"alone_{key}"] += int((counts == 1).sum())
            totals[f"false_{key}"] += int((counts == 0).sum())
    n = max(totals["n_gt"], 1)
    gain = ((totals["alone_with"] - totals["alone_without"]) - (totals["false_with"] - totals["false_without"])) / n
    return {"ratio": ratio if gain > AUTO_SPLIT_MIN_GAIN else 0.0, "gain": gain, "evidence": totals}


def resolved_objects(objects_cfg: dict, clf: pixels.PixelClassifier | dict | None) -> dict:
    """The objects config with objects.split 'auto' replaced by the ratio decided when the pixel classifier was
    trained (0 = off when there is no such decision: no pixel classifier, or one not trained from ground truth).
    ``clf``: the classifier, or its ``training`` record (:func:`lineageflow.pixels.read_training`)."""
    if objects_cfg.get("split") != "auto":
        return objects_cfg
    training = (clf if isinstance(clf, dict) else clf.training or {}) if clf is not None else {}
    decided = training.get("split") or {}
    return {**objects_cfg, "split": float(decided.get("ratio", 0.0))}
