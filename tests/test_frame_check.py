"""Bad raw frames (lineageflow.frame_check): the statistics and the classifier on generated arrays, the fill of
non-finite pixels, the normalisation sample without bad frames, the QC summary and report wording, and a workflow
run on a generated movie with a frame of zeros, a saturated frame and a frame of NaN."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import tifffile

from conftest import ROOT
from lineageflow import frame_check, normalise, qc
from lineageflow.errors import ConfigError, InputError
from lineageflow.normalise import Normalisation
from workflow_helpers import snakemake

SIDE = 32


def _frame(t: int, level: float = 100.0, seed: int = 0) -> np.ndarray:
    """An ordinary uint16 frame: background ``level`` with Poisson-like noise and four bright cells."""
    rng = np.random.default_rng([seed, t])
    img = rng.normal(level, 5, (SIDE, SIDE))
    for i in range(4):
        y, x = 4 + 7 * i, 4 + 6 * ((t + i) % 4)
        img[y:y + 4, x:x + 4] += 300
    return np.clip(img, 0, None).astype(np.uint16)


def _movie(n: int = 20, **kw) -> list[np.ndarray]:
    return [_frame(t, **kw) for t in range(n)]


def _check(frames, **kw) -> pd.DataFrame:
    """Every frame measured, the whole movie as its own reference (as when pixels_normalise samples every frame)."""
    rows = [frame_check.frame_stats(f, frame=t, file=f"t{t:03d}.tif") for t, f in enumerate(frames)]
    settings = {"saturated_fraction": kw.get("saturated_fraction", 0.5)}
    ref = frame_check.reference(rows, **settings)
    return frame_check.check_frames(rows, ref, abnormal_z=kw.get("abnormal_z", 6.0), **settings)


def _kinds(table) -> dict:
    return {int(t): k for t, k in zip(table["frame"], table["kind"]) if k != "ok"}


# --- statistics ----------------------------------------------------------------------------------------------------

def test_frame_stats_of_an_integer_frame():
    img = np.array([[0, 0, 5, 65535]], np.uint16)
    row = frame_check.frame_stats(img, frame=7, file="a.tif")
    assert row["frame"] == 7 and row["file"] == "a.tif" and row["dtype"] == "uint16"
    assert row["finite_fraction"] == 1 and row["min"] == 0 and row["max"] == 65535
    assert row["mean"] == pytest.approx((5 + 65535) / 4) and row["std"] == pytest.approx(np.std([0, 0, 5, 65535]))
    assert row["zero_fraction"] == 0.5 and row["max_fraction"] == 0.25 and row["dtype_max"] == 65535


def test_frame_stats_ignore_non_finite_pixels():
    img = np.array([[1.0, np.nan, 3.0, np.inf]], np.float32)
    row = frame_check.frame_stats(img, frame=0)
    assert row["finite_fraction"] == 0.5 and row["min"] == 1 and row["max"] == 3 and row["mean"] == 2
    assert np.isnan(row["dtype_max"])
    empty = frame_check.frame_stats(np.full((4, 4), np.nan), frame=1)
    assert empty["finite_fraction"] == 0 and np.isnan(empty["mean"]) and empty["zero_fraction"] == 0


# --- the classifier ------------------------------------------------------------------------------------------------

def test_an_ordinary_movie_has_no_bad_frame():
    table = _check(_movie())
    assert list(table.columns) == list(frame_check.COLUMNS)
    assert (table["kind"] == "ok").all() and (table["kinds"] == "").all() and (table["reason"] == "").all()
    assert np.isfinite(table["z_mean"]).all() and (table["note"] == "").all()


def test_zeros_saturated_and_nan_frames_get_their_kind():
    frames = _movie()
    frames[3] = np.zeros_like(frames[3])
    clipped = frames[6].copy()
    clipped[:, : SIDE * 3 // 4] = 65535  # 75 % of the pixels at the dtype's maximum, the rest as it was
    frames[6] = clipped
    frames[9] = np.full(frames[9].shape, np.nan, np.float32)
    patch = frames[12].astype(np.float32)
    patch[:4, :4] = np.nan
    frames[12] = patch
    frames[15] = np.full_like(frames[15], 65535)  # constant at the ceiling: saturated (and empty)
    frames[17] = np.full_like(frames[17], 500)  # constant elsewhere: empty only
    table = _check(frames).set_index("frame")
    assert _kinds(table.reset_index()) == {3: "empty", 6: "saturated", 9: "non_finite", 12: "non_finite",
                                           15: "saturated", 17: "empty"}
    assert table.loc[9, "kinds"] == "non_finite,empty" and table.loc[12, "kinds"] == "non_finite"
    assert table.loc[15, "kinds"] == "saturated,empty" and table.loc[17, "kinds"] == "empty"
    assert table.loc[3, "reason"] == "empty: constant frame (every pixel 0)"
    assert table.loc[6, "reason"] == "saturated: 75.0 % of pixels at the maximum 65535"
    assert table.loc[9, "reason"] == "non_finite: 100.0 % of pixels NaN or infinite; empty: no finite pixel"
    assert table.loc[12, "reason"] == "non_finite: 1.6 % of pixels NaN or infinite"
    assert table.loc[6, "saturated_fraction"] == 0.75 and table.loc[3, "saturated_fraction"] == 0
    # float frames in a uint16 movie: named, not bad for it
    assert table.loc[12, "note"] == "dtype float32, the movie's is uint16: converted to float like the others"
    assert table.loc[9, "note"].startswith("dtype float32")
    assert (table.drop(index=[9, 12])["note"] == "").all()


def test_saturation_threshold_and_clipping_below_the_dtype_maximum():
    frames = _movie()
    clipped = frames[5].astype(np.float32)
    clipped[: SIDE // 2 + 2] = 4095.0  # a 12-bit camera clipped in float data: 56 % at the frame's maximum
    frames[5] = clipped
    half = frames[8].copy()
    half[: SIDE // 2] = 65535  # exactly 50 %: not more than the threshold (but far from the movie's mean)
    frames[8] = half
    assert _kinds(_check(frames)) == {5: "saturated", 8: "abnormal"}
    assert _kinds(_check(frames, saturated_fraction=0.4)) == {5: "saturated", 8: "saturated"}


def test_abnormal_mean_or_std_against_the_movie():
    frames = _movie(30)
    frames[10] = (frames[10] * 0.5).astype(np.uint16)  # a dim frame (shutter half closed)
    flat = np.random.default_rng(1).normal(100, 0.5, (SIDE, SIDE))
    frames[20] = flat.astype(np.uint16)  # a frame without cells and almost no noise (focus failure, no signal)
    table = _check(frames).set_index("frame")
    assert _kinds(table.reset_index()) == {10: "abnormal", 20: "abnormal"}
    assert table.loc[10, "z_mean"] < -6 and table.loc[20, "z_std"] < -6
    assert "robust z" in table.loc[10, "reason"] and "beyond ±6" in table.loc[10, "reason"]
    # a higher threshold lets them through
    assert _kinds(_check(frames, abnormal_z=1000)) == {}


def test_trends_and_steps_are_not_abnormal():
    bleaching = [_frame(t, level=300 * 0.97 ** t) for t in range(40)]  # background fades by a factor 3
    assert _kinds(_check(bleaching)) == {}
    step = _movie(15) + _movie(15, level=160, seed=1)  # the second half 60 % brighter (e.g. a lamp change)
    assert _kinds(_check(step)) == {}


def test_a_steady_movie_is_not_flagged_for_a_trivial_change():
    pattern = np.full((SIDE, SIDE), 100, np.uint16)
    pattern[::2] = 140
    frames = [pattern.copy() for _ in range(12)]  # every frame the same: a spread of zero
    frames[5] += 1  # 1 % brighter: z against a spread of zero would be infinite
    table = _check(frames)
    assert _kinds(table) == {} and table.loc[5, "z_mean"] == pytest.approx(1 / (0.02 * 120))


def test_too_few_reference_frames_call_no_frame_abnormal():
    frames = _movie(3) + [(_frame(3) * 0.2).astype(np.uint16)]  # 4 frames
    table = _check(frames)
    assert _kinds(table) == {} and table["z_mean"].isna().all()
    rows = [frame_check.frame_stats(f, frame=t) for t, f in enumerate(_movie(6))]
    assert (frame_check.check_frames(rows, None)["kind"] == "ok").all()  # no reference: only per-frame kinds


def test_frames_are_judged_against_a_reference_of_other_frames():
    """A chunk of frames is checked against the sampled frames' reference, one of which is bad."""
    sample = _movie(20)[::2]
    sample[3] = np.zeros_like(sample[3])
    rows = [frame_check.frame_stats(f, frame=2 * i) for i, f in enumerate(sample)]
    ref = frame_check.reference(rows)
    assert ref["left_out"] == [6] and len(ref["frames"]) == 9 and ref["dtype"] == "uint16"
    chunk = [_frame(t) for t in range(10, 14)]
    chunk[1] = (chunk[1] * 3).astype(np.uint16)
    table = frame_check.check_frames([frame_check.frame_stats(f, frame=10 + i) for i, f in enumerate(chunk)], ref)
    assert _kinds(table) == {11: "abnormal"}
    assert list(table["frame"]) == [10, 11, 12, 13]


