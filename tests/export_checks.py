"""Export test data and independent checks, shared by the export test files (import it; test files do not import
each other).

``small_lineage`` is a small lineage with real object features and its label and raw frames; ``counts`` summarises a
lineage graph. The checkers read an export back with independent readers and compare it with our lineage:
MaMuT XML with lineagetree and pycellin (``check_mamut_readers``, ``check_mamut_positions``) and against MaMuT's
own file (``check_mamut_structure``), BigDataViewer XML/HDF5 against a real BDV pair (``check_bdv_structure``),
CSV with pandas (``check_csv``), GEFF with geff's validators, geff and pycellin (``check_geff``), CTC with pycellin
(``read_ctc_with_pycellin``).
"""

import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import tifffile

from conftest import require_shared
from lineageflow.export.geff import GRAPH
from lineageflow.export.mamut import BDV_XML
from lineageflow.features import object_features
from lineageflow.lineage import Lineage, from_solution

# --- test data and MaMuT/BigDataViewer -----------------------------------------------------------------------------

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
            assert f.get("dimension") in {"NONE", "QUALITY", "POSITION", "TIME", "LENGTH", "AREA", "INTENSITY",
                                          "VELOCITY"}
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

# --- CSV -----------------------------------------------------------------------------------------------------------

LEADING = ["frame", "labelimageId", "trackId", "lineageId", "parentTrackId", "mergerLabelId"]


def graph_from_csv(table: pd.DataFrame) -> nx.DiGraph:
    """Rebuild the lineage from the CSV's ids alone: consecutive objects of a track, and each track's first object
    from its parent track's last one."""
    g = nx.DiGraph()
    g.add_nodes_from(zip(table["frame"], table["labelimageId"]))
    first, last = {}, {}
    for tid, rows in table.sort_values("frame").groupby("trackId"):
        keys = list(zip(rows["frame"], rows["labelimageId"]))
        g.add_edges_from(zip(keys[:-1], keys[1:]))
        first[tid], last[tid] = keys[0], keys[-1]
    parents = table.drop_duplicates("trackId").set_index("trackId")["parentTrackId"]
    for tid, parent in parents.items():
        if parent:
            g.add_edge(last[parent], first[tid])
    return g


def check_csv(path, lin, ndim):
    """The CSV read back by pandas has one row per object and rebuilds the same lineage."""
    table = pd.read_csv(path)
    assert list(table.columns[:6]) == LEADING
    assert len(table) == len(lin.nodes) and not table.duplicated(["frame", "labelimageId"]).any()
    g = graph_from_csv(table)
    assert set(g.edges()) == set(lin.graph.edges())
    ours = counts(lin)
    comps = list(nx.weakly_connected_components(g))
    assert {"spots": g.number_of_nodes(), "edges": g.number_of_edges(),
            "divisions": sum(1 for n in g if g.out_degree(n) >= 2), "lineages": len(comps),
            "lone": sum(1 for c in comps if len(c) == 1)} == ours
    # lineage id = the root track of the connected component
    for comp in comps:
        ids = table.set_index(["frame", "labelimageId"]).loc[sorted(comp), "lineageId"]
        assert ids.nunique() == 1
    axes = "xy" if ndim == 2 else "xyz"
    assert [c for c in table.columns if c.startswith("position_")] == [f"position_{a}" for a in axes]
    assert [c for c in table.columns if c.startswith("Center_of_the_object_")] == [
        f"Center_of_the_object_{i}" for i in range(ndim)]
    return table

# --- GEFF ----------------------------------------------------------------------------------------------------------

