"""MaMuT export (TrackMate XML + BigDataViewer XML/HDF5): read back by lineagetree and pycellin, compared with real
MaMuT/BigDataViewer files, deterministic, atomic. ``small_lineage`` is shared with the other export tests."""

import logging
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from conftest import require_shared
from lineageflow.errors import InputError
from lineageflow.export.mamut import BDV_H5, BDV_XML, MAMUT_XML, write_bdv, write_mamut
from lineageflow.features import object_features
from lineageflow.lineage import Lineage, from_solution

N_FRAMES = 10


def _boxes(ndim):
    """(frame, label, centre) of the active objects: a division (3 -> 4, 6 at frame 4), a cell with a gap
    (9 in frames 0-2 continues as 2 in frames 5-9) and a lone object (7, frame 6)."""
    objs = []
    for t in range(N_FRAMES):
        if t < 4:
            objs.append((t, 3, (8, 6 + t)))
        else:
            objs += [(t, 4, (4, 10 + t)), (t, 6, (14, 10 + t))]
        if t < 3:
            objs.append((t, 9, (28, 30)))
        if t >= 5:
            objs.append((t, 2, (28, 32)))
    objs.append((6, 7, (34, 8)))
    if ndim == 3:
        objs = [(t, lab, (1 + (lab % 3), *c)) for t, lab, c in objs]
    return objs


def small_lineage(ndim=2, voxel_size=None):
    """A small lineage with real object features, its label frames (with an inactive object, label 20, that the
    lineage leaves out) and raw frames. Returns (lineage, labels (t, ...), raw (t, ...), voxel_size)."""
    vs = tuple(voxel_size or ((1.0, 1.0) if ndim == 2 else (2.0, 0.5, 0.5)))
    shape = (40, 48) if ndim == 2 else (6, 40, 48)
    labels = np.zeros((N_FRAMES, *shape), np.uint16)
    objs = _boxes(ndim)
    for t, lab, c in objs:
        labels[(t, *(slice(x - 1, x + 2) for x in c))] = lab
    labels[(slice(None), *(slice(0, 2) for _ in shape))] = 20  # inactive, in a corner
    rng = np.random.default_rng(0)
    raw = (rng.integers(10, 40, labels.shape) + 300 * (labels > 0)).astype(np.uint16)
    active = {(t, lab) for t, lab, _ in objs}
    tables = [object_features(labels[t], raw[t], frame=t, voxel_size=vs) for t in range(N_FRAMES)]
    nodes = pd.concat(tables, ignore_index=True)
    nodes = nodes[[(t, lab) in active for t, lab in zip(nodes["frame"], nodes["label"])]].reset_index(drop=True)
    nodes["p_count_0"] = 0.05
    nodes["merger_label"] = np.where((nodes["frame"] == 5) & nodes["label"].isin([4, 6]), 30, 0)
    edges = [(t, 3, 3, t + 1) for t in range(3)] + [(3, 3, 4, 4), (3, 3, 6, 4)]
    edges += [(t, lab, lab, t + 1) for t in range(4, N_FRAMES - 1) for lab in (4, 6)]
    edges += [(0, 9, 9, 1), (1, 9, 9, 2), (2, 9, 2, 5)] + [(t, 2, 2, t + 1) for t in range(5, N_FRAMES - 1)]
    edges = pd.DataFrame(edges, columns=["frame", "label_src", "label_dst", "frame_dst"])
    return from_solution(nodes, edges), labels, raw, vs


def counts(lin: Lineage) -> dict:
    """Spots, links, divisions, lineages (weakly connected components) and lone objects of our graph."""
    g = lin.graph
    comps = list(nx.weakly_connected_components(g))
    return {"spots": g.number_of_nodes(), "edges": g.number_of_edges(),
            "divisions": sum(1 for n in g if g.out_degree(n) >= 2), "lineages": len(comps),
            "lone": sum(1 for c in comps if len(c) == 1)}


def read_mamut_with_lineagetree(xml):
    import warnings

    from lineagetree import read_from_mamut_xml

    with warnings.catch_warnings():  # "time dictionary had keys that were not nodes": the lone spots it drops
        warnings.simplefilter("ignore", UserWarning)
        lt = read_from_mamut_xml(str(xml), name="export")
    return {"spots": len(lt.nodes), "edges": sum(len(s) for s in lt.successor.values()),
            "divisions": sum(1 for n in lt.nodes if len(lt.successor[n]) >= 2), "roots": len(lt.roots)}


def read_mamut_with_pycellin(xml):
    from pycellin import load_TrackMate_XML

    model = load_TrackMate_XML(str(xml), keep_all_spots=True, keep_all_tracks=True)
    lins = model.get_cell_lineages()
    return {"spots": sum(len(x) for x in lins), "edges": sum(x.number_of_edges() for x in lins),
            "divisions": sum(1 for x in lins for n in x.nodes if x.out_degree(n) >= 2), "lineages": len(lins)}, model