# --- handling ------------------------------------------------------------------------------------------------------

def test_skip_or_keep():
    frames = _movie(10)
    frames[2] = np.zeros_like(frames[2])
    table = _check(frames)
    assert frame_check.frames_to_skip(table, "skip") == {2}
    assert frame_check.frames_to_skip(table, "keep") == set()
    with pytest.raises(InputError, match="input_check.bad_frames"):
        frame_check.frames_to_skip(table, "drop")


def test_abnormal_frames_are_skipped_only_when_asked():
    """A statistical outlier may be real data (the bright first frames of a bleaching movie): named, kept."""
    frames = _movie(30)
    frames[2] = np.zeros_like(frames[2])
    frames[10] = frames[10] * 3
    table = _check(frames)
    assert _kinds(table) == {2: "empty", 10: "abnormal"}
    assert frame_check.frames_to_skip(table, "skip") == {2}
    assert frame_check.frames_to_skip(table, "skip", skip_abnormal=True) == {2, 10}
    lines = frame_check.warning_lines(table, "skip")
    assert len(lines) == 2 and "skipped" in lines[0] and "kept" in lines[1] and "skip_abnormal" in lines[1]


def test_warning_lines_name_frame_and_file():
    frames = _movie(10)
    frames[2] = np.zeros_like(frames[2])
    frames[4] = frames[4].astype(np.int32)  # the same values in another dtype
    table = _check(frames)
    lines = frame_check.warning_lines(table, "skip")
    assert lines == ["bad frame 2 (t002.tif): empty: constant frame (every pixel 0); skipped: no objects in this "
                     "frame (input_check.bad_frames = skip)",
                     "frame 4 (t004.tif): dtype int32, the movie's is uint16: converted to float like the others"]
    assert frame_check.warning_lines(table)[0] == "bad frame 2 (t002.tif): empty: constant frame (every pixel 0)"
    assert "kept: processed as it is" in frame_check.warning_lines(table, "keep")[0]


