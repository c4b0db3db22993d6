"""The workflow as a user runs it: dry runs, lint, bad config, and real runs on the demo and on tiny inputs."""

import json
import shlex
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import tifffile

from conftest import require_shared
from lineageflow.io import read_chunk
from workflow_helpers import SMALL_DEMO, assert_stops_before_any_job, copy_run, snakemake


def test_dry_run_demo():
    proc = snakemake("-n")
    assert "demo_data" in proc.stdout and "objects_features" in proc.stdout


def test_lint_reports_nothing():
    proc = snakemake("--lint", check=False)
    assert "Congratulations" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


@pytest.mark.parametrize("config, words", [
    (["objects={method: foo}"], ["objects.method", "'foo'", "simple", "hysteresis"]),
    (["frames_per_job=0"], ["frames_per_job", "0", ">= 1"]),
    (["treshold=0.5"], ["unknown config key", "treshold"]),
    (["input=/no/such/folder"], ["input", "/no/such/folder", "no such file"]),
    (["pixels={normalise: {low: 99.9, high: 99.8}}"], ["pixels.normalise.low", "99.9", "below high"]),
    (["pixels={normalise: {mode: global}}"], ["pixels.normalise.mode", "'global'", "movie", "frame"]),
    (["pixels={augment: {contrast: [0.5, -1]}}"], ["pixels.augment.contrast", "-1"]),
    (["demo={n_frames: 8, n_frames: 2000}"], ["config key 'demo' on the command line", "n_frames", "given twice"]),
    (["window_size=6.5"], ["window_size", "6.5", "integer"]),
])
def test_bad_config_stops_before_any_job(tmp_path, config, words):
    assert_stops_before_any_job(tmp_path, config, words)


def test_integral_floats_on_the_command_line_are_integers(tmp_path):
    proc = snakemake("-n", "--config", f"out={tmp_path / 'out'}", SMALL_DEMO, "window_size=6.0", "overlap=2.0",
                     "frames_per_job=4.0")
    assert "track_window" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    snakemake("--config", f"out={out}", SMALL_DEMO, "frames_per_job=4")
    return out


def test_demo_runs_raw_to_metrics(demo_run):
    """One command: raw → objects → classifiers → tracking → CTC export → traccuracy metrics."""
    out = demo_run
    from traccuracy.loaders import load_ctc_data

    load_ctc_data(str(out / "ctc"), str(out / "ctc" / "res_track.txt"), run_checks=True)
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    print({k: metrics[k] for k in ("TRA", "DET", "LNK", "division_f1")})
    assert metrics["TRA"] >= 0.95 and metrics["DET"] >= 0.95
    solution = json.loads((out / "track" / "solution.json").read_text())
    assert solution["status"] == "optimal" and solution["solver"] in ("gurobi", "cbc", "highs")
    assert solution["reason"]
    chunks = sorted((out / "objects" / "features").glob("*.parquet"))
    assert [c.stem for c in chunks] == ["0000-0003", "0004-0007"]
    table = pd.concat(pd.read_parquet(c) for c in chunks)
    assert sorted(table["frame"].unique()) == list(range(8))
    for col in ("label", "centroid_y", "pos_x", "size", "intensity_mean", "radius_0", "border_distance"):
        assert col in table
    seg = json.loads((out / "eval" / "segmentation.json").read_text())
    # the demo is easy: nearly every GT nucleus is found as one object
    assert seg["matched_fraction"] >= 0.9, seg
    assert 0.8 * seg["n_gt"] <= seg["n_pred"] <= 1.2 * seg["n_gt"]
    with h5py.File(out / "pixels" / "probabilities" / "0000-0003.h5") as f:
        ds = f["exported_data"]
        assert ds.shape[0] == 4 and ds.shape[-1] == 2 and "axistags" in ds.attrs
    for rule in ("demo_data", "pixels_train", "objects_evaluate"):
        assert (out / "logs" / f"{rule}.log").exists()
        assert (out / "benchmarks" / f"{rule}.tsv").exists()
    assert (out / "benchmarks" / "pixels_predict" / "0000-0003.tsv").exists()


