"""Quality control without ground truth: per-frame measures on generated arrays, the flags and their reasons, the
report's wording, and the workflow's qc outputs (a frame of zeros put through the workflow is flagged 'blank')."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import tifffile

from conftest import ROOT
from lineageflow import qc
from lineageflow.errors import ConfigError
from workflow_helpers import assert_stops_before_any_job, snakemake

SETTINGS = {"count_jump": 0.5, "count_window": 2, "margin_drop_k": 5.0, "margin_min_drop": 0.01,
            "saturated_fraction": 0.01}
BAND = (0.3, 0.7)
N_FRAMES, SIDE, CELLS = 12, 32, 4  # 4 cells of 4×4 pixels in a 32×32 frame


def _frame(t: int, n_cells: int = CELLS):
    """Raw (uint16), foreground probability and labels of one ordinary frame: cells at p = 0.95, background at
    p = 0.05 + 0.002·(t mod 4), so that the margin varies a little from frame to frame."""
    raw = np.full((SIDE, SIDE), 100, np.uint16)
    raw[0, 0] = 90 + t  # not constant
    labels = np.zeros((SIDE, SIDE), np.uint32)
    for i in range(n_cells):
        y, x = 2 + 6 * (i // 4), 2 + 6 * (i % 4)
        labels[y:y + 4, x:x + 4] = i + 1
    raw[labels > 0] = 400
    p = np.where(labels > 0, 0.95, 0.05 + 0.002 * (t % 4))
    return raw, p, labels


def _movie():
    return [list(_frame(t)) for t in range(N_FRAMES)]


def _flags(movie, probabilities=True) -> list[str]:
    rows = [qc.frame_qc(raw, p if probabilities else None, lab, frame=t, band=BAND)
            for t, (raw, p, lab) in enumerate(movie)]
    return list(qc.flag_frames(qc.frames_table(rows), **SETTINGS)["flags"])


def _only(t: int, flags: str) -> list[str]:
    return ["" if i != t else flags for i in range(N_FRAMES)]


# --- per-frame measures ------------------------------------------------------------------------------------------

def test_frame_measures():
    raw, p, labels = _frame(2)
    raw[5, 5] = 65535
    p[0, :10] = 0.5  # 10 uncertain pixels; the band's ends count as uncertain
    p[1, 0], p[1, 1] = 0.3, 0.7
    row = qc.frame_qc(raw, p, labels, frame=7, band=BAND)
    assert list(row) == list(qc.COLUMNS)
    assert row["frame"] == 7 and row["n_objects"] == CELLS
    assert row["foreground_fraction"] == 64 / 1024
    assert row["uncertain_fraction"] == 12 / 1024
    expected_margin = np.abs(2 * p - 1).mean()
    assert row["mean_probability_margin"] == pytest.approx(expected_margin, abs=1e-12)
    assert row["raw_min"] == 92 and row["raw_max"] == 65535
    assert row["raw_mean"] == pytest.approx(raw.astype(float).mean())
    assert row["raw_std"] == pytest.approx(raw.astype(float).std())
    assert row["saturated_fraction"] == 1 / 1024 and row["nonfinite_fraction"] == 0.0
    assert row["blank"] is False


def test_labels_count_distinct_objects_not_the_largest_label():
    raw, p, labels = _frame(0)
    labels[labels == 2] = 17  # labels need not be consecutive
    assert qc.frame_qc(raw, p, labels, frame=0, band=BAND)["n_objects"] == CELLS


def test_without_probabilities_margin_is_empty_and_never_flagged():
    raw, _, labels = _frame(0)
    row = qc.frame_qc(raw, None, labels, frame=0, band=BAND)
    assert np.isnan(row["mean_probability_margin"]) and np.isnan(row["uncertain_fraction"])
    assert _flags(_movie(), probabilities=False) == [""] * N_FRAMES


def test_float_frames_measure_non_finite_pixels_and_never_saturate():
    raw = np.full((4, 4), 3.0, np.float32)
    raw[0, 0], raw[0, 1] = np.nan, np.inf
    row = qc.frame_qc(raw, None, np.zeros((4, 4), np.uint32), frame=0, band=BAND)
    assert row["nonfinite_fraction"] == 2 / 16 and row["saturated_fraction"] == 0.0
    assert row["raw_min"] == row["raw_max"] == 3.0 and row["blank"] is True  # the finite pixels are constant


# --- the flags ---------------------------------------------------------------------------------------------------

def test_normal_movie_flags_nothing():
    assert _flags(_movie()) == [""] * N_FRAMES


def test_blank_frame():
    movie = _movie()
    movie[5] = [np.zeros((SIDE, SIDE), np.uint16), np.full((SIDE, SIDE), 0.05), np.zeros((SIDE, SIDE), np.uint32)]
    # a dropped frame also loses its objects: both reasons are given
    assert _flags(movie) == _only(5, "blank; count jump: 0 objects, 4 in the frames around")


def test_nan_frame():
    movie = _movie()
    raw = movie[3][0].astype(np.float32)
    raw[:4] = np.nan  # 4 of 32 rows
    movie[3][0] = raw
    assert _flags(movie) == _only(3, "non-finite: 12.5 % of pixels")


def test_saturated_frame_above_the_threshold_only():
    movie = _movie()
    movie[8][0][:, :4] = 65535  # 12.5 % of the pixels
    movie[2][0][0, :10] = 65535  # 10 of 1024 pixels: not more than saturated_fraction = 0.01
    assert _flags(movie) == _only(8, "saturated: 12.5 % of pixels at the maximum")


def test_count_jump_more_than_the_threshold():
    movie = _movie()
    movie[6][2] = _frame(6, n_cells=8)[2]  # +100 %
    movie[9][2] = _frame(9, n_cells=6)[2]  # +50 %: not more than count_jump = 0.5
    assert _flags(movie) == _only(6, "count jump: 8 objects, 4 in the frames around")


def test_count_jump_at_the_movie_ends_compares_with_as_many_neighbours():
    movie = _movie()
    movie[1][2] = np.zeros((SIDE, SIDE), np.uint32)  # frame 0's neighbours are 1..4: median 4, frame 0 is fine
    assert _flags(movie) == _only(1, "count jump: 0 objects, 4 in the frames around")
    assert list(qc.neighbour_median(np.array([6, 0, 6, 6, 6, 6]), 2)) == [6, 6, 6, 6, 6, 6]
    assert list(qc.neighbour_median(np.array([1, 2, 3]), 2)) == [2.5, 2, 1.5]  # fewer frames than the window
    assert np.isnan(qc.neighbour_median(np.array([4]), 2)).all()


def test_margin_drop():
    movie = _movie()
    movie[4][1] = np.where(movie[4][2] > 0, 0.6, 0.35)  # the classifier hesitates everywhere: margin 0.29375
    # the other frames' margins are 0.9 − 0.00375·(t mod 4): median 0.8925, MAD 0.00375,
    # floor = 0.8925 − 5 · 1.4826 · 0.00375 = 0.8647
    assert _flags(movie) == _only(4, "margin drop: 0.294 below 0.865 (movie median 0.892)")


def test_small_margin_dip_in_a_steady_movie_is_flagged_only_beyond_margin_min_drop():
    movie = _movie()
    for t, frame in enumerate(movie):  # a steady movie: every frame's margin 0.9, so σ = 0
        frame[1] = np.where(frame[2] > 0, 0.95, 0.05)
    movie[4][1] = np.where(movie[4][2] > 0, 0.95, 0.0525)  # margin 0.8953: 0.0047 below the median
    rows = [qc.frame_qc(r, p, lab, frame=t, band=BAND) for t, (r, p, lab) in enumerate(movie)]
    table = qc.frames_table(rows)
    assert list(qc.flag_frames(table, **SETTINGS)["flags"]) == [""] * N_FRAMES
    no_floor = qc.flag_frames(table, **{**SETTINGS, "margin_min_drop": 0.0})
    assert list(no_floor["flags"]) == _only(4, "margin drop: 0.895 below 0.900 (movie median 0.900)")


def test_summary_lists_flagged_frames_and_medians():
    movie = _movie()
    movie[5] = [np.zeros((SIDE, SIDE), np.uint16), np.full((SIDE, SIDE), 0.05), np.zeros((SIDE, SIDE), np.uint32)]
    rows = [qc.frame_qc(r, p, lab, frame=t, band=BAND) for t, (r, p, lab) in enumerate(movie)]
    table = qc.flag_frames(qc.frames_table(rows[::-1]), **SETTINGS)  # rows in any order
    assert list(table["frame"]) == list(range(N_FRAMES))
    s = qc.summary(table, SETTINGS)
    assert s["n_frames"] == N_FRAMES and s["n_flagged"] == 1
    assert s["flagged"] == [{"frame": 5, "flags": "blank; count jump: 0 objects, 4 in the frames around"}]
    assert s["median_n_objects"] == 4 and s["settings"] == SETTINGS
    assert s["median_mean_probability_margin"] == pytest.approx(0.894375)


def test_uncertain_band_must_be_an_interval():
    from lineageflow.config import load_schema, validate_config

    schema = load_schema(ROOT / "config" / "schema.yaml")
    validate_config({"qc": {"uncertain_band": [0.4, 0.4]}}, schema)
    with pytest.raises(ConfigError, match=r"qc.uncertain_band.*\[0.8, 0.2\]"):
        validate_config({"qc": {"uncertain_band": [0.8, 0.2]}}, schema)


def test_report_wording():
    from lineageflow.qc_report import report_text

    assert report_text(None)[0].startswith("no quality-control outputs")
    fine = {"n_frames": 8, "flagged": [], "median_mean_probability_margin": 0.98, "median_uncertain_fraction": 0.01}
    assert report_text(fine) == ("8 frames (median margin 0.980, median uncertain fraction 0.0100): no frame flagged",
                                 [])
    bad = {"n_frames": 8, "flagged": [{"frame": 3, "flags": "blank"}], "median_mean_probability_margin": None,
           "median_uncertain_fraction": None}
    assert report_text(bad) == ("8 frames: 1 flagged as unreliable", [(3, "blank")])


# --- the workflow ------------------------------------------------------------------------------------------------

def test_every_run_makes_the_qc_summary():
    proc = snakemake("-n", "--config", "demo={n_frames: 8}", "frames_per_job=4")
    assert "qc_frames" in proc.stdout and "qc_summary" in proc.stdout


def test_bad_uncertain_band_stops_before_any_job(tmp_path):
    assert_stops_before_any_job(tmp_path, ["qc={uncertain_band: [0.9, 0.1]}"], ["qc.uncertain_band", "0.9"])


@pytest.fixture(scope="module")
def zeroed_movie(tmp_path_factory):
    """A small demo movie (with its GT) and a copy of it whose frame 3 is all zeros."""
    from lineageflow.synthetic import SyntheticConfig, generate

    root = tmp_path_factory.mktemp("qc")
    generate(root / "demo", SyntheticConfig(n_frames=8, n_cells=6, seed=3))
    shutil.copytree(root / "demo" / "01", root / "zeroed" / "01")
    frame = root / "zeroed" / "01" / "t003.tif"
    tifffile.imwrite(frame, np.zeros_like(tifffile.imread(frame)))
    return root


def _frames_csv(out):
    return pd.read_csv(out / "qc" / "frames.csv", dtype={"flags": str}).fillna({"flags": ""})


def test_a_frame_of_zeros_is_flagged_blank(zeroed_movie, tmp_path):
    out = tmp_path / "out"
    proc = snakemake(f"{out}/qc/summary.json", "--config", f"input={zeroed_movie / 'zeroed' / '01'}", f"out={out}",
                     f"train={zeroed_movie / 'demo' / '01'}", "frames_per_job=4", "pixels={n_trees: 20}")
    table = _frames_csv(out)
    assert list(table.columns) == [*qc.COLUMNS, "flags"]
    assert list(table["frame"]) == list(range(8))  # one row per frame
    assert (out / "qc" / "qc.png").read_bytes()[:4] == b"\x89PNG"
    flagged = table[table["flags"] != ""]
    assert list(flagged["frame"]) == [3], table[["frame", "n_objects", "mean_probability_margin", "flags"]]
    assert flagged["flags"].iloc[0].startswith("blank")
    assert table.loc[3, "raw_max"] == 0 and table.loc[3, "n_objects"] == 0
    assert (table.drop(index=3)["n_objects"] > 0).all()
    assert table["mean_probability_margin"].between(0, 1).all()
    summary = json.loads((out / "qc" / "summary.json").read_text())
    assert summary["n_frames"] == 8 and [f["frame"] for f in summary["flagged"]] == [3]
    # the run goes on, and the user is told which frame
    warning = [line for line in proc.stderr.splitlines() if line.startswith("lineageflow: WARNING: QC flagged")]
    assert len(warning) == 1 and "frame 3 (blank" in warning[0], proc.stderr[-3000:]
    csv_bytes = (out / "qc" / "frames.csv").read_bytes()
    snakemake(f"{out}/qc/summary.json", "--config", f"input={zeroed_movie / 'zeroed' / '01'}", f"out={out}",
              f"train={zeroed_movie / 'demo' / '01'}", "frames_per_job=4", "pixels={n_trees: 20}",
              "--forcerun", "qc_summary", "--rerun-triggers", "mtime")  # only qc_summary runs again
    assert (out / "qc" / "frames.csv").read_bytes() == csv_bytes  # same tables, same bytes


def test_objects_from_label_images_have_no_margin(zeroed_movie, tmp_path):
    out = tmp_path / "labels"
    gt = zeroed_movie / "demo" / "01_GT" / "SEG"
    proc = snakemake(f"{out}/qc/summary.json", "--config", f"input={zeroed_movie / 'demo' / '01'}", f"out={out}",
                     f"objects={{labels: {gt}, min_size: 0}}", "frames_per_job=4")
    assert "pixels_predict" not in proc.text
    table = _frames_csv(out)
    assert list(table["frame"]) == list(range(8))
    gt_counts = [len(np.unique(tifffile.imread(gt / f"man_seg{t:03d}.tif"))) - 1 for t in range(8)]
    assert list(table["n_objects"]) == gt_counts
    assert table["mean_probability_margin"].isna().all() and table["uncertain_fraction"].isna().all()
    assert (table["flags"] == "").all()