def check_mamut_readers(xml, lin: Lineage):
    """lineagetree and pycellin read the same spots, edges, divisions and lineages as our graph.

    lineagetree builds its nodes from links only, so it does not see lone spots (lineages of one object):
    it must see exactly the others."""
    ours = counts(lin)
    lt = read_mamut_with_lineagetree(xml)
    assert lt == {"spots": ours["spots"] - ours["lone"], "edges": ours["edges"], "divisions": ours["divisions"],
                  "roots": ours["lineages"] - ours["lone"]}, (lt, ours)
    pc, model = read_mamut_with_pycellin(xml)
    assert pc == {k: ours[k] for k in ("spots", "edges", "divisions", "lineages")}, (pc, ours)
    return lt, pc, model


def check_mamut_positions(xml, lin: Lineage, ndim):
    """Spot positions are the objects' physical centroids; FRAME/POSITION_T their frame; LABEL their label."""
    spots = ET.parse(xml).getroot().find("Model/AllSpots").iter("Spot")
    got = {(int(s.get("FRAME")), int(s.get("LABEL"))): s for s in spots}
    nodes = lin.nodes.set_index(["frame", "label"])
    assert set(got) == set(nodes.index)
    for key, s in got.items():
        row = nodes.loc[key]
        for ax in ("x", "y", "z"):
            want = row[f"pos_{ax}"] if (ndim == 3 or ax != "z") else 0.0
            assert float(s.get(f"POSITION_{ax.upper()}")) == pytest.approx(want)
        assert float(s.get("POSITION_T")) == key[0]
        assert int(s.get("TRACKLET_ID")) == row["track_id"] and int(s.get("LINEAGE_ID")) == row["lineage_id"]


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

def _children(el):
    return [c.tag for c in el]


def check_mamut_structure(xml):
    """Element and attribute structure of our MaMuT XML against MaMuT's own file (lineagetree's test-mamut.xml)."""
    ref = ET.parse(require_shared("mamut-mastodon-examples", "lineagetree-test-mamut", "test-mamut.xml")).getroot()
    ours = ET.parse(xml).getroot()
    assert ours.tag == ref.tag == "TrackMate"
    assert _children(ours) == _children(ref) == ["Model", "Settings", "GUIState"]
    assert _children(ours.find("Model")) == _children(ref.find("Model"))
    assert set(ours.find("Model").attrib) == set(ref.find("Model").attrib)
    assert _children(ours.find("Model/FeatureDeclarations")) == _children(ref.find("Model/FeatureDeclarations"))
    for group in ("SpotFeatures", "EdgeFeatures", "TrackFeatures"):
        for f in ours.find(f"Model/FeatureDeclarations/{group}"):
            assert set(f.attrib) == {"feature", "name", "shortname", "dimension", "isint"}
            assert f.get("dimension") in {"NONE", "QUALITY", "POSITION", "TIME", "LENGTH", "INTENSITY", "VELOCITY"}
    # every spot attribute of MaMuT's file is on our spots (bar MaMuT's optional colour/division analyzers), and
    # every attribute of ours but ID and name is a declared, numeric feature
    ref_spot = next(ref.iter("Spot"))
    declared = {f.get("feature"): f.get("isint") for f in ours.find("Model/FeatureDeclarations/SpotFeatures")}
    spots = list(ours.iter("Spot"))
    assert spots
    for s in spots:
        assert set(ref_spot.attrib) <= set(s.attrib)
        for k, v in s.attrib.items():
            if k in ("ID", "name"):
                continue
            assert k in declared, k
            (int if declared[k] == "true" else float)(v)  # numeric (Java parses NaN too)
    n_spots = int(ours.find("Model/AllSpots").get("nspots"))
    assert n_spots == len(spots) == len({s.get("ID") for s in spots})
    assert all(int(s.get("FRAME")) == int(f.get("frame")) for f in ours.iter("SpotsInFrame") for s in f)
    # edges and tracks: MaMuT's attributes; each edge once, between existing spots, earlier -> later
    ref_edge, ref_track = next(ref.iter("Edge")), next(ref.iter("Track"))
    frame_of = {s.get("ID"): int(s.get("FRAME")) for s in spots}
    seen = set()
    for track in ours.iter("Track"):
        assert set(ref_track.attrib) - {"DIVISION_TIME_MEAN", "DIVISION_TIME_STD"} <= set(track.attrib)
        for e in track:
            assert e.tag == "Edge" and set(ref_edge.attrib) <= set(e.attrib)
            a, b = e.get("SPOT_SOURCE_ID"), e.get("SPOT_TARGET_ID")
            assert frame_of[a] < frame_of[b] and (a, b) not in seen
            seen.add((a, b))
    filtered = [t.get("TRACK_ID") for t in ours.find("Model/FilteredTracks")]
    assert filtered == [t.get("TRACK_ID") for t in ours.iter("Track")]
    # settings and GUI state as MaMuT writes them
    assert _children(ours.find("Settings")) == _children(ref.find("Settings"))
    assert set(ours.find("Settings/ImageData").attrib) == set(ref.find("Settings/ImageData").attrib)
    for group in ("SpotAnalyzers", "EdgeAnalyzers", "TrackAnalyzers"):
        assert _children(ours.find(f"Settings/AnalyzerCollection/{group}")) == _children(
            ref.find(f"Settings/AnalyzerCollection/{group}"))
    assert set(_children(ours.find("GUIState"))) == set(_children(ref.find("GUIState")))
    assert ours.find("GUIState/View").get("key") == "MaMuT Viewer"
    for path in ("GUIState/SetupAssignments/ConverterSetups/ConverterSetup",
                 "GUIState/SetupAssignments/MinMaxGroups/MinMaxGroup"):
        assert _children(ours.find(path)) == _children(ref.find(path))
    return len(seen)