def test_run_prints_its_summary(demo_run, tmp_path):
    """A finished run prints its summary on stdout (Snakefile onsuccess), and the report command it prints works."""
    out = copy_run(demo_run, tmp_path)
    proc = snakemake("--config", f"out={out}", SMALL_DEMO, "frames_per_job=4", "--forcerun", "export_csv")
    summary = proc.stdout[proc.stdout.index("lineageflow: run finished"):]
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert f"results in {out}\n" in summary
    assert "exports: CTC ctc/, MaMuT + BigDataViewer mamut/, CSV csv/objects.csv, GEFF geff/lineage.zarr" in summary
    assert f"TRA {metrics['TRA']:.3f}, DET {metrics['DET']:.3f}, LNK {metrics['LNK']:.3f}, division F1" in summary
    assert "QC: 8 frames, none flagged" in summary
    assert f"report page: {out / 'report' / 'report.html'} (not made yet)" in summary
    command = shlex.split(next(line for line in summary.splitlines() if "  report: " in line).split(": ", 1)[1])
    assert command[:2] == ["snakemake", "report"] and f"out={out}" in command
    dry = snakemake(*command[1:], "-n")  # the printed command, as a dry run: it plans the report of this run
    assert "report_render" in dry.stdout and str(out / "report" / "report.html") in dry.stdout


def test_job_logs_show_progress_and_the_solver_log(demo_run):
    """Per-chunk jobs log per-frame progress with an ETA; the window job logs the solver's own progress."""
    for rule in ("pixels_predict", "objects_threshold", "objects_features"):
        text = (demo_run / "logs" / rule / "0000-0003.log").read_text()
        assert "frame 1/4 (25 %), ETA 0:00:" in text and "frame 4/4 (100 %), done in" in text, (rule, text)
    assert "sampled frame 1/" in (demo_run / "logs" / "pixels_normalise.log").read_text()
    window = (demo_run / "logs" / "track_window" / "0000-0007.log").read_text()
    solution = json.loads((demo_run / "track" / "windows" / "0000-0007" / "solution.json").read_text())
    marker = {"gurobi": "gurobipy: Optimize a model", "cbc": "lineageflow.solver: Cbc0",
              "highs": "lineageflow.solver: Solving report"}[solution["solver"]]
    assert marker in window, window


def test_demo_is_deterministic(demo_run, tmp_path):
    """Same config, same bytes: rerun everything into a copy of the run's folder and compare with the original
    (a copy, so that demo_run stays as its fixture made it for the other tests, whatever the order)."""
    rels = ["objects/features/0004-0007.parquet", "objects/labels/0000-0003.h5", "demo/01/t005.tif",
            "demo/01_GT/TRA/man_track.txt", "pixels/probabilities/0004-0007.h5"]
    out = copy_run(demo_run, tmp_path)
    for rel in rels:  # forceall must remake them: nothing may be left of the copied files
        (out / rel).unlink()
    proc = snakemake("--config", f"out={out}", SMALL_DEMO, "frames_per_job=4", "--forceall")
    assert "demo_data" in proc.text and "pixels_predict" in proc.text
    for rel in rels:
        assert (out / rel).read_bytes() == (demo_run / rel).read_bytes(), rel


def test_compiled_and_scikit_learn_forests_give_the_same_bytes(demo_run, tmp_path):
    """pixels.forest: the default (auto, a C compiler is on PATH) runs the compiled forest; scikit-learn's gives the
    same probability files and the same lineage. Switching it retrains and recompiles nothing."""
    assert "compiled 100 trees" in (demo_run / "logs" / "pixels_compile.log").read_text()
    out = copy_run(demo_run, tmp_path)
    proc = snakemake("--config", f"out={out}", SMALL_DEMO, "frames_per_job=4", "pixels={forest: scikit-learn}", "-n")
    assert "Nothing to be done" in proc.text, proc.text  # same results: no rerun needed
    proc = snakemake("--config", f"out={out}", SMALL_DEMO, "frames_per_job=4", "pixels={forest: scikit-learn}",
                     "--forcerun", "pixels_predict")
    assert "pixels_predict" in proc.text and "pixels_train" not in proc.text and "pixels_compile" not in proc.text
    assert "pixel forest: compiled" in (demo_run / "logs" / "pixels_predict" / "0000-0003.log").read_text()
    assert "pixel forest: scikit-learn" in (out / "logs" / "pixels_predict" / "0000-0003.log").read_text()
    rels = ["pixels/probabilities/0000-0003.h5", "pixels/probabilities/0004-0007.h5", "ctc/res_track.txt"]
    for rel in rels:
        assert (out / rel).read_bytes() == (demo_run / rel).read_bytes(), rel


def test_label_images_skip_pixels_and_threshold(demo_run, tmp_path):
    """objects.labels: the demo's own GT masks as label images; no pixel job, objects equal the GT."""
    gt_seg = demo_run / "demo" / "01_GT" / "SEG"
    out = tmp_path / "labels"
    raw = demo_run / "demo" / "01"
    proc = snakemake("--config", f"input={raw}", f"out={out}", f"objects={{labels: {gt_seg}, min_size: 0}}")
    assert "objects_features" in proc.text
    assert "pixels_train" not in proc.text and "objects_threshold" not in proc.text
    seg = json.loads((out / "eval" / "segmentation.json").read_text())
    assert seg["matched_fraction"] == 1.0 and seg["n_pred"] == seg["n_gt"]


