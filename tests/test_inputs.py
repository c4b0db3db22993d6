"""Tests of lineageflow.inputs.resolve on tiny generated CTC folders, TIFF and HDF5 files."""

from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

from lineageflow.config import load_schema, validate_config
from lineageflow.errors import ConfigError, InputError
from lineageflow.inputs import demo_paths, resolve
from lineageflow.io import axistags_json

ROOT = Path(__file__).resolve().parents[1]
N_FRAMES = 3
SHAPE = (16, 20)


@pytest.fixture(scope="module")
def schema():
    return load_schema(ROOT / "config" / "schema.yaml")


@pytest.fixture
def cfg(schema):
    """Build a validated config from keyword overrides (nested dicts for nested keys)."""
    def make(**overrides):
        return validate_config(overrides, schema)
    return make


def _frames(folder: Path, n=N_FRAMES, shape=SHAPE, prefix="t", dtype=np.uint16):
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(n):
        tifffile.imwrite(folder / f"{prefix}{t:03d}.tif", np.full(shape, t, dtype=dtype), photometric="minisblack")
    return folder


def _gt(folder: Path, n=N_FRAMES, shape=SHAPE, seg_frames=(0,)):
    (folder / "TRA").mkdir(parents=True, exist_ok=True)
    (folder / "SEG").mkdir(parents=True, exist_ok=True)
    for t in range(n):
        tifffile.imwrite(folder / "TRA" / f"man_track{t:03d}.tif", np.zeros(shape, np.uint16))
    for t in seg_frames:
        tifffile.imwrite(folder / "SEG" / f"man_seg{t:03d}.tif", np.zeros(shape, np.uint16))
    (folder / "TRA" / "man_track.txt").write_text("")
    return folder


@pytest.fixture
def ctc(tmp_path):
    """tmp/Fluo-Toy/01 with 01_GT beside it, and 02 without ground truth."""
    ds = tmp_path / "Fluo-Toy"
    seq = _frames(ds / "01")
    gt = _gt(ds / "01_GT")
    bare = _frames(ds / "02")
    return {"seq": seq, "gt": gt, "bare": bare, "root": ds}


# --- demo --------------------------------------------------------------------------------------------------------

def test_demo_defaults(cfg):
    run = resolve(cfg())
    assert run.demo is True
    assert run.out == "results/demo"
    assert run.objects_from == "pixels"
    raw, gt = demo_paths("results/demo")
    assert run.raw == raw
    assert run.eval_gt == gt
    assert run.train_from == "gt"
    assert run.train_gt == gt
    assert run.train_raw == raw
    assert run.n_frames == 30
    assert run.ndim == 2
    assert run.spatial_shape == (192, 192)
    assert run.voxel_size == (1.0, 1.0)
    assert run.n_channels == 0


def test_demo_3d_and_custom(cfg):
    run = resolve(cfg(out="somewhere", demo={"ndim": 3, "n_frames": 5, "shape": [8, 32, 40]}))
    assert run.out == "somewhere"
    assert run.raw == demo_paths("somewhere")[0]
    assert run.eval_gt == demo_paths("somewhere")[1]
    assert run.spatial_shape == (8, 32, 40)
    assert run.n_frames == 5
    assert run.voxel_size == (2.0, 1.0, 1.0)
    run = resolve(cfg(demo={"ndim": 3}))
    assert run.spatial_shape == (12, 128, 128)


def test_demo_voxel_size_too_short(cfg):
    with pytest.raises(ConfigError) as e:
        resolve(cfg(demo={"ndim": 3, "voxel_size": [1.0, 1.0]}))
    assert "demo.voxel_size" in str(e.value)


# --- a CTC sequence with its ground truth ------------------------------------------------------------------------

def test_ctc_with_sibling_gt(cfg, ctc):
    run = resolve(cfg(input=str(ctc["seq"])))
    assert run.demo is False
    assert run.out == "results/Fluo-Toy_01"
    assert run.raw == str(ctc["seq"])
    assert run.n_frames == N_FRAMES
    assert run.spatial_shape == SHAPE
    assert run.n_channels == 0
    assert run.voxel_size == (1.0, 1.0)
    assert Path(run.eval_gt) == ctc["gt"]
    assert run.objects_from == "pixels"
    assert run.train_from == "gt"
    assert run.train_raw == str(ctc["seq"])
    assert Path(run.train_gt) == ctc["gt"]


def test_ctc_relative_path_and_out(cfg, ctc, monkeypatch):
    monkeypatch.chdir(ctc["root"])
    run = resolve(cfg(input="01", out="elsewhere"))
    assert run.out == "elsewhere"
    assert Path(run.eval_gt).resolve() == ctc["gt"].resolve()
    monkeypatch.chdir(ctc["seq"])
    run = resolve(cfg(input="."))
    assert run.out == "results/Fluo-Toy_01"