def check_bdv_structure(folder):
    """Our BigDataViewer XML/HDF5 against the real BDV pair of Mastodon's test resources."""
    ref_dir = require_shared("mamut-mastodon-examples", "mastodon-faketracks-trackmate-bdv")
    ref = ET.parse(ref_dir / "mamutproject_FakeTracksBDV.xml").getroot()
    ours = ET.parse(Path(folder) / BDV_XML).getroot()
    assert ours.tag == ref.tag == "SpimData" and ours.get("version") == ref.get("version")
    assert set(_children(ours)) == set(_children(ref)) == {"BasePath", "SequenceDescription", "ViewRegistrations"}
    assert ours.find("BasePath").attrib == ref.find("BasePath").attrib
    loader, ref_loader = ours.find("SequenceDescription/ImageLoader"), ref.find("SequenceDescription/ImageLoader")
    assert loader.attrib == ref_loader.attrib == {"format": "bdv.hdf5"}
    assert loader.find("hdf5").attrib == ref_loader.find("hdf5").attrib == {"type": "relative"}
    assert (Path(folder) / loader.find("hdf5").text).exists()
    assert set(_children(ours.find("SequenceDescription"))) >= {"ImageLoader", "ViewSetups", "Timepoints"}
    ref_setup = ref.find("SequenceDescription/ViewSetups/ViewSetup")
    setups = ours.findall("SequenceDescription/ViewSetups/ViewSetup")
    for s in setups:
        assert set(_children(s)) == set(_children(ref_setup))
        assert _children(s.find("voxelSize")) == _children(ref_setup.find("voxelSize")) == ["unit", "size"]
        assert len(s.find("size").text.split()) == 3 and len(s.find("voxelSize/size").text.split()) == 3
    channels = ours.findall("SequenceDescription/ViewSetups/Attributes[@name='channel']/Channel")
    ref_channel = ref.find("SequenceDescription/ViewSetups/Attributes[@name='channel']/Channel")
    assert len(channels) == len(setups) and all(_children(c) == _children(ref_channel) for c in channels)
    tp, ref_tp = ours.find("SequenceDescription/Timepoints"), ref.find("SequenceDescription/Timepoints")
    assert tp.attrib == ref_tp.attrib == {"type": "range"} and _children(tp) == _children(ref_tp)
    n_t = int(tp.find("last").text) - int(tp.find("first").text) + 1
    regs = ours.findall("ViewRegistrations/ViewRegistration")
    assert len(regs) == n_t * len(setups)
    ref_reg = ref.find("ViewRegistrations/ViewRegistration")
    for r in regs:
        assert set(r.attrib) == set(ref_reg.attrib) == {"timepoint", "setup"}
        vt = r.find("ViewTransform")
        assert vt.attrib == ref_reg.find("ViewTransform").attrib == {"type": "affine"}
        assert len(vt.find("affine").text.split()) == 12
    # HDF5 layout: the reference's groups and datasets; cells (z, y, x) match the XML size (x y z)
    with h5py.File(ref_dir / "mamutproject_FakeTracksBDV.h5", "r") as f:
        ref_keys = {"s00/resolutions", "s00/subdivisions", "t00000/s00/0/cells"}
        assert all(k in f for k in ref_keys)
        ref_dtype = f["t00000/s00/0/cells"].dtype
    with h5py.File(Path(folder) / loader.find("hdf5").text, "r") as f:
        for s in setups:
            sid = int(s.find("id").text)
            assert f"s{sid:02d}/resolutions" in f and f"s{sid:02d}/subdivisions" in f
            x, y, z = (int(v) for v in s.find("size").text.split())
            for t in range(n_t):
                cells = f[f"t{t:05d}/s{sid:02d}/0/cells"]
                assert cells.shape == (z, y, x) and cells.dtype == ref_dtype
    return n_t


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