def check_geff(store, lin, voxel_size, n_frames):
    """geff's structure/data/segmentation validators pass, the segmentation has one frame per movie frame
    (``n_frames``), and geff and pycellin read our graph back."""
    import geff
    from geff.core_io import read_to_memory
    from geff.validate import segmentation as segval
    from geff.validate.data import ValidationConfig, validate_data
    import zarr
    from pycellin.io.geff.loader import load_GEFF

    graph_path = str(Path(store) / GRAPH)
    geff.validate_structure(graph_path)
    mem = read_to_memory(graph_path)
    validate_data(mem, ValidationConfig(graph=True, sphere=True, lineage=True, tracklet=True))
    meta = mem["metadata"]
    ndim = len(voxel_size)
    assert [a.name for a in meta.axes] == ["t", *("zyx" if ndim == 3 else "yx")]
    assert [a.type for a in meta.axes] == ["time", *["space"] * ndim]
    assert {a.unit for a in meta.axes[1:]} == {"micrometer"} and meta.axes[0].unit == "frame"
    assert meta.track_node_props == {"tracklet": "tracklet_id", "lineage": "lineage_id"}
    (rel,) = meta.related_objects
    assert (rel.type, rel.node_prop) == ("labels", "seg_id")
    seg = zarr.open_array(str((Path(graph_path) / rel.path).resolve()), mode="r")
    assert seg.shape[0] == n_frames
    seg = seg[:]
    scale = meta.extra["lineageflow"]["segmentation_scale"]
    assert scale == [1.0, *voxel_size]
    for ok, errors in (segval.has_valid_seg_id(mem), segval.axes_match_seg_dims(mem, seg),
                       segval.graph_is_in_seg_bounds(mem, seg, scale=scale),
                       segval.has_seg_ids_at_time_points(seg, mem["node_props"]["t"]["values"],
                                                         mem["node_props"]["seg_id"]["values"], meta)):
        assert ok, errors

    ours = counts(lin)
    g, _ = geff.read(graph_path)
    assert (g.number_of_nodes(), g.number_of_edges()) == (ours["spots"], ours["edges"])
    assert sum(1 for n in g if g.out_degree(n) >= 2) == ours["divisions"]
    # node positions are the physical centroids, at the node's frame and label
    nodes = lin.nodes.set_index(["frame", "label"])
    for _, d in g.nodes(data=True):
        row = nodes.loc[(d["t"], d["label"])]
        for ax in ("zyx" if ndim == 3 else "yx"):
            assert d[ax] == pytest.approx(row[f"pos_{ax}"])
        assert d["seg_id"] == d["track_id"] == row["track_id"]
    logging.getLogger("pycellin").setLevel(logging.ERROR)
    model = load_GEFF(graph_path)
    lins = model.get_cell_lineages()
    pc = {"spots": sum(len(x) for x in lins), "edges": sum(x.number_of_edges() for x in lins),
          "divisions": sum(1 for x in lins for n in x.nodes if x.out_degree(n) >= 2), "lineages": len(lins)}
    assert pc == {k: ours[k] for k in pc}, (pc, ours)
    assert model.model_metadata.space_unit == "micrometer"
    check_geff_scale(store, lin, voxel_size, seg)
    return seg, pc


def check_geff_scale(store, lin, voxel_size, seg):
    """The segmentation's scale and shape as tracksdata and funtracks (motile_tracker's data model) read them: the
    scale is the voxel size, and funtracks' segmentation, scaled by it, puts every object where its position is."""
    import warnings

    import tracksdata as td
    from funtracks.import_export import import_from_geff

    graph_path = Path(store) / GRAPH
    meta = td.io.read_graph_metadata(str(graph_path))
    assert meta["scale"] == list(voxel_size) and meta["shape"] == list(seg.shape)
    graph, _ = td.graph.RustWorkXGraph.from_geff(str(graph_path))
    assert graph.metadata["scale"] == list(voxel_size) and graph.num_nodes() == len(lin.nodes)
    with warnings.catch_warnings():  # "Found node_id 0 ...": funtracks renumbers nodes from 1, as it must
        warnings.simplefilter("ignore", UserWarning)
        tracks = import_from_geff(graph_path, segmentation_path=Path(store) / "segmentation")
    assert tracks.scale == [1.0, *voxel_size] and tracks.ndim == len(voxel_size) + 1
    ft_seg = np.asarray(tracks.segmentation[:])
    assert ft_seg.shape == seg.shape
    nodes = tracks.graph_solution.node_attrs(attr_keys=["t", "pos", "node_id", "label"]).to_pandas()
    assert len(nodes) == len(lin.nodes)
    assert len(tracks.graph_solution.edge_list()) == lin.graph.number_of_edges()
    from scipy import ndimage

    ours = lin.nodes.set_index(["frame", "label"])
    axes = "zyx"[3 - len(voxel_size):]
    for t, rows in nodes.groupby("t"):
        ids = rows["node_id"].to_numpy()
        sizes = ndimage.sum_labels(np.ones(ft_seg[t].shape), ft_seg[t], ids)
        centres = np.asarray(ndimage.center_of_mass(np.ones(ft_seg[t].shape), ft_seg[t], ids))
        for r, size, centre in zip(rows.itertuples(), sizes, centres):
            assert size == ours.loc[(t, r.label), "size"]
            assert np.allclose(centre * np.asarray(tracks.scale[1:]), r.pos)  # funtracks' pixels, at its scale
            assert np.allclose(r.pos, [ours.loc[(t, r.label), f"pos_{a}"] for a in axes])