def test_fill_non_finite_with_the_frames_median():
    img = np.array([[1.0, 2.0, np.nan], [4.0, np.inf, 6.0]], np.float32)
    out, n, values = frame_check.fill_non_finite(img, fallback=-1)
    assert n == 2 and values == [3.0] and out.dtype == np.float32  # the median of 1, 2, 4, 6
    np.testing.assert_array_equal(out, [[1, 2, 3], [4, 3, 6]])
    assert np.isnan(img[0, 2])  # the caller's array is not changed
    out, n, values = frame_check.fill_non_finite(np.full((2, 2), np.nan), fallback=7.5)
    assert n == 4 and values == [7.5] and (out == 7.5).all()
    same = np.arange(4, dtype=np.uint16)
    assert frame_check.fill_non_finite(same)[0] is same  # integers have no NaN
    clean = np.ones(3)
    assert frame_check.fill_non_finite(clean)[1] == 0


def test_fill_non_finite_per_channel():
    img = np.stack([np.array([1.0, 3.0, np.nan]), np.array([np.nan, np.nan, np.nan])], axis=-1)
    out, n, values = frame_check.fill_non_finite(img, channels=True, fallback=[0.0, 9.0])
    assert n == 4 and values == [2.0, 9.0]
    np.testing.assert_array_equal(out, [[1, 9], [3, 9], [2, 9]])