def test_ilastik_probabilities_skip_pixel_stage(demo_run, tmp_path):
    """pixels.probabilities: an ilastik-style export (t, y, x, c with axistags) is thresholded directly."""
    raw = demo_run / "demo" / "01"
    gt = sorted((demo_run / "demo" / "01_GT" / "SEG").glob("*.tif"))
    fg = np.stack([(tifffile.imread(p) > 0).astype(np.float32) for p in gt])
    probs = np.stack([fg, 1 - fg], axis=-1)
    path = tmp_path / "ilastik_export.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("exported_data", data=probs)
        from lineageflow.io import axistags_json
        ds.attrs["axistags"] = axistags_json("tyxc")
    out = tmp_path / "probs"
    proc = snakemake("--config", f"input={raw}", f"out={out}", f"pixels={{probabilities: {path}}}")
    assert "objects_threshold" in proc.text
    assert "pixels_train" not in proc.text and "pixels_predict" not in proc.text
    seg = json.loads((out / "eval" / "segmentation.json").read_text())
    assert seg["matched_fraction"] >= 0.9


def test_probabilities_of_wrong_shape_are_refused(demo_run, tmp_path):
    raw = demo_run / "demo" / "01"
    path = tmp_path / "small.h5"
    with h5py.File(path, "w") as f:
        from lineageflow.io import axistags_json
        f.create_dataset("exported_data", data=np.zeros((8, 10, 10, 2), np.float32)).attrs["axistags"] = axistags_json("tyxc")
    proc = snakemake("-n", "--config", f"input={raw}", f"out={tmp_path / 'o'}", f"pixels={{probabilities: {path}}}",
                     check=False)
    assert proc.returncode != 0
    assert str(path) in proc.stderr and "shape" in proc.stderr


def _tiny_sequence(root: Path, shapes):
    seq = root / "01"
    seq.mkdir(parents=True)
    gt = root / "01_GT" / "SEG"
    gt.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for t, shape in enumerate(shapes):
        img = rng.integers(0, 50, shape, dtype=np.uint16)
        mask = np.zeros(shapes[0], np.uint16)
        mask[10:20, 10:20] = 1
        img[10:20, 10:20] += 200
        tifffile.imwrite(seq / f"t{t:03d}.tif", img)
        tifffile.imwrite(gt / f"man_seg{t:03d}.tif", mask)
    return seq


def test_frame_of_different_shape_fails_with_file_name_and_no_output(tmp_path):
    seq = _tiny_sequence(tmp_path / "data", [(40, 40)] * 3 + [(40, 41)])
    out = tmp_path / "out"
    proc = snakemake("--config", f"input={seq}", f"out={out}", "frames_per_job=2", "pixels={n_trees: 5}",
                     "objects={min_size: 1}", check=False)
    assert proc.returncode != 0
    message = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("lineageflow error:")]
    assert len(message) == 1 and "t003.tif" in message[0] and "shape" in message[0], proc.stdout + proc.stderr
    # the failing chunk left nothing behind; temporary files are gone too
    assert not (out / "pixels" / "probabilities" / "0002-0003.h5").exists()
    assert not list((out / "pixels" / "probabilities").glob(".*tmp"))


def test_one_command_ctc_contract_sim(tmp_path):
    """`--config input=SEQ out=OUT` on the real Fluo-N2DH-SIM+/01, trained on its own GT (first chunk only, for time)."""
    seq = require_shared("Fluo-N2DH-SIM+", "01")
    out = tmp_path / "sim"
    target = f"{out}/objects/features/0000-0004.parquet"
    snakemake(target, "--config", f"input={seq}", f"out={out}", "frames_per_job=5")
    table = pd.read_parquet(target)
    labels, t0 = read_chunk(out / "objects" / "labels" / "0000-0004.h5", "labels")
    from lineageflow import seg_metrics
    per = [seg_metrics.iou_matches(labels[t], tifffile.imread(seq.parent / "01_GT" / "SEG" / f"man_seg{t:03d}.tif"))
           for t in range(5)]
    s = seg_metrics.summarize(per)
    print(f"SIM+ frames 0-4: objects {s['n_pred']} vs GT {s['n_gt']}, matched IoU>0.5 {s['matched_fraction']:.3f}")
    assert s["matched_fraction"] >= 0.85
    assert len(table) == s["n_pred"]