# --- CTC -----------------------------------------------------------------------------------------------------------

def read_ctc_with_pycellin(folder):
    """pycellin reads res_track.txt (topology); the masks are checked against it here: in every frame the mask
    labels are exactly the tracks that res_track.txt says are alive."""
    from pycellin import load_CTC_file

    logging.getLogger("pycellin").setLevel(logging.ERROR)
    model = load_CTC_file(str(folder / "res_track.txt"))
    lins = model.get_cell_lineages()
    got = {"spots": sum(len(x) for x in lins), "edges": sum(x.number_of_edges() for x in lins),
           "divisions": sum(1 for x in lins for n in x.nodes if x.out_degree(n) >= 2), "lineages": len(lins)}
    rows = [list(map(int, line.split())) for line in (folder / "res_track.txt").read_text().splitlines()]
    masks = sorted(folder.glob("mask*.tif"))
    for t, path in enumerate(masks):
        alive = {L for L, B, E, _ in rows if B <= t <= E}
        present = set(np.unique(tifffile.imread(path)).tolist()) - {0}
        assert present == alive, (path.name, present ^ alive)
    return got, len(masks)

# --- napari and ilastik tables -------------------------------------------------------------------------------------

def _track_links(rows: pd.DataFrame, track: str, t: str) -> set:
    """Links between consecutive rows of each track, as ((t, track), (t, track)) pairs."""
    links = set()
    for tid, g in rows.sort_values(t).groupby(track):
        keys = [(int(a), int(tid)) for a in g[t]]
        links.update(zip(keys[:-1], keys[1:]))
    return links


def _key_of(lin):
    """(frame, label) -> (frame, CTC track id)."""
    return {(int(f), int(lab)): (int(f), int(tid)) for f, lab, tid in
            zip(lin.nodes["frame"], lin.nodes["label"], lin.nodes["track_id"])}