# --- the normalisation sample --------------------------------------------------------------------------------------

def test_sample_movie_gives_movie_levels_when_no_frame_is_bad():
    frames = _movie(12)
    norm = Normalisation("movie", 1, 99.8, sample_frames=5)
    reads = []
    levels, ref, sampled, _ = frame_check.sample_movie(lambda t: reads.append(t) or frames[t], 12, norm)
    np.testing.assert_array_equal(levels, normalise.movie_levels(lambda t: frames[t], 12, norm))
    assert reads == normalise.sample_frames(12, norm) == [0, 3, 6, 8, 11]  # each sampled frame read once
    assert ref["frames"] == reads and ref["left_out"] == [] and list(sampled["frame"]) == reads


def test_sample_movie_leaves_bad_frames_out_of_the_levels():
    frames = _movie(12)
    frames[3] = np.zeros_like(frames[3])
    norm = Normalisation("movie", 1, 99.8, sample_frames=12)
    levels, ref, sampled, _ = frame_check.sample_movie(lambda t: frames[t], 12, norm, source=lambda t: f"f{t}")
    good = [f for t, f in enumerate(frames) if t != 3]
    np.testing.assert_allclose(levels[:, 0], np.percentile(np.concatenate([f.ravel() for f in good]), [1, 99.8]))
    polluted = normalise.movie_levels(lambda t: frames[t], 12, norm)
    assert polluted[0, 0] < levels[0, 0]  # the frame of zeros would have pulled the low level down
    assert ref["left_out"] == [3] and 3 not in ref["frames"] and _kinds(sampled) == {3: "empty"}
    assert sampled.set_index("frame").loc[3, "file"] == "f3"


def test_sample_movie_in_mode_none_reads_nothing():
    levels, ref, sampled, _ = frame_check.sample_movie(lambda t: 1 / 0, 5, Normalisation("none"), dtype="uint8")
    assert levels is None and ref == {"frames": [], "mean": [], "std": [], "left_out": [], "dtype": "uint8"}
    assert sampled.empty


def test_sample_movie_channel_last_measures_the_intensity_channel():
    frames = [np.stack([f, np.zeros_like(f)], axis=-1) for f in _movie(6)]
    norm = Normalisation("movie", 1, 99.8)
    levels, ref, sampled, _ = frame_check.sample_movie(lambda t: frames[t], 6, norm, channels=True, channel=0)
    assert levels.shape == (2, 2) and (sampled["kind"] == "ok").all()
    _, _, second, _ = frame_check.sample_movie(lambda t: frames[t], 6, norm, channels=True, channel=1)
    assert (second["kind"] == "empty").all()


# --- tables, summary, report ---------------------------------------------------------------------------------------