def test_non_numeric_folder_name(cfg, tmp_path):
    seq = _frames(tmp_path / "mymovie")
    run = resolve(cfg(input=str(seq), pixels={"ilp": str(_touch(tmp_path / "p.ilp"))}))
    assert run.out == "results/mymovie"
    assert run.eval_gt == ""


def test_explicit_gt_key(cfg, ctc, tmp_path):
    other = _gt(tmp_path / "my_gt")
    run = resolve(cfg(input=str(ctc["bare"]), gt=str(other)))
    assert Path(run.eval_gt) == other
    assert Path(run.train_gt) == other  # its own GT trains when nothing else is given


def test_3d_voxel_size(cfg, tmp_path):
    seq = _frames(tmp_path / "ds" / "01", shape=(5, 12, 14))
    _gt(tmp_path / "ds" / "01_GT", shape=(5, 12, 14))
    run = resolve(cfg(input=str(seq), voxel_size=[2.0, 0.5, 0.25]))
    assert run.spatial_shape == (5, 12, 14)
    assert run.voxel_size == (2.0, 0.5, 0.25)
    with pytest.raises(ConfigError) as e:
        resolve(cfg(input=str(seq), voxel_size=[0.5, 0.5]))
    assert "voxel_size" in str(e.value)


def test_2d_uses_last_voxel_sizes(cfg, ctc):
    run = resolve(cfg(input=str(ctc["seq"]), voxel_size=[3.0, 0.5, 0.25]))
    assert run.voxel_size == (0.5, 0.25)


# --- HDF5 / TIFF inputs ------------------------------------------------------------------------------------------

def _touch(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def test_hdf5_input(cfg, tmp_path):
    path = tmp_path / "movie.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("raw", data=np.zeros((2, 4, 8, 6), np.uint8))  # t c y x
    ilp = _touch(tmp_path / "project.ilp")
    run = resolve(cfg(input=str(path), dataset="raw", axes="tcyx", channel=3, pixels={"ilp": str(ilp)}))
    assert run.out == "results/movie"
    assert run.raw_dataset == "raw" and run.raw_axes == "tcyx"
    assert (run.n_frames, run.spatial_shape, run.n_channels) == (2, (8, 6), 4)
    assert run.eval_gt == ""
    assert (run.train_from, run.train_gt) == ("ilp", str(ilp))
    with pytest.raises(ConfigError) as e:
        resolve(cfg(input=str(path), dataset="raw", axes="tcyx", channel=4, pixels={"ilp": str(ilp)}))
    assert "channel" in str(e.value) and "4" in str(e.value)


def test_hdf5_input_bad_axes(cfg, tmp_path):
    path = tmp_path / "movie.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("raw", data=np.zeros((2, 8, 6), np.uint8))
    with pytest.raises(InputError) as e:
        resolve(cfg(input=str(path), dataset="raw", axes="tzyx"))
    assert str(path) in str(e.value)


def test_tiff_input_with_pixel_labels(cfg, tmp_path):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.zeros((5, 8, 6), np.uint8))
    labels = _frames(tmp_path / "scribbles", n=1, shape=(8, 6), dtype=np.uint8)
    run = resolve(cfg(input=str(path), pixels={"labels": str(labels)}))
    assert run.out == "results/stack"
    assert run.n_frames == 5
    assert (run.train_from, run.train_gt, run.train_raw) == ("labels", str(labels), str(path))


# --- training sources --------------------------------------------------------------------------------------------

def test_train_with_sibling_gt(cfg, ctc, tmp_path):
    train = _frames(tmp_path / "Other" / "01")
    train_gt = _gt(tmp_path / "Other" / "01_GT")
    run = resolve(cfg(input=str(ctc["bare"]), train=str(train)))
    assert run.train_from == "gt"
    assert run.train_raw == str(train)
    assert Path(run.train_gt) == train_gt
    assert run.eval_gt == ""


def test_train_with_explicit_train_gt(cfg, ctc, tmp_path):
    train = _frames(tmp_path / "Other" / "seq")
    train_gt = _gt(tmp_path / "gts" / "whatever")
    run = resolve(cfg(input=str(ctc["seq"]), train=str(train), train_gt=str(train_gt)))
    assert run.train_raw == str(train)
    assert run.train_gt == str(train_gt)
    assert Path(run.eval_gt) == ctc["gt"]  # evaluation still uses the input's own GT


def test_train_gt_alone_trains_on_input(cfg, ctc, tmp_path):
    train_gt = _gt(tmp_path / "gts" / "for_02")
    run = resolve(cfg(input=str(ctc["bare"]), train_gt=str(train_gt)))
    assert run.train_raw == str(ctc["bare"])
    assert run.train_gt == str(train_gt)


