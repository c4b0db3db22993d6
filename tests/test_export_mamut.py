"""MaMuT export (TrackMate XML + BigDataViewer XML/HDF5): read back by lineagetree and pycellin, compared with real
MaMuT/BigDataViewer files, deterministic, atomic. The test data and checkers are in export_checks.py, shared with
the other export tests."""

import logging
import os
import xml.etree.ElementTree as ET

import h5py
import numpy as np
import pytest

from conftest import require_shared
from export_checks import (N_FRAMES, check_bdv_structure, check_mamut_positions, check_mamut_readers,
                           check_mamut_structure, counts, read_mamut_with_lineagetree, read_mamut_with_pycellin,
                           small_lineage)
from lineageflow.errors import InputError
from lineageflow.export.mamut import BDV_H5, BDV_XML, MAMUT_XML, write_bdv, write_mamut


def _movie_writer(raw):
    return lambda t: raw[t]


@pytest.mark.parametrize("ndim", [2, 3])
def test_readers_agree_with_our_graph(tmp_path, ndim):
    lin, _, raw, vs = small_lineage(ndim)
    out = tmp_path / "mamut"
    summary = write_mamut(lin, _movie_writer(raw), N_FRAMES, out, voxel_size=vs)
    assert sorted(os.listdir(out)) == [BDV_H5, BDV_XML, MAMUT_XML]
    ours = counts(lin)
    assert ours == {"spots": 25, "edges": 22, "divisions": 1, "lineages": 3, "lone": 1}
    assert summary["n_spots"] == ours["spots"] and summary["n_edges"] == ours["edges"]
    assert summary["n_tracks"] == ours["lineages"] - ours["lone"] and summary["n_lone_spots"] == 1
    _, _, model = check_mamut_readers(out / MAMUT_XML, lin)
    check_mamut_positions(out / MAMUT_XML, lin, ndim)
    md = model.model_metadata
    assert md.space_unit == "micrometer" and md.time_unit == "frame"
    assert [md.pixel_width, md.pixel_height] == [vs[-1], vs[-2]]
    if ndim == 3:
        assert md.pixel_depth == vs[0]
    # the gap link (frame 2 -> 5) is one edge; its track counts one gap of 2 frames
    root = ET.parse(out / MAMUT_XML).getroot()
    gap_track = [t for t in root.iter("Track") if t.get("NUMBER_GAPS") == "1"]
    assert len(gap_track) == 1 and gap_track[0].get("LONGEST_GAP") == "2"
    assert sorted(int(t.get("NUMBER_SPLITS")) for t in root.iter("Track")) == [0, 1]


def test_bdv_image_is_the_raw_movie_in_physical_space(tmp_path):
    lin, _, raw, vs = small_lineage(3)
    out = write_mamut(lin, _movie_writer(raw), N_FRAMES, tmp_path / "m", voxel_size=vs)
    assert out["bdv"]["intensity_mapping"] is None  # uint16 is written as it is
    with h5py.File(tmp_path / "m" / BDV_H5, "r") as f:
        for t in (0, 7):
            cells = f[f"t{t:05d}/s00/0/cells"][()]
            assert cells.dtype == np.int16 and cells.shape == raw.shape[1:]
            assert np.array_equal(cells.view(np.uint16), raw[t])
    spim = ET.parse(tmp_path / "m" / BDV_XML).getroot()
    setup = spim.find("SequenceDescription/ViewSetups/ViewSetup")
    z, y, x = raw.shape[1:]
    assert setup.find("size").text.split() == [str(x), str(y), str(z)]
    assert setup.find("voxelSize/unit").text == "micrometer"
    assert [float(v) for v in setup.find("voxelSize/size").text.split()] == [vs[2], vs[1], vs[0]]
    regs = spim.findall("ViewRegistrations/ViewRegistration")
    assert sorted(int(r.get("timepoint")) for r in regs) == list(range(N_FRAMES))
    affine = np.array([float(v) for v in regs[0].find("ViewTransform/affine").text.split()]).reshape(3, 4)
    assert np.allclose(affine[:, :3], np.diag([vs[2], vs[1], vs[0]])) and np.allclose(affine[:, 3], 0)
    # the settings point to the BDV XML next to it, by a relative path
    image = ET.parse(tmp_path / "m" / MAMUT_XML).getroot().find("Settings/ImageData")
    assert image.get("filename") == BDV_XML and image.get("folder") == ""
    assert (image.get("width"), image.get("height"), image.get("nslices"), image.get("nframes")) == (
        str(x), str(y), str(z), str(N_FRAMES))