def test_check_table_round_trip(tmp_path):
    frames = _movie(8)
    frames[2] = np.full(frames[2].shape, np.nan, np.float32)
    table = _check(frames)
    frame_check.write_check(tmp_path / "check.csv", table)
    back = frame_check.read_check(tmp_path / "check.csv")
    assert list(back.columns) == list(frame_check.COLUMNS)
    assert list(back["kind"]) == list(table["kind"]) and list(back["note"]) == list(table["note"])
    assert back.loc[0, "reason"] == "" and np.isnan(back.loc[2, "mean"])
    pd.testing.assert_series_equal(back["std"], table["std"], rtol=1e-5)
    (tmp_path / "bad.csv").write_text("frame,kind\n0,ok\n")
    with pytest.raises(InputError, match="not a frame check table"):
        frame_check.read_check(tmp_path / "bad.csv")


def test_qc_flags_and_summary_name_the_bad_frames():
    frames = _movie(8)
    frames[2] = np.zeros_like(frames[2])
    frames[5] = np.full(frames[5].shape, np.nan, np.float32)
    check = _check(frames)
    table = qc.flag_frames(qc.frames_table(_qc_rows([4] * 8)), count_jump=0.5, count_window=2, margin_drop_k=5,
                           margin_min_drop=0.01, saturated_fraction=0.01)
    table = qc.add_input_check(table, check, {2})
    assert table.loc[2, "flags"] == "input check: empty (skipped)"
    assert table.loc[5, "flags"] == "input check: non_finite, empty (kept)"
    assert (table.drop(index=[2, 5])["flags"] == "").all()
    summary = qc.input_check_summary(check, "skip", {2})
    assert summary["bad_frames"] == "skip" and summary["n_bad"] == 2 and summary["n_skipped"] == 1
    assert [(f["frame"], f["file"], f["kind"], f["action"]) for f in summary["frames"]] == [
        (2, "t002.tif", "empty", "skipped"), (5, "t005.tif", "non_finite", "kept")]
    assert summary["dtype_notes"] == [{"frame": 5, "file": "t005.tif", "note": check.loc[5, "note"]}]
    json.dumps(summary)  # summary.json holds it


def _qc_rows(counts, margins=None):
    return [{"frame": t, "n_objects": c, "mean_probability_margin": 0.9 if margins is None else margins[t],
             "uncertain_fraction": 0.01, "raw_mean": 1.0, "raw_std": 1.0, "raw_min": 0.0, "raw_max": 2.0,
             "nonfinite_fraction": 0.0, "saturated_fraction": 0.0, "blank": False, "foreground_fraction": 0.1}
            for t, c in enumerate(counts)]


def test_skipped_frames_are_no_reference_for_count_jumps():
    counts = [6, 6, 6, 0, 6, 6, 0, 6, 6, 6]  # frames 3 and 6 skipped: their objects dropped
    settings = {"count_jump": 0.5, "count_window": 2, "margin_drop_k": 5, "margin_min_drop": 0.01,
                "saturated_fraction": 0.01}
    plain = qc.flag_frames(qc.frames_table(_qc_rows(counts)), **settings)
    assert plain.loc[4, "flags"].startswith("count jump: 6 objects, 3 in the frames around")  # the neighbours' 0s
    table = qc.flag_frames(qc.frames_table(_qc_rows(counts)), **settings, exclude={3, 6}, skipped={3, 6})
    assert (table["flags"] == "").all()
    kept = qc.flag_frames(qc.frames_table(_qc_rows(counts)), **settings, exclude={3, 6})
    assert list(kept["flags"] != "") == [t in (3, 6) for t in range(10)]  # kept bad frames: judged, not judges
    assert kept.loc[3, "flags"] == "count jump: 0 objects, 6 in the frames around"
    margins = [0.9, 0.91, 0.9, 0.2, 0.3, 0.9, 0.1, 0.89, 0.9, 0.91]
    bad_margins = qc.flag_frames(qc.frames_table(_qc_rows([6] * 10, margins)), **settings, exclude={3, 4, 6})
    assert [t for t in range(10) if "margin drop" in bad_margins.loc[t, "flags"]] == [3, 4, 6]


