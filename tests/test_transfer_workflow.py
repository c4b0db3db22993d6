"""Normalisation and augmentation through the workflow (issue #9), on a small generated movie."""

import json
import re

import numpy as np

from lineageflow import classifiers, groundtruth, pixels, scribbles
from lineageflow.io import read_tables
from workflow_helpers import snakemake


def test_frame_normalisation_and_augmentation_reach_both_classifiers(tmp_path):
    out = tmp_path / "out"
    snakemake("--config", f"out={out}", "demo={n_frames: 8, n_cells: 6, seed: 3}",
              "pixels={normalise: {mode: frame, low: 40}, augment: {contrast: [0.5], noise: [1.0], seed: 4}}")
    levels = json.loads((out / "pixels" / "normalisation.json").read_text())
    assert levels["normalisation"] == {"mode": "frame", "low": 40, "high": 99.8, "sample_frames": 20}
    assert np.shape(levels["levels"]) == (2, 1)  # the movie's, for the object features
    clf = pixels.load(out / "pixels" / "classifier.pkl")
    assert clf.normalisation.mode == "frame" and clf.normalisation.low == 40
    assert clf.training["augmentation"]["contrast"] == [0.5] and clf.training["augmentation"]["seed"] == 4
    frames = clf.training["gt_frames"]["frames"]
    assert frames == [0, 2, 5, 7]
    # objects.split 'auto' was decided on those frames: the demo's nuclei are apart, so splitting frees none
    split = clf.training["split"]
    assert split["ratio"] == 0.0 and split["evidence"]["alone_with"] == split["evidence"]["alone_without"]
    n_gt = sum(len(np.unique(m[m > 0])) for m in (groundtruth.read_mask(p) for t, p in
                                                   groundtruth.track_frames(out / "demo" / "01_GT").items()
                                                   if t in frames))
    assert split["evidence"]["n_gt"] == n_gt
    # every labelled pixel three times: the frame, its contrast copy and its noise copy (scribble defaults)
    masks = groundtruth.mask_frames(out / "demo" / "01_GT")
    labelled = sum(int((scribbles.sample_scribbles(groundtruth.read_mask(masks[t]), n_strokes_per_object=2, erosion=1,
                                                   min_distance_from_objects=2, seed=t) > 0).sum()) for t in frames)
    assert clf.training["n_rows"] == 3 * labelled
    # the count classifier learnt from the movie's objects and from those of the 2 copies of each training frame
    count = classifiers.load_optional(out / "classify" / "count_classifier.pkl", kind="count")
    assert count.info["normalised_intensity"] is True
    log = (out / "logs" / "classify_train.log").read_text()
    found = re.search(r"count classifier: (\d+) objects from (\d+) augmented copies of frames", log)
    assert found and int(found.group(2)) == 2 * len(frames)
    table, _ = read_tables(sorted((out / "objects" / "features").glob("*.parquet")))
    assert count.info["n_samples"] == len(table) + int(found.group(1))
    assert json.loads((out / "eval" / "metrics.json").read_text())["TRA"] >= 0.9


def test_count_classifier_alone_learns_from_augmented_copies(tmp_path):
    """classify.augment: the forest is trained on the original frames only, the count classifier also on the
    objects of low-contrast copies of those frames (noise objects labelled as false detections)."""
    out = tmp_path / "out"
    snakemake("--config", f"out={out}", "demo={n_frames: 8, n_cells: 6, seed: 3}",
              "classify={augment: {contrast: [0.3, 0.2], seed: 1}}")
    clf = pixels.load(out / "pixels" / "classifier.pkl")
    assert clf.training["augmentation"] is None  # the forest saw no copy
    frames = clf.training["gt_frames"]["frames"]
    log = (out / "logs" / "classify_train.log").read_text()
    found = re.search(r"count classifier: (\d+) objects from (\d+) augmented copies of frames", log)
    assert found and int(found.group(2)) == 2 * len(frames)
    count = classifiers.load_optional(out / "classify" / "count_classifier.pkl", kind="count")
    table, _ = read_tables(sorted((out / "objects" / "features").glob("*.parquet")))
    assert count.info["n_samples"] == len(table) + int(found.group(1))