def check_napari(folder, lin, voxel_size):
    """napari's tracks table read back by pandas: one row per object at its pixel centroid, sorted by track then
    frame with every track contiguous in time; the tracks and napari's graph rebuild the lineage; the layer's scale
    is the voxel size."""
    import json

    folder = Path(folder)
    ndim = len(voxel_size)
    df = pd.read_csv(folder / "tracks.csv")
    assert list(df.columns) == ["track_id", "t", *("zyx" if ndim == 3 else "yx")]
    assert df["track_id"].dtype.kind == "i" and df["t"].dtype.kind == "i"
    assert len(df) == len(lin.nodes)
    assert df.equals(df.sort_values(["track_id", "t"], kind="stable").reset_index(drop=True))
    for _, g in df.groupby("track_id"):
        assert (np.diff(g["t"].to_numpy()) == 1).all()
    key = _key_of(lin)
    nodes = lin.nodes.set_index(["frame", "track_id"])
    for r in df.itertuples(index=False):
        row = nodes.loc[(r.t, r.track_id)]
        for a in "zyx"[3 - ndim:]:
            assert getattr(r, a) == pytest.approx(row[f"centroid_{a}"])
    graph = {int(k): v for k, v in json.loads((folder / "graph.json").read_text()).items()}
    # our lineage's links, in (frame, track) terms: within a track, or from a parent track's end to a child's start
    ours = {(key[u], key[v]) for u, v in lin.graph.edges()}
    first = df.groupby("track_id")["t"].min().to_dict()
    last = df.groupby("track_id")["t"].max().to_dict()
    theirs = _track_links(df, "track_id", "t")
    for child, parents in graph.items():
        assert len(parents) == 1
        theirs.add(((last[parents[0]], parents[0]), (first[child], child)))
    assert theirs == ours
    n_children = pd.Series([p for ps in graph.values() for p in ps]).value_counts()
    assert int((n_children >= 2).sum()) == counts(lin)["divisions"]
    layer = json.loads((folder / "layer.json").read_text())
    assert layer == {"scale": [1.0, *voxel_size], "axis_labels": ["t", *"zyx"[3 - ndim:]]}
    return df, graph


def check_ilastik(folder, lin, ndim):
    """ilastik's tracking and divisions tables, read back as ilastik's own tests read them (numpy's genfromtxt
    with names) and by pandas: one row per object, the tracks' links and the divisions are the lineage's."""
    folder = Path(folder)
    table = pd.read_csv(folder / "exported_data_table.csv")
    divisions = pd.read_csv(folder / "exported_data_divisions.csv")
    assert list(table.columns[:5]) == ["object_id", "timestep", "labelimage_oid", "lineage_id", "track_id"]
    assert list(divisions.columns) == ["timestep", "object_id", "lineage_id", "track_id", "child1_object_id",
                                       "child1_track_id", "child2_object_id", "child2_track_id"]
    names = np.genfromtxt(folder / "exported_data_table.csv", delimiter=",", names=True).dtype.names
    axes = range(ndim)
    for name in ("Size_in_pixels", *(f"{f}_{i}" for f in ("Bounding_Box_Minimum", "Bounding_Box_Maximum",
                                                           "Center_of_the_object") for i in axes)):
        assert name in names, name
    assert f"Center_of_the_object_{ndim}" not in names
    assert table["object_id"].tolist() == list(range(len(lin.nodes)))
    assert not table.duplicated(["timestep", "labelimage_oid"]).any()
    nodes = lin.nodes.set_index(["frame", "label"])
    for r in table.itertuples(index=False):
        row = nodes.loc[(r.timestep, r.labelimage_oid)]
        assert (r.track_id, r.lineage_id) == (row["track_id"], row["lineage_id"])
        assert r[table.columns.get_loc("Size in pixels")] == row["size"]
        assert r[table.columns.get_loc("Center of the object_0")] == pytest.approx(row["centroid_x"])
    # links within a track, and divisions: exactly the lineage's (gap continuations are not divisions)
    key = _key_of(lin)
    within = {(key[u], key[v]) for u, v in lin.graph.edges() if key[u][1] == key[v][1]}
    assert _track_links(table, "track_id", "timestep") == within
    obj = table.set_index("object_id")
    got = {(int(d.timestep), int(d.track_id)): {(int(obj.at[c, "timestep"]), int(t)) for c, t in
                                                 ((d.child1_object_id, d.child1_track_id),
                                                  (d.child2_object_id, d.child2_track_id))}
           for d in divisions.itertuples(index=False)}
    want = {key[n]: {key[c] for c in lin.graph.successors(n)} for n in lin.graph if lin.graph.out_degree(n) >= 2}
    assert got == want and len(divisions) == counts(lin)["divisions"]
    for d in divisions.itertuples(index=False):
        assert obj.at[d.object_id, "track_id"] == d.track_id and obj.at[d.object_id, "lineage_id"] == d.lineage_id
        assert d.child1_track_id < d.child2_track_id
    return table, divisions
