"""Inputs people have: OME-Zarr / Zarr movies, vendor files through bioio, label stacks as napari saves them.

Every file is written by its format's own library: ome-zarr-py (OME-Zarr 0.4 and 0.5), zarr, Zeiss's pylibCZIrw
(a real CZI), tifffile (OME-TIFF, multi-page label stacks).
"""

import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from workflow_helpers import snakemake

from lineageflow import groundtruth
from lineageflow.config import load_schema, validate_config
from lineageflow.errors import ConfigError, InputError
from lineageflow.inputs import resolve
from lineageflow.io import open_label_images, open_movie

ROOT = Path(__file__).resolve().parents[1]
N_FRAMES, SHAPE3 = 4, (3, 8, 10)


@pytest.fixture(scope="module")
def schema():
    return load_schema(ROOT / "config" / "schema.yaml")


@pytest.fixture
def cfg(schema):
    def make(**overrides):
        return validate_config(overrides, schema)
    return make


def _movie(shape, dtype=np.uint16):
    """Distinct values everywhere, so any axis mix-up shows."""
    return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape).astype(dtype)


def _ome_zarr(path: Path, data, version: str, axes="tzyx", scale=None, units=None):
    """An OME-Zarr image written by ome-zarr-py (0.4 = Zarr v2, 0.5 = Zarr v3), with a second resolution level."""
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.writer import write_image

    fmt = {"0.4": FormatV04(), "0.5": FormatV05()}[version]
    root = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    write_image(data, root, axes=axes, fmt=fmt, scale_factors=[2], scale=scale, axes_units=units)
    return path


ZYX_SCALE = {"t": 5.0, "z": 2.0, "y": 0.5, "x": 250.0}
ZYX_UNITS = {"t": "second", "z": "micrometer", "y": "micrometer", "x": "nanometer"}


# --- OME-Zarr ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version, marker", [("0.4", ".zattrs"), ("0.5", "zarr.json")])
def test_ome_zarr_movie_full_resolution_axes_and_scale(tmp_path, version, marker):
    data = _movie((N_FRAMES,) + SHAPE3)
    path = _ome_zarr(tmp_path / "movie.zarr", data, version, scale=ZYX_SCALE, units=ZYX_UNITS)
    assert (path / marker).is_file()  # the Zarr format the NGFF version prescribes
    movie = open_movie(path)
    assert (movie.kind, movie.n_frames, movie.spatial_shape, movie.n_channels) == ("zarr", N_FRAMES, SHAPE3, 0)
    assert movie.voxel_size == pytest.approx((2.0, 0.5, 0.25))  # x given in nanometres
    for t in range(N_FRAMES):
        np.testing.assert_array_equal(movie.read(t), data[t])


def test_ome_zarr_channels_last_and_2d(tmp_path):
    data = _movie((N_FRAMES, 2, 8, 10))  # t, c, y, x
    path = _ome_zarr(tmp_path / "c.zarr", data, "0.5", axes="tcyx", scale={"t": 1.0, "c": 1.0, "y": 0.3, "x": 0.3},
                     units={"y": "micrometer", "x": "micrometer"})
    movie = open_movie(path)
    assert (movie.spatial_shape, movie.n_channels, movie.voxel_size) == ((8, 10), 2, (0.3, 0.3))
    np.testing.assert_array_equal(movie.read(1), np.moveaxis(data[1], 0, -1))


def test_ome_zarr_level_by_dataset_key(tmp_path):
    data = _movie((N_FRAMES,) + SHAPE3)
    path = _ome_zarr(tmp_path / "m.zarr", data, "0.4", scale=ZYX_SCALE, units=ZYX_UNITS)
    level = open_movie(path, dataset="s1")
    assert level.spatial_shape == (3, 4, 5)
    assert level.voxel_size == pytest.approx((2.0, 1.0, 0.5))
    with pytest.raises(InputError, match="not a resolution level"):
        open_movie(path, dataset="s9")


def test_ome_zarr_bioformats2raw_layout(tmp_path):
    """bioformats2raw writes the image as series 0 below the store's root."""
    root = tmp_path / "b2r.zarr"
    zarr.open_group(str(root), mode="w", zarr_format=2).attrs["bioformats2raw.layout"] = 3
    data = _movie((N_FRAMES,) + SHAPE3)
    _ome_zarr(root / "0", data, "0.4", scale=ZYX_SCALE, units=ZYX_UNITS)
    movie = open_movie(root)
    assert movie._dataset == "0/s0"
    again = open_movie(root, dataset=movie._dataset, axes=movie._axes)  # as the jobs reopen it
    np.testing.assert_array_equal(again.read(2), data[2])