def test_report_lists_the_bad_frames():
    from lineageflow.qc_report import input_check_rows, report_text

    summary = {"n_frames": 8, "flagged": [{"frame": 2, "flags": "blank; input check: empty (skipped)"}],
               "median_mean_probability_margin": None, "median_uncertain_fraction": None,
               "input_check": {"frames": [{"frame": 2, "file": "t002.tif", "kind": "empty", "reason": "empty: x",
                                           "action": "skipped"}],
                               "dtype_notes": [{"frame": 1, "file": "t001.tif", "note": "dtype uint8"}]}}
    text, rows = report_text(summary)
    assert text == "8 frames: 1 flagged as unreliable; 1 bad raw frame(s) (input check): 1 skipped, 0 kept"
    assert rows == [(2, "blank; input check: empty (skipped)")]
    assert input_check_rows(summary) == [["1", "t001.tif", "other dtype", "dtype uint8", "converted"],
                                         ["2", "t002.tif", "empty", "empty: x", "skipped"]]
    assert input_check_rows(None) == [] and input_check_rows({"n_frames": 3}) == []


def test_config_defaults_and_a_wrong_value_names_the_key():
    from lineageflow.config import load_schema, validate_config

    schema = load_schema(ROOT / "config" / "schema.yaml")
    assert validate_config({}, schema)["input_check"] == {"bad_frames": "skip", "abnormal_z": 6.0,
                                                          "saturated_fraction": 0.5, "skip_abnormal": False}
    with pytest.raises(ConfigError, match=r"input_check.bad_frames.*'drop'"):
        validate_config({"input_check": {"bad_frames": "drop"}}, schema)
    with pytest.raises(ConfigError, match=r"input_check.abnormal_z"):
        validate_config({"input_check": {"abnormal_z": 0}}, schema)


# --- the workflow --------------------------------------------------------------------------------------------------

BAD = {3: "empty", 6: "saturated", 9: "non_finite"}


@pytest.fixture(scope="module")
def bad_movie(tmp_path_factory):
    """A generated movie with ground truth, and a copy whose frame 3 is zeros, frame 6 saturated (15 of 16 pixels
    at 65535) and frame 9 all NaN (float32, in a uint16 movie)."""
    from lineageflow.synthetic import SyntheticConfig, generate

    root = tmp_path_factory.mktemp("frame_check")
    generate(root / "clean", SyntheticConfig(n_frames=12, n_cells=6, seed=3))
    shutil.copytree(root / "clean" / "01", root / "bad" / "01")
    frames = root / "bad" / "01"
    first = tifffile.imread(frames / "t003.tif")
    assert first.dtype == np.uint16
    tifffile.imwrite(frames / "t003.tif", np.zeros_like(first))
    sat = np.full_like(first, 65535)
    sat[::4, ::4] = tifffile.imread(frames / "t006.tif")[::4, ::4]
    tifffile.imwrite(frames / "t006.tif", sat)
    tifffile.imwrite(frames / "t009.tif", np.full(first.shape, np.nan, np.float32))
    return root


def _labels(out) -> dict[int, int]:
    """Objects per frame in the run's label chunks."""
    from lineageflow.io import read_chunk

    counts = {}
    for path in sorted((out / "objects" / "labels").glob("*.h5")):
        labels, t0 = read_chunk(path, "labels")
        counts |= {t0 + i: int(np.unique(lab[lab > 0]).size) for i, lab in enumerate(labels)}
    return counts