def test_train_without_gt(cfg, ctc, tmp_path):
    train = _frames(tmp_path / "Other" / "07")
    with pytest.raises(InputError) as e:
        resolve(cfg(input=str(ctc["seq"]), train=str(train)))
    msg = str(e.value)
    assert "'train'" in msg and "train_gt" in msg and "07_GT" in msg


def test_no_training_source(cfg, ctc):
    with pytest.raises(InputError) as e:
        resolve(cfg(input=str(ctc["bare"])))
    msg = str(e.value)
    assert str(ctc["bare"]) in msg
    for option in ("train", "train_gt", "pixels.ilp", "pixels.labels", "pixels.probabilities", "objects.labels"):
        assert option in msg, option


def test_ilp_wins_over_gt(cfg, ctc, tmp_path):
    ilp = _touch(tmp_path / "p.ilp")
    run = resolve(cfg(input=str(ctc["seq"]), pixels={"ilp": str(ilp)}))
    assert (run.train_from, run.train_gt) == ("ilp", str(ilp))
    assert Path(run.eval_gt) == ctc["gt"]


# --- objects from label images -----------------------------------------------------------------------------------

def test_objects_labels(cfg, ctc, tmp_path):
    labels = _frames(tmp_path / "masks", prefix="mask")
    run = resolve(cfg(input=str(ctc["bare"]), objects={"labels": str(labels)}))
    assert run.objects_from == "labels"
    assert run.train_from == ""  # no pixel training needed


def test_objects_labels_wrong_frame_count(cfg, ctc, tmp_path):
    labels = _frames(tmp_path / "masks", n=N_FRAMES - 1, prefix="mask")
    with pytest.raises(InputError) as e:
        resolve(cfg(input=str(ctc["seq"]), objects={"labels": str(labels)}))
    msg = str(e.value)
    assert "objects.labels" in msg
    assert str(N_FRAMES - 1) in msg and str(N_FRAMES) in msg


def test_objects_labels_empty_folder(cfg, ctc, tmp_path):
    (tmp_path / "masks").mkdir()
    with pytest.raises(InputError) as e:
        resolve(cfg(input=str(ctc["seq"]), objects={"labels": str(tmp_path / "masks")}))
    assert "masks" in str(e.value)


# --- objects from probabilities ----------------------------------------------------------------------------------

def _probs(path: Path, shape, axistags=True):
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("exported_data", data=np.zeros(shape, np.float32))
        if axistags:
            ds.attrs["axistags"] = axistags_json("tyxc")
    return path


def test_probabilities(cfg, ctc, tmp_path):
    path = _probs(tmp_path / "probs.h5", (N_FRAMES,) + SHAPE + (2,))
    run = resolve(cfg(input=str(ctc["bare"]), pixels={"probabilities": str(path)}))
    assert run.objects_from == "probabilities"
    assert run.train_from == ""


def test_probabilities_explicit_axes(cfg, ctc, tmp_path):
    path = _probs(tmp_path / "probs.h5", (2, N_FRAMES) + SHAPE, axistags=False)  # c t y x
    run = resolve(cfg(input=str(ctc["bare"]), pixels={"probabilities": str(path), "probabilities_axes": "ctyx"}))
    assert run.objects_from == "probabilities"
    with pytest.raises(InputError) as e:
        resolve(cfg(input=str(ctc["bare"]), pixels={"probabilities": str(path)}))
    assert str(path) in str(e.value)


@pytest.mark.parametrize("shape", [(N_FRAMES, 16, 21, 2), (N_FRAMES + 1, 16, 20, 2)])
def test_probabilities_wrong_shape(cfg, ctc, tmp_path, shape):
    path = _probs(tmp_path / "probs.h5", shape)
    with pytest.raises(InputError) as e:
        resolve(cfg(input=str(ctc["seq"]), pixels={"probabilities": str(path)}))
    msg = str(e.value)
    assert str(path) in msg
    assert str(SHAPE) in msg


# --- path keys that do not exist ---------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["input", "gt", "train", "train_gt", "pixels.ilp", "pixels.labels",
                                 "pixels.probabilities", "objects.labels"])
def test_missing_path_keys(cfg, ctc, tmp_path, key):
    missing = str(tmp_path / "does_not_exist")
    overrides = {"input": str(ctc["seq"])}
    if "." in key:
        group, sub = key.split(".")
        overrides[group] = {sub: missing}
    else:
        overrides[key] = missing
    with pytest.raises(InputError) as e:
        resolve(cfg(**overrides))
    msg = str(e.value)
    assert f"'{key}'" in msg
    assert missing in msg