def test_float_and_multichannel_raw(tmp_path):
    lin, _, raw, vs = small_lineage(2)
    two = np.stack([raw.astype(np.float32) / 7.0, raw.astype(np.float32) * -1.0], axis=-1)  # t, y, x, c
    out = write_mamut(lin, _movie_writer(two), N_FRAMES, tmp_path / "m", voxel_size=vs, source_channel=1)
    bdv = out["bdv"]
    assert bdv["n_channels"] == 2 and bdv["intensity_mapping"] is not None
    with h5py.File(tmp_path / "m" / BDV_H5, "r") as f:
        assert sorted(k for k in f if k.startswith("s")) == ["s00", "s01"]
        a = f["t00003/s00/0/cells"][()].view(np.uint16)[0]
    # a linear map of the movie's range onto 0..65535: order is kept
    order = np.argsort(two[3, ..., 0].ravel(), kind="stable")
    assert np.all(np.diff(a.ravel()[order].astype(np.int64)) >= 0)
    setups = ET.parse(tmp_path / "m" / BDV_XML).getroot().findall(".//ViewSetup")
    assert [s.find("attributes/channel").text for s in setups] == ["0", "1"]
    root = ET.parse(tmp_path / "m" / MAMUT_XML).getroot()
    assert {s.get("SOURCE_ID") for s in root.iter("Spot")} == {"1"}
    assert len(root.findall("GUIState/SetupAssignments/ConverterSetups/ConverterSetup")) == 2
    check_mamut_readers(tmp_path / "m" / MAMUT_XML, lin)