def test_bad_frames_are_found_named_and_skipped(bad_movie, tmp_path):
    out = tmp_path / "out"
    proc = snakemake("--config", f"input={bad_movie / 'bad' / '01'}", f"out={out}",
                     f"train={bad_movie / 'clean' / '01'}", "frames_per_job=4", "pixels={n_trees: 20}",
                     "classify={n_trees: 20}", "exports=[ctc]")
    assert proc.returncode == 0
    # the table: exactly those frames, with their kind
    table = frame_check.read_check(out / "qc" / "frame_check.csv")
    assert list(table["frame"]) == list(range(12))
    assert _kinds(table) == BAD, table[["frame", "kind", "reason", "z_mean", "z_std"]]
    assert table.set_index("frame").loc[9, "kinds"] == "non_finite,empty"
    frames = bad_movie / "bad" / "01"
    # the summary and the logs name them, with their file
    summary = json.loads((out / "qc" / "summary.json").read_text())
    check = summary["input_check"]
    assert check["bad_frames"] == "skip" and check["n_bad"] == 3 and check["n_skipped"] == 3
    assert [(f["frame"], f["kind"], f["file"], f["action"]) for f in check["frames"]] == [
        (t, kind, str(frames / f"t{t:03d}.tif"), "skipped") for t, kind in BAD.items()]
    assert [n["frame"] for n in check["dtype_notes"]] == [9]
    assert {f["frame"] for f in summary["flagged"]} == {3, 6, 9}  # skipped frames are no reference for the others
    log = (out / "logs" / "qc_summary.log").read_text().splitlines()
    for t, kind in BAD.items():
        named = [line for line in log if "WARNING" in line and f"bad frame {t} ({frames / f't{t:03d}.tif'})" in line]
        assert len(named) == 1 and f": {kind}: " in named[0] and named[0].endswith("skipped"), log
    predict_logs = "".join(p.read_text() for p in (out / "logs" / "pixels_predict").glob("*.log"))
    n_pixels = tifffile.imread(frames / "t009.tif").size
    assert f"frame 9 ({frames / 't009.tif'}): {n_pixels} NaN or infinite pixels" in predict_logs
    assert "dtype float32, the movie's is uint16" in predict_logs
    warning = [line for line in proc.stderr.splitlines() if line.startswith("lineageflow: WARNING: QC flagged")]
    assert len(warning) == 1 and all(f"frame {t} (" in warning[0] for t in BAD), proc.stderr[-3000:]
    # skip: those frames have no objects; the others have; the run tracked to the end
    counts = _labels(out)
    assert [counts[t] for t in BAD] == [0, 0, 0]
    assert all(counts[t] > 0 for t in range(12) if t not in BAD), counts
    assert (out / "track" / "lineage.json").exists()
    for t in BAD:
        assert not tifffile.imread(out / "ctc" / f"mask{t:03d}.tif").any()
    # the normalisation levels were measured without the bad frames
    levels = json.loads((out / "pixels" / "normalisation.json").read_text())
    assert levels["frame_check"]["left_out"] == [3, 6, 9]


def test_keep_processes_bad_frames_and_fills_a_nan_patch(bad_movie, tmp_path):
    """bad_frames keep: a frame with a NaN patch is named, its NaN pixels are filled, and it keeps its objects."""
    movie = tmp_path / "patch" / "01"
    shutil.copytree(bad_movie / "clean" / "01", movie)
    frame = tifffile.imread(movie / "t005.tif").astype(np.float32)
    frame[:20, :20] = np.nan
    tifffile.imwrite(movie / "t005.tif", frame)
    out = tmp_path / "out"
    snakemake(f"{out}/qc/summary.json", "--config", f"input={movie}", f"out={out}",
              f"train={bad_movie / 'clean' / '01'}", "frames_per_job=4", "pixels={n_trees: 20}",
              "input_check={bad_frames: keep}")
    table = frame_check.read_check(out / "qc" / "frame_check.csv")
    assert _kinds(table) == {5: "non_finite"}
    summary = json.loads((out / "qc" / "summary.json").read_text())["input_check"]
    assert [(f["frame"], f["action"]) for f in summary["frames"]] == [(5, "kept")]
    log = (out / "logs" / "pixels_predict" / "0004-0007.log").read_text()
    assert f"frame 5 ({movie / 't005.tif'}): 400 NaN or infinite pixels" in log and "(the frame's median)" in log
    counts = _labels(out)
    assert all(counts[t] > 0 for t in range(12)), counts