def test_demo_3d_runs_through_objects(tmp_path):
    out = tmp_path / "demo3d"
    snakemake("--config", f"out={out}", "demo={ndim: 3, n_frames: 4, n_cells: 5, seed: 1}", "frames_per_job=2",
              "pixels={n_trees: 30}")
    table = pd.concat(pd.read_parquet(p) for p in sorted((out / "objects" / "features").glob("*.parquet")))
    assert (table["pos_z"] > 0).all()  # 3D: z positions in physical units (voxel z = 2)
    assert np.allclose(table["pos_z"], table["centroid_z"] * 2.0)
    seg = json.loads((out / "eval" / "segmentation.json").read_text())
    assert seg["matched_fraction"] >= 0.8, seg


def test_hdf5_input_with_axes_string(demo_run, tmp_path):
    """An HDF5 movie stored t,x,y (as ilastik may write it) with `dataset` and `axes` keys."""
    frames = np.stack([tifffile.imread(p) for p in sorted((demo_run / "demo" / "01").glob("t*.tif"))])
    path = tmp_path / "movie.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("volumes/raw", data=frames.transpose(0, 2, 1))
    out = tmp_path / "h5"
    gt = demo_run / "demo" / "01_GT"
    snakemake("--config", f"input={path}", "dataset=volumes/raw", "axes=txy", f"out={out}", f"train={demo_run / 'demo' / '01'}",
              f"train_gt={gt}", f"gt={gt}")
    seg = json.loads((out / "eval" / "segmentation.json").read_text())
    assert seg["matched_fraction"] >= 0.9, seg


def test_ilastik_project_trains_the_pixel_stage(tmp_path):
    """pixels.ilp on ilastik's drosophila project: our probabilities agree with ilastik's own export."""
    ref_dir = require_shared("ilastik-drosophila-4ij-ref", "projects")
    out = tmp_path / "ilp"
    snakemake("--config", f"input={ref_dir / 'data' / 'drosophila_00-03.h5'}", "dataset=exported_data",
              f"pixels={{ilp: {ref_dir / 'pixel_classification.ilp'}}}", f"out={out}", "frames_per_job=2")
    ours = np.concatenate([read_chunk(p, "exported_data")[0]
                           for p in sorted((out / "pixels" / "probabilities").glob("*.h5"))])
    with h5py.File(ref_dir / "data" / "drosophila_00-03-exported_data_pixel_classification_reference.h5") as f:
        ref = f["exported_data"][()].transpose(0, 3, 2, 1, 4)  # t,x,y,z,c → t,z,y,x,c
    agree = float((ours.argmax(-1) == ref.argmax(-1)).mean())
    print(f"workflow ilastik parity: {agree:.4f}")
    assert agree >= 0.9
    assert sorted(p.stem for p in (out / "objects" / "features").glob("*.parquet")) == ["0000-0001", "0002-0003"]


def test_default_demo_tracks_divisions(tmp_path):
    """The README's demo (default config): divisions are found and the lineage is accurate."""
    out = tmp_path / "default"
    snakemake("--config", f"out={out}")
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    print("default demo:", {k: metrics[k] for k in ("TRA", "DET", "LNK", "division_precision", "division_recall",
                                                   "division_f1")})
    man = np.loadtxt(out / "demo" / "01_GT" / "TRA" / "man_track.txt", dtype=np.int64, ndmin=2)
    _, n_daughters = np.unique(man[man[:, 3] > 0, 3], return_counts=True)
    assert metrics["n_gt_divisions"] == int((n_daughters >= 2).sum()) >= 2  # the GT's divisions, all counted
    assert metrics["TRA"] >= 0.98 and metrics["division_f1"] >= 0.7
    lineage = json.loads((out / "track" / "lineage.json").read_text())
    assert lineage["n_divisions"] >= 2


def test_train_on_another_sequence(tmp_path):
    """train=/train_gt=: both the pixel and the object classifiers learn from the other sequence, never from the
    input's evaluation ground truth."""
    from lineageflow.synthetic import SyntheticConfig, generate

    generate(tmp_path / "a", SyntheticConfig(n_frames=8, n_cells=6, seed=11))
    generate(tmp_path / "b", SyntheticConfig(n_frames=8, n_cells=6, seed=12))
    out = tmp_path / "out"
    snakemake("--config", f"input={tmp_path / 'a' / '01'}", f"train={tmp_path / 'b' / '01'}", f"out={out}",
              "pixels={n_trees: 30}", "classify={n_trees: 30}")
    log = (out / "logs" / "classify_train.log").read_text()
    assert f"training sequence {tmp_path / 'b' / '01'}" in log
    assert str(tmp_path / "b" / "01_GT") in (out / "logs" / "pixels_train.log").read_text()
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert metrics["gt_dir"].startswith(str(tmp_path / "a")) and metrics["TRA"] >= 0.9