def test_ome_zarr_unknown_unit_gives_no_voxel_size(tmp_path):
    path = _ome_zarr(tmp_path / "m.zarr", _movie((2, 6, 7)), "0.4", axes="tyx", scale={"t": 1, "y": 2.0, "x": 2.0},
                     units={"y": "parsec", "x": "parsec"})
    movie = open_movie(path)
    assert movie.voxel_size is None
    assert "parsec" in movie.metadata_note


# --- plain Zarr ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("zarr_format", [2, 3])
def test_plain_zarr_array_needs_axes(tmp_path, zarr_format):
    data = _movie((N_FRAMES, 6, 7))
    path = tmp_path / "plain.zarr"
    zarr.create_array(str(path), data=data, zarr_format=zarr_format)
    with pytest.raises(InputError) as e:
        open_movie(path)
    assert str(path) in str(e.value) and "config key 'axes'" in str(e.value)
    movie = open_movie(path, axes="tyx")
    assert (movie.n_frames, movie.spatial_shape, movie.voxel_size) == (N_FRAMES, (6, 7), None)
    np.testing.assert_array_equal(movie.read(3), data[3])
    transposed = open_movie(path, axes="txy")
    np.testing.assert_array_equal(transposed.read(1), data[1].T)


def test_plain_zarr_v3_dimension_names(tmp_path):
    data = _movie((N_FRAMES, 6, 7))
    path = tmp_path / "named.zarr"
    zarr.create_array(str(path), data=data, dimension_names=["t", "y", "x"])
    np.testing.assert_array_equal(open_movie(path).read(2), data[2])


def test_plain_zarr_group_names_array_by_dataset(tmp_path):
    group = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    group.create_array("raw", data=_movie((2, 6, 7)))
    group.create_array("other", data=_movie((2, 6, 7)))
    with pytest.raises(InputError, match="name one with config key 'dataset'"):
        open_movie(tmp_path / "g.zarr", axes="tyx")
    assert open_movie(tmp_path / "g.zarr", dataset="raw", axes="tyx").n_frames == 2


def test_zarr_folder_without_metadata_is_not_a_ctc_folder(tmp_path):
    (tmp_path / "broken.zarr").mkdir()
    with pytest.raises(InputError) as e:
        open_movie(tmp_path / "broken.zarr")
    assert str(tmp_path / "broken.zarr") in str(e.value)
    assert "no frames found" not in str(e.value) and "Zarr" in str(e.value)


# --- the run's inputs: voxel size from the metadata -----------------------------------------------------------------

def test_resolve_ome_zarr_input_takes_metadata_voxel_size(cfg, tmp_path):
    data = _movie((N_FRAMES,) + SHAPE3)
    path = _ome_zarr(tmp_path / "embryo.zarr", data, "0.5", scale=ZYX_SCALE, units=ZYX_UNITS)
    run = resolve(cfg(input=str(path), objects={"labels": str(_label_stack(tmp_path / "l.tif", (N_FRAMES,) + SHAPE3))}))
    assert run.voxel_size == pytest.approx((2.0, 0.5, 0.25))
    assert run.voxel_size_from == "metadata"
    assert (run.n_frames, run.spatial_shape, run.raw_files) == (N_FRAMES, SHAPE3, [str(path)])
    assert run.out == "results/embryo"
    # the jobs open the input with what the run recorded (rules/common.smk raw_params)
    movie = open_movie(run.raw, dataset=run.raw_dataset, axes=run.raw_axes)
    np.testing.assert_array_equal(movie.read(3), data[3])


def test_resolve_explicit_voxel_size_wins_and_a_mismatch_is_noted(cfg, tmp_path):
    path = _ome_zarr(tmp_path / "m.zarr", _movie((N_FRAMES,) + SHAPE3), "0.4", scale=ZYX_SCALE, units=ZYX_UNITS)
    labels = str(_label_stack(tmp_path / "l.tif", (N_FRAMES,) + SHAPE3))
    run = resolve(cfg(input=str(path), voxel_size=[3.0, 0.4, 0.4], objects={"labels": labels}))
    assert (run.voxel_size, run.voxel_size_from) == ((3.0, 0.4, 0.4), "config")
    assert any("differs from the voxel size in the metadata" in n and str(path) in n for n in run.notes)
    # the workflow prints the run's notes before any job
    proc = snakemake("-n", "--config", f"input={path}", "voxel_size=[3.0, 0.4, 0.4]", f"objects={{labels: {labels}}}",
                     f"out={tmp_path / 'out'}")
    assert "lineageflow: note: config key 'voxel_size' = [3.0, 0.4, 0.4] differs from the voxel size" in proc.stderr
    same = resolve(cfg(input=str(path), voxel_size=[2.0, 0.5, 0.25], objects={"labels": labels}))
    assert same.voxel_size == (2.0, 0.5, 0.25) and not any("differs" in n for n in same.notes)


