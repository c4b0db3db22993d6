"""Normalisation and augmentation through the workflow (issue #9), on a small generated movie."""

import json
import re

import numpy as np

from lineageflow import classifiers, groundtruth, pixels, scribbles, shift, synthetic
from lineageflow.io import read_tables
from workflow_helpers import SMALL_DEMO, snakemake


def test_frame_normalisation_and_augmentation_reach_both_classifiers(tmp_path):
    out = tmp_path / "out"
    snakemake("--config", f"out={out}", "demo={n_frames: 8, n_cells: 6, seed: 3}",
              "pixels={normalise: {mode: frame, low: 40}, augment: {contrast: [0.5], noise: [1.0], seed: 4}}")
    levels = json.loads((out / "pixels" / "normalisation.json").read_text())
    assert levels["normalisation"] == {"mode": "frame", "low": 40, "high": 99.8, "sample_frames": 20,
                                       "background": "auto", "drift": 0.45}
    assert levels["drift"] is None  # frame mode has no movie drift to follow
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


def test_flattening_carries_classifiers_to_a_dim_unevenly_lit_movie(tmp_path):
    """pixels.normalise.background: the same generated cells at contrast-to-noise ≈ 9 (trains) and ≈ 2 (tracked with
    the classifiers of the bright movie) on the generator's unevenly lit field. Without flattening, the bright side
    of the field is as bright as a dim nucleus and gives tracks of false objects; with it the dim movie scores
    within 0.03 of the bright one."""
    cells = dict(n_frames=16, shape=(256, 256), n_cells=20, seed=5)
    cnr = {}
    for name, contrast in (("bright", 0.92), ("dim", 0.2)):
        cnr[name] = synthetic.generate(tmp_path / name, synthetic.SyntheticConfig(**cells, contrast=contrast))[
            "contrast_to_noise"]
    assert cnr["bright"] > 8 and cnr["dim"] < 2.5
    train, gt = tmp_path / "bright" / "01", tmp_path / "bright" / "01_GT"  # the dim movie's GT is the same

    def run(movie, radius):
        out = tmp_path / f"{movie}_{radius}"
        snakemake("--config", f"input={tmp_path / movie / '01'}", f"out={out}", f"train={train}", f"train_gt={gt}",
                  f"gt={gt}", f"pixels={{normalise: {{background: {radius}}}}}")
        return json.loads((out / "eval" / "metrics.json").read_text())

    bright, dim, dim_unflattened = run("bright", 64), run("dim", 64), run("dim", 0)
    assert bright["TRA"] >= 0.98
    assert dim["TRA"] >= bright["TRA"] - 0.03, (bright, dim)
    assert dim_unflattened["TRA"] < dim["TRA"] - 0.05, (dim_unflattened, dim)
    assert dim_unflattened["fp_nodes"] > 3 * max(dim["fp_nodes"], 10)


def test_drift_carries_classifiers_to_a_bleaching_movie(tmp_path):
    """pixels.normalise.drift: generated cells at contrast-to-noise ≈ 10 train; the same movie bleached to 0.2× of
    its contrast by the last frame (noise kept) is tracked with those classifiers. Movie levels pooled over all
    frames normalise its late frames as far too dim; following the drift keeps them near the training brightness."""
    cells = dict(n_frames=16, shape=(256, 256), n_cells=20, seed=5)
    synthetic.generate(tmp_path / "bright", synthetic.SyntheticConfig(**cells, contrast=0.92))
    train, gt = tmp_path / "bright" / "01", tmp_path / "bright" / "01_GT"  # the bleached copy's GT is the same
    shift.write_shifted_sequence(train, tmp_path / "bleached" / "01", shift.by_name("bleach0.2"))

    def run(drift):
        out = tmp_path / f"out_{drift}"
        snakemake("--config", f"input={tmp_path / 'bleached' / '01'}", f"out={out}", f"train={train}",
                  f"train_gt={gt}", f"gt={gt}", f"pixels={{normalise: {{drift: {drift}}}}}")
        return out, json.loads((out / "eval" / "metrics.json").read_text())

    (out, followed), (_, fixed) = run(0.45), run("off")
    drift = json.loads((out / "pixels" / "normalisation.json").read_text())["drift"]
    scale = [s[0] for s in drift["scale"]]
    assert scale[0] >= 1 > scale[-1] and scale == sorted(scale, reverse=True), drift
    assert "brightness drift beyond 0.45" in (out / "logs" / "pixels_normalise.log").read_text()
    assert followed["TRA"] >= 0.95, followed
    assert fixed["TRA"] < followed["TRA"] - 0.05, (fixed, followed)
    assert fixed["fn_nodes"] > 3 * max(followed["fn_nodes"], 5)


def test_flattening_radius_below_the_nuclei_is_named(tmp_path):
    """A flattening disk no wider than the widest ground-truth nucleus would take nuclei for background:
    pixels_train says so, naming the config key (the demo's nuclei are up to 15 pixels across)."""
    out = tmp_path / "out"
    snakemake("--until", "pixels_train", "--config", f"out={out}", SMALL_DEMO,
              "pixels={normalise: {background: 7}}")
    log = (out / "logs" / "pixels_train.log").read_text()
    assert re.search(r"config key 'pixels.normalise.background' = 7 \(radius 7\): the widest ground-truth object is "
                     r"1\d pixels",
                     log), log
    assert pixels.load(out / "pixels" / "classifier.pkl").normalisation.background == 7
    snakemake("--until", "pixels_train", "--config", f"out={tmp_path / 'wide'}", SMALL_DEMO)
    assert "pixels.normalise.background" not in (tmp_path / "wide" / "logs" / "pixels_train.log").read_text()