def test_large_frames_get_a_resolution_pyramid(tmp_path):
    """Frames wider than 1024 pixels get 2x downsampled levels (nearest: bright 16 bit values stay exact)."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 65535, (2, 24, 1030), dtype=np.uint16)
    info = write_bdv(lambda t: frames[t], 2, tmp_path / BDV_H5, (0.5, 0.25))
    assert info["n_levels"] == 2
    with h5py.File(tmp_path / BDV_H5, "r") as f:
        assert f["s00/resolutions"][()].tolist() == [[1, 1, 1], [2, 2, 1]]
        full, half = (f[f"t00001/s00/{k}/cells"][()].view(np.uint16) for k in (0, 1))
    assert np.array_equal(full[0], frames[1]) and half.shape == (1, 12, 515) and np.isin(half, full).all()


def test_8_bit_raw_is_written_as_bdv_16_bit(tmp_path):
    lin, _, raw, vs = small_lineage(2)
    raw8 = (raw // 2).astype(np.uint8)
    out = write_mamut(lin, _movie_writer(raw8), N_FRAMES, tmp_path / "m", voxel_size=vs)
    assert out["bdv"]["intensity_mapping"] is None
    with h5py.File(tmp_path / "m" / BDV_H5, "r") as f:
        cells = f["t00002/s00/0/cells"][()]
    assert cells.dtype == np.int16 and np.array_equal(cells[0], raw8[2])


def test_rerun_is_byte_identical_and_replaces_atomically(tmp_path):
    lin, _, raw, vs = small_lineage(2)
    a = tmp_path / "a"
    write_mamut(lin, _movie_writer(raw), N_FRAMES, a, voxel_size=vs)
    b = tmp_path / "b"
    b.mkdir()
    (b / "stale.xml").write_text("old")
    write_mamut(lin, _movie_writer(raw), N_FRAMES, b, voxel_size=vs)
    assert sorted(os.listdir(b)) == sorted(os.listdir(a))
    for name in os.listdir(a):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    before = {p.name: p.read_bytes() for p in b.iterdir()}

    def broken(t):
        if t == 6:
            raise RuntimeError("disk on fire")
        return raw[t]

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_mamut(lin, broken, N_FRAMES, b, voxel_size=vs)
    assert {p.name: p.read_bytes() for p in b.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no temporaries left


def test_missing_raw_and_other_errors(tmp_path):
    lin, _, raw, vs = small_lineage(2)
    with pytest.raises(InputError, match=r"raw movie is missing.*config key 'input'.*'exports'"):
        write_mamut(lin, None, N_FRAMES, tmp_path / "x", voxel_size=vs)
    with pytest.raises(InputError, match="objects in frame 9 but the raw movie has 5 frames"):
        write_mamut(lin, _movie_writer(raw), 5, tmp_path / "x", voxel_size=vs)
    with pytest.raises(InputError, match="frame 0 has shape"):
        write_mamut(lin, _movie_writer(raw[:, None, None]), N_FRAMES, tmp_path / "x", voxel_size=vs)
    with pytest.raises(InputError, match="channel 2 .config key 'channel'"):
        write_mamut(lin, _movie_writer(raw), N_FRAMES, tmp_path / "x", voxel_size=vs, source_channel=2)
    assert not (tmp_path / "x").exists()


# --- against real MaMuT / TrackMate / BigDataViewer files (../shared/data/mamut-mastodon-examples) ----------------

@pytest.mark.parametrize("ndim", [2, 3])
def test_structure_matches_real_mamut_and_bdv_files(tmp_path, ndim):
    lin, _, raw, vs = small_lineage(ndim)
    write_mamut(lin, _movie_writer(raw), N_FRAMES, tmp_path / "m", voxel_size=vs)
    assert check_mamut_structure(tmp_path / "m" / MAMUT_XML) == lin.graph.number_of_edges()
    assert check_bdv_structure(tmp_path / "m") == N_FRAMES


@pytest.mark.filterwarnings("ignore:A Property 'MANUAL_COLOR' already exists")
def test_reference_files_pass_our_readers_check():
    """The real MaMuT file reads the same in lineagetree and pycellin (the readers themselves are sound)."""
    xml = require_shared("mamut-mastodon-examples", "lineagetree-test-mamut", "test-mamut.xml")
    logging.getLogger("pycellin").setLevel(logging.ERROR)
    lt = read_mamut_with_lineagetree(xml)
    pc, _ = read_mamut_with_pycellin(xml)
    assert lt["spots"] == pc["spots"] == 2430 and lt["edges"] == pc["edges"] == 2424  # as ORIGIN.md says
    assert lt["divisions"] == pc["divisions"] and pc["lineages"] == 6


# TrackMate 7's declarations of the spot features we write under its names (SpotIntensityMultiCAnalyzerFactory,
# SpotShapeAnalyzerFactory), as TrackMate 7 writes them in its own XML files.
TRACKMATE7_SPOT_FEATURES = {
    "MEAN_INTENSITY_CH{n}": ("Mean intensity ch{n}", "Mean ch{n}", "INTENSITY"),
    "MIN_INTENSITY_CH{n}": ("Min intensity ch{n}", "Min ch{n}", "INTENSITY"),
    "MAX_INTENSITY_CH{n}": ("Max intensity ch{n}", "Max ch{n}", "INTENSITY"),
    "TOTAL_INTENSITY_CH{n}": ("Sum intensity ch{n}", "Sum ch{n}", "INTENSITY"),
    "STD_INTENSITY_CH{n}": ("Std intensity ch{n}", "Std ch{n}", "INTENSITY"),
}


@pytest.mark.parametrize("ndim, channel", [(2, 0), (3, 0), (2, 1)])
def test_trackmate7_feature_names_declarations_and_values(tmp_path, ndim, channel):
    lin, _, raw, vs = small_lineage(ndim)
    movie = raw if channel == 0 else np.stack([raw // 2, raw], axis=-1)  # features measured on the second channel
    write_mamut(lin, _movie_writer(movie), N_FRAMES, tmp_path / "m", voxel_size=vs, source_channel=channel)
    root = ET.parse(tmp_path / "m" / MAMUT_XML).getroot()
    declared = {f.get("feature"): (f.get("name"), f.get("shortname"), f.get("dimension"), f.get("isint"))
                for f in root.find("Model/FeatureDeclarations/SpotFeatures")}
    n = channel + 1
    for key, (name, short, dim) in TRACKMATE7_SPOT_FEATURES.items():
        key, name, short = (s.format(n=n) for s in (key, name, short))
        assert declared[key] == (name, short, dim, "false"), key
    assert not any(k.startswith(("VARIANCE", "LF_")) for k in declared)
    assert ("AREA" in declared) == (ndim == 2) and ("VOLUME" in declared) == (ndim == 3)
    if ndim == 2:
        assert declared["AREA"] == ("Area", "Area", "AREA", "false")
    # values: the object's own pixels of the measured channel; STD = sqrt(variance); AREA = physical area
    spot = next(s for s in root.iter("Spot") if s.get("FRAME") == "6" and s.get("LABEL") == "7")
    node = lin.nodes[(lin.nodes["frame"] == 6) & (lin.nodes["label"] == 7)].iloc[0]
    assert float(spot.get(f"MEAN_INTENSITY_CH{n}")) == pytest.approx(node["intensity_mean"])
    assert float(spot.get(f"STD_INTENSITY_CH{n}")) == pytest.approx(np.sqrt(node["intensity_var"]))
    assert float(spot.get(f"TOTAL_INTENSITY_CH{n}")) == pytest.approx(node["intensity_sum"])
    if ndim == 2:
        assert float(spot.get("AREA")) == pytest.approx(9 * vs[0] * vs[1])
    # pycellin's TrackMate reader takes them as TrackMate features with their declared dimension
    _, _, model = check_mamut_readers(tmp_path / "m" / MAMUT_XML, lin)
    lineage = next(x for x in model.get_cell_lineages() if any(
        d.get("FRAME") == 6 and d.get("LABEL") == 7 for _, d in x.nodes(data=True)))
    data = next(d for _, d in lineage.nodes(data=True) if d.get("FRAME") == 6 and d.get("LABEL") == 7)
    assert data[f"STD_INTENSITY_CH{n}"] == pytest.approx(np.sqrt(node["intensity_var"]))