def test_resolve_voxel_size_without_metadata_is_the_config(cfg, tmp_path):
    path = tmp_path / "plain.zarr"
    zarr.create_array(str(path), data=_movie((N_FRAMES, 6, 7)), zarr_format=2)
    labels = str(_label_stack(tmp_path / "l.tif", (N_FRAMES, 6, 7)))
    run = resolve(cfg(input=str(path), axes="tyx", objects={"labels": labels}))
    assert (run.voxel_size, run.voxel_size_from) == ((1.0, 1.0), "config")
    with pytest.raises(ConfigError, match="voxel_size"):
        resolve(cfg(input=str(_ome_zarr(tmp_path / "m.zarr", _movie((N_FRAMES,) + SHAPE3), "0.4")),
                    voxel_size=[0.5, 0.5], objects={"labels": labels}))


# --- vendor files through bioio -------------------------------------------------------------------------------------

def test_czi_written_by_libczi_is_read_through_bioio(tmp_path):
    pyczi = pytest.importorskip("pylibCZIrw.czi")
    pytest.importorskip("bioio_czi")
    data = _movie((3, 2, 6, 7))  # t, z, y, x
    path = tmp_path / "m.czi"
    with pyczi.create_czi(str(path)) as writer:
        for t in range(3):
            for z in range(2):
                writer.write(data[t, z], plane={"T": t, "Z": z, "C": 0})
        writer.write_metadata(document_name="m", channel_names={0: "ch0"}, scale_x=0.2e-6, scale_y=0.3e-6,
                              scale_z=1.5e-6)
    movie = open_movie(path)
    assert (movie.kind, movie.n_frames, movie.spatial_shape, movie.n_channels) == ("bioio", 3, (2, 6, 7), 0)
    assert movie.voxel_size == pytest.approx((1.5, 0.3, 0.2))
    for t in range(3):
        np.testing.assert_array_equal(movie.read(t), data[t])


def test_ome_tiff_through_bioio_dims_and_pixel_sizes(tmp_path):
    pytest.importorskip("bioio_ome_tiff")
    from lineageflow.movie_formats import open_bioio_movie

    data = _movie((3, 2, 4, 6, 7))  # T, C, Z, Y, X
    path = tmp_path / "m.ome.tif"
    tifffile.imwrite(path, data, ome=True, metadata={"axes": "TCZYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.3,
                                                     "PhysicalSizeZ": 1.5})
    movie = open_bioio_movie(path, plugin="bioio-ome-tiff")
    assert (movie.n_frames, movie.spatial_shape, movie.n_channels) == (3, (4, 6, 7), 2)
    assert movie.voxel_size == pytest.approx((1.5, 0.3, 0.2))
    np.testing.assert_array_equal(movie.read(1), np.moveaxis(data[1], 0, -1))  # channels last


@pytest.mark.parametrize("suffix, plugin", [(".nd2", "bioio-nd2"), (".czi", "bioio-czi"), (".lif", "bioio-lif")])
def test_vendor_file_without_bioio_names_the_extra(tmp_path, monkeypatch, suffix, plugin):
    monkeypatch.setitem(sys.modules, "bioio", None)  # as if bioio were not installed
    path = tmp_path / f"movie{suffix}"
    path.write_bytes(b"\0" * 64)
    with pytest.raises(InputError) as e:
        open_movie(path)
    msg = str(e.value)
    assert str(path) in msg and plugin in msg and 'pip install "lineageflow[vendor]"' in msg


# --- label stacks (napari) ----------------------------------------------------------------------------------------

def _label_stack(path: Path, shape, labelled=None):
    """A labels layer as napari saves it: one plain multi-page TIFF, all zeros in unlabelled frames."""
    stack = np.zeros(shape, np.uint16)
    for t in range(shape[0]) if labelled is None else labelled:
        stack[(t,) + (slice(1, 3),) * (len(shape) - 1)] = t + 1
    tifffile.imwrite(path, stack)
    return path


