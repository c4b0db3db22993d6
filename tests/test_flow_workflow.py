"""Flow-guided linking through the workflow: on a generated movie whose cells turn about the centre by three nucleus
diameters per frame, the run with flow (config key flow) links far better than the same run without; the flow
files, the objects' flow columns and the config errors."""

import json

import numpy as np
import pandas as pd
import pytest
import tifffile

from lineageflow import flow
from lineageflow.synthetic import SyntheticConfig, generate
from workflow_helpers import assert_stops_before_any_job, snakemake

DEMO = "demo={n_frames: 16, motion: rotation, motion_step: 3}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same motile demo without flow, then with flow in the same folder (pixels and objects are shared)."""
    out = tmp_path_factory.mktemp("motile") / "out"
    scores = {}
    for enabled in ("false", "true"):
        snakemake("--config", f"out={out}", DEMO, f"flow={{enabled: {enabled}}}")
        scores[enabled] = json.loads((out / "eval" / "metrics.json").read_text())
    return out, scores


def test_flow_beats_no_flow_on_a_motile_movie(runs):
    _, scores = runs
    off, on = scores["false"], scores["true"]
    assert on["LNK"] >= 0.9, on
    assert on["LNK"] > off["LNK"] + 0.1, (off["LNK"], on["LNK"])
    assert on["TRA"] > off["TRA"], (off["TRA"], on["TRA"])


def test_flow_files_and_object_columns(runs):
    out, _ = runs
    files = sorted((out / "flow").glob("*.h5"))
    assert files
    pairs = 0
    for path in files:
        fields, grid, t0 = flow.read_flow_chunk(path, spatial_shape=(192, 192))
        pairs += len(fields)
    assert pairs == 15  # one field per frame pair of 16 frames
    table = pd.concat([pd.read_parquet(p) for p in sorted((out / "objects" / "features").glob("*.parquet"))])
    moved = np.linalg.norm(table[["flow_z", "flow_y", "flow_x"]].to_numpy(), axis=1)
    assert np.median(moved[table["frame"] < 15]) > 6.0  # cells move: the flow carries them
    assert (moved[table["frame"] == 15] == 0).all()  # no frame after the last
    assert (table["border_distance_in"] <= table["border_distance_yx"]).all()


def test_flow_on_a_single_frame_movie_stops_before_any_job(tmp_path):
    generate(tmp_path / "seq", SyntheticConfig(n_frames=3, shape=(64, 64), n_cells=2))  # something to train on
    movie = tmp_path / "one.tif"
    tifffile.imwrite(movie, np.zeros((1, 64, 64), np.uint16))
    assert_stops_before_any_job(tmp_path, [f"input={movie}", "axes=tyx", f"train={tmp_path / 'seq' / '01'}",
                                           f"train_gt={tmp_path / 'seq' / '01_GT'}", "flow={enabled: true}"],
                                ["flow.enabled", "1 frame"])


def test_a_corrupt_flow_file_stops_objects_features_with_its_name(runs, tmp_path):
    """NaN in a flow file (edited, or written by something else) is an error naming it, not silent wrong links."""
    import shutil

    out, _ = runs
    copy = tmp_path / "out"
    shutil.copytree(out, copy, symlinks=True)
    path = sorted((copy / "flow").glob("*.h5"))[0]
    fields, grid, t0 = flow.read_flow_chunk(path)
    fields[0, 1, 0, 5, 5] = np.nan
    flow.write_flow_chunk(path, fields, grid, t0=t0, n_frames=16)
    proc = snakemake("--config", f"out={copy}", DEMO, "flow={enabled: true}", check=False)
    assert proc.returncode != 0
    assert f"{path}: 1 NaN or infinite flow value(s)" in proc.text