@pytest.mark.parametrize("shape", [(N_FRAMES, 6, 7), (N_FRAMES,) + SHAPE3])
def test_objects_labels_stack(cfg, tmp_path, shape):
    raw = tmp_path / "raw.tif"
    tifffile.imwrite(raw, _movie(shape), metadata={"axes": "TYX" if len(shape) == 3 else "TZYX"}, imagej=True)
    stack = _label_stack(tmp_path / "labels.tif", shape)
    run = resolve(cfg(input=str(raw), objects={"labels": str(stack)}))
    assert run.objects_from == "labels"
    assert run.labels_files == [str(stack)] * N_FRAMES  # the stack holds every frame
    labels = open_label_images(stack, what="labels", ndim=len(shape) - 1)
    assert labels.read(2, shape[1:])[(1,) * (len(shape) - 1)] == 3


def test_objects_labels_stack_frame_count_and_shape(cfg, tmp_path):
    raw = tmp_path / "raw.tif"
    tifffile.imwrite(raw, _movie((N_FRAMES, 6, 7)), metadata={"axes": "TYX"}, imagej=True)
    short = _label_stack(tmp_path / "short.tif", (N_FRAMES - 1, 6, 7))
    with pytest.raises(InputError) as e:
        resolve(cfg(input=str(raw), objects={"labels": str(short)}))
    assert str(short) in str(e.value) and f"{N_FRAMES - 1} frames" in str(e.value)
    wide = _label_stack(tmp_path / "wide.tif", (N_FRAMES, 6, 8))
    with pytest.raises(InputError) as e:
        resolve(cfg(input=str(raw), objects={"labels": str(wide)}))
    assert str(wide) in str(e.value) and "(6, 8)" in str(e.value)
    floats = tmp_path / "floats.tif"
    tifffile.imwrite(floats, np.zeros((N_FRAMES, 6, 7), np.float32))
    with pytest.raises(InputError, match="integer labels"):
        resolve(cfg(input=str(raw), objects={"labels": str(floats)}))


def test_pixel_labels_stack_trains_on_its_labelled_frames(cfg, tmp_path):
    raw = tmp_path / "raw.tif"
    tifffile.imwrite(raw, _movie((N_FRAMES, 6, 7)), metadata={"axes": "TYX"}, imagej=True)
    stack = _label_stack(tmp_path / "scribbles.tif", (N_FRAMES, 6, 7), labelled=[1, 3])
    run = resolve(cfg(input=str(raw), pixels={"labels": str(stack)}))
    assert (run.train_from, run.train_gt) == ("labels", str(stack))
    labels = open_label_images(stack, what="pixels.labels", ndim=2, n_frames=N_FRAMES, sparse=True)
    assert labels.labelled_frames() == [1, 3]
    long = _label_stack(tmp_path / "long.tif", (N_FRAMES + 2, 6, 7))
    with pytest.raises(InputError) as e:
        resolve(cfg(input=str(raw), pixels={"labels": str(long)}))
    assert str(long) in str(e.value) and "pixels.labels" in str(e.value)


def test_ground_truth_masks_as_a_stack(cfg, tmp_path):
    raw = tmp_path / "raw.tif"
    tifffile.imwrite(raw, _movie((N_FRAMES,) + SHAPE3), metadata={"axes": "TZYX"}, imagej=True)
    stack = _label_stack(tmp_path / "seg.tif", (N_FRAMES,) + SHAPE3, labelled=[0, 2])
    masks = groundtruth.mask_frames(stack)
    assert sorted(masks) == [0, 2]
    assert groundtruth.read_mask(masks[2], SHAPE3)[1, 1, 1] == 3
    with pytest.raises(InputError, match="mask has shape"):
        groundtruth.read_mask(masks[2], (3, 8, 11))
    run = resolve(cfg(input=str(raw), train_gt=str(stack)))
    assert (run.train_from, run.train_gt, run.classify_from) == ("gt", str(stack), "none")
    with pytest.raises(InputError) as e:
        resolve(cfg(input=str(raw), gt=str(stack)))
    assert "config key 'gt'" in str(e.value) and "train_gt" in str(e.value)
    short = _label_stack(tmp_path / "short.tif", (N_FRAMES - 1,) + SHAPE3)
    with pytest.raises(InputError) as e:
        resolve(cfg(input=str(raw), train_gt=str(short)))
    assert str(short) in str(e.value)
