"""Exports for sparse ground truth (config key export.first_frame_labels): the selection of the lineages of the
objects of frame 0 that a reference label image marks, its bad inputs, and a demo run whose every export holds
exactly the selected lineages (read back by the export tests' independent readers)."""

import json

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import tifffile

from conftest import ROOT
from export_checks import (check_csv, check_geff, check_ilastik, check_mamut_positions, check_mamut_readers,
                           check_napari, counts, read_ctc_with_pycellin, small_lineage)
from lineageflow.config import load_schema, validate_config
from lineageflow.errors import InputError
from lineageflow.export.ctc import read_ctc, write_ctc
from lineageflow.export.selection import (lineage_roots, read_reference, select_first_frame, select_lineage,
                                          select_lineages)
from lineageflow.io import LabelChunks, read_table
from lineageflow.lineage import Lineage
from lineageflow.synthetic import SyntheticConfig, generate
from workflow_helpers import assert_stops_before_any_job, snakemake

SMALL = "demo={n_frames: 8, n_cells: 6, seed: 1}"
TARGETS = ["ctc", "mamut", "csv/objects.csv", "geff/lineage.zarr", "napari", "ilastik"]


def write_reference(path, img):
    tifffile.imwrite(path, np.asarray(img, np.uint16))
    return path


def one_pixel_of(labels, label, value=1):
    """A reference image marking a single pixel of object ``label`` (a partial overlap is enough)."""
    ref = np.zeros(labels.shape, np.uint16)
    ref[tuple(np.argwhere(labels == label)[0])] = value
    return ref


# --- the selection on hand-built lineages ---------------------------------------------------------------------------

def test_a_marked_cell_keeps_its_whole_lineage_with_its_division_and_drops_the_others(tmp_path):
    # small_lineage: frame 0 has object 3 (divides into 4 and 6 at frame 4) and object 9 (gap, continues as 2 from
    # frame 5); object 7 appears at frame 6; label 20 is an object the tracker did not keep
    lin, labels, _, _ = small_lineage()
    ref_path = write_reference(tmp_path / "man_track000.tif", one_pixel_of(labels[0], 3, value=17))
    kept, summary = select_lineage(lin, lambda t: labels[t], ref_path)
    root3 = int(lin.nodes.loc[(lin.nodes["frame"] == 0) & (lin.nodes["label"] == 3), "track_id"].iloc[0])
    want = lin.nodes[lin.nodes["lineage_id"] == root3]
    assert set(zip(kept.nodes["frame"], kept.nodes["label"])) == set(zip(want["frame"], want["label"]))
    assert kept.n_tracks == 3 and kept.n_divisions == 1 and kept.n_lineages == 1
    assert set(kept.nodes["label"]) == {3, 4, 6}  # not 9/2 (not marked) nor 7 (appears later)
    # ids unchanged: the kept tracks are rows of the full track table
    assert kept.tracks.merge(lin.tracks).shape[0] == kept.n_tracks
    assert summary["lineages"] == [root3] and summary["frame0_objects_selected"] == 1
    assert summary["reference_labels"] == 1 and summary["reference_labels_unmatched"] == []
    assert (summary["tracks_kept"], summary["tracks_total"]) == (3, lin.n_tracks)

    # the CTC export of the selection is valid and its masks hold only the kept tracks' labels
    out = write_ctc(kept, lambda t: labels[t], len(labels), tmp_path / "ctc")
    tracks, masks = read_ctc(out)
    assert sorted(tracks["L"]) == sorted(kept.tracks["L"])
    in_masks = set().union(*(np.unique(tifffile.imread(m)).tolist() for m in masks)) - {0}
    assert in_masks == set(kept.tracks["L"])
    got, n_masks = read_ctc_with_pycellin(out)  # pycellin, and masks against res_track.txt frame by frame
    assert got == {k: counts(kept)[k] for k in got} and n_masks == len(labels)


def test_a_gap_continuation_is_kept_and_objects_appearing_later_are_dropped_even_under_the_reference(tmp_path):
    lin, labels, _, _ = small_lineage()
    ref = one_pixel_of(labels[0], 9)
    ref[tuple(np.argwhere(labels[6] == 7)[0])] = 2  # where object 7 appears at frame 6: background in frame 0
    kept, summary = select_lineage(lin, lambda t: labels[t], write_reference(tmp_path / "ref.tif", ref))
    assert set(kept.nodes["label"]) == {9, 2}  # 9 and its continuation after the gap
    assert kept.n_tracks == 2 and kept.n_divisions == 0
    assert summary["reference_labels_unmatched"] == [2]  # the reference label over background is reported


def test_ancestors_and_all_descendants_of_a_selected_track():
    # two trees: 1 -> (2 -> (4, 5), 3) and 6 -> 7; a seed deep in the first tree keeps all of it
    tracks = pd.DataFrame({"L": [1, 2, 3, 4, 5, 6, 7], "B": [0, 2, 2, 5, 5, 0, 3], "E": [1, 4, 9, 9, 9, 2, 9],
                           "P": [0, 1, 1, 2, 2, 0, 6]})
    nodes = pd.DataFrame([(t, 10 + r.L, r.L) for r in tracks.itertuples() for t in range(r.B, r.E + 1)],
                         columns=["frame", "label", "track_id"])
    assert lineage_roots(tracks).to_dict() == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 6, 7: 6}
    for seed, want in (([5], {1, 2, 3, 4, 5}), ([7], {6, 7}), ([3, 6], set(range(1, 8))), ([], set())):
        kept_nodes, kept_tracks = select_lineages(nodes, tracks, seed)
        assert set(kept_tracks["L"]) == want
        assert set(kept_nodes["track_id"]) == want and len(kept_nodes) == int(nodes["track_id"].isin(want).sum())
    with pytest.raises(InputError, match="track 99 is not a track"):
        select_lineages(nodes, tracks, [99])


def test_roots_of_a_deep_random_forest_match_networkx():
    rng = np.random.default_rng(7)
    n = 300
    P = np.array([0 if i == 0 or rng.random() < 0.05 else int(rng.integers(1, i + 1)) for i in range(n)])
    tracks = pd.DataFrame({"L": np.arange(1, n + 1), "B": 0, "E": 0, "P": P}).sample(frac=1, random_state=3)
    g = nx.DiGraph((int(p), int(c)) for c, p in zip(tracks["L"], tracks["P"]) if p)
    g.add_nodes_from(tracks["L"].tolist())
    want = {int(c): next(a for a in [c, *nx.ancestors(g, c)] if g.in_degree(a) == 0) for c in tracks["L"]}
    assert lineage_roots(tracks).to_dict() == want


def test_no_tracked_object_of_frame_0_under_the_reference_is_an_error(tmp_path):
    lin, labels, _, _ = small_lineage()
    ref = one_pixel_of(labels[0], 20)  # an object of the label image that the lineage does not hold
    with pytest.raises(InputError, match=r"export\.first_frame_labels.*ref\.tif.*none of the 2 tracked objects"):
        select_lineage(lin, lambda t: labels[t], write_reference(tmp_path / "ref.tif", ref))
    with pytest.raises(InputError, match=r"export\.first_frame_labels.*shape \(4, 4\).*\(40, 48\)"):
        select_first_frame(lin.nodes, lin.tracks, labels[0], np.ones((4, 4), np.uint16), "ref.tif")


# --- the reference image: read-only, and one clear error for each bad input ----------------------------------------

def test_bad_reference_images_name_the_config_key_and_the_file(tmp_path):
    shape = (40, 48)
    cases = {
        "missing.tif": (None, "no such file"),
        "text.tif": ("not a tiff", "cannot read it as a TIFF"),
        "small.tif": (np.ones((20, 48), np.uint16), r"shape \(20, 48\).*\(40, 48\)"),
        "stack.tif": (np.ones((3, 40, 48), np.uint16), r"shape \(3, 40, 48\).*frame 0 only"),
        "float.tif": (np.ones(shape, np.float32), "float32; expected integer labels"),
        "empty.tif": (np.zeros(shape, np.uint16), "no labels"),
    }
    for name, (content, words) in cases.items():
        path = tmp_path / name
        if isinstance(content, str):
            path.write_text(content)
        elif content is not None:
            tifffile.imwrite(path, content, photometric="minisblack")
        with pytest.raises(InputError, match=rf"config key 'export\.first_frame_labels' = '.*{name}'.*{words}"):
            read_reference(path, shape)
    ok = np.zeros((1, *shape), np.uint16)  # a leading axis of length 1 (as some writers save a frame) is fine
    ok[0, 3, 4] = 5
    path = tmp_path / "ok.tif"
    tifffile.imwrite(path, ok)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    assert read_reference(path, shape).shape == shape
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_config_key_defaults_to_off_beside_exports():
    schema = load_schema(ROOT / "config" / "schema.yaml")
    cfg = validate_config({}, schema)
    assert cfg["export"] == {"first_frame_labels": ""} and cfg["exports"] == ["ctc", "mamut", "csv", "geff"]
    assert validate_config({"export": {"first_frame_labels": "gt/TRA/man_track000.tif"}},
                           schema)["export"]["first_frame_labels"] == "gt/TRA/man_track000.tif"


def test_a_missing_reference_stops_the_workflow_before_any_job(tmp_path):
    missing = tmp_path / "no_such" / "man_track000.tif"
    assert_stops_before_any_job(tmp_path, [SMALL, f"export={{first_frame_labels: {missing}}}"],
                                ["export.first_frame_labels", str(missing), "no such file"])


# --- the workflow: every export holds exactly the selected lineages -------------------------------------------------

def test_exports_hold_only_the_lineages_marked_in_frame_0(tmp_path):
    """A demo sequence with its ground-truth masks as objects (tracking only, like the SIM+ export test, to stay
    quick); the reference is the ground truth's frame 0 cut down to one cell that divides."""
    generate(tmp_path / "data", SyntheticConfig(n_frames=8, n_cells=6, seed=1))  # seed 1 divides within 8 frames
    seq, tra = tmp_path / "data" / "01", tmp_path / "data" / "01_GT" / "TRA"
    gt0 = tifffile.imread(tra / "man_track000.tif")
    man = pd.read_csv(tra / "man_track.txt", sep=r"\s+", names=["L", "B", "E", "P"])
    dividing = sorted(set(man.loc[man["P"] > 0, "P"]) & set(man.loc[man["B"] == 0, "L"]))
    assert dividing, "the demo should have a cell of frame 0 that divides"
    reference = np.where(gt0 == dividing[0], gt0, 0)
    ref_path = write_reference(tmp_path / "man_track000.tif", reference)
    ref_bytes = ref_path.read_bytes()

    out = tmp_path / "out"
    snakemake(*(str(out / t) for t in TARGETS), "--config", f"out={out}", f"input={seq}",
              f"objects={{labels: {tra}, min_size: 0}}", "tracking={keep_all_objects: true}",
              f"export={{first_frame_labels: {ref_path}}}")
    assert ref_path.read_bytes() == ref_bytes  # the input is only read

    # expected, from the tracked lineage's own lineage ids: the objects of frame 0 under any reference pixel
    full, meta = read_table(out / "track" / "lineage_nodes.parquet")
    frame0 = LabelChunks(sorted((out / "track" / "labels").glob("*.h5")))(0)
    under = np.setdiff1d(np.unique(frame0[reference > 0]), [0])
    roots = set(full.loc[(full["frame"] == 0) & full["label"].isin(under), "lineage_id"])
    want = full[full["lineage_id"].isin(roots)]
    assert 0 < len(roots) < full["lineage_id"].nunique()  # some lineages are dropped
    nodes, _ = read_table(out / "export" / "lineage_nodes.parquet")
    lin = Lineage.from_tables(nodes, pd.read_csv(out / "export" / "tracks.csv"))
    assert set(zip(lin.nodes["frame"], lin.nodes["label"])) == set(zip(want["frame"], want["label"]))
    assert lin.n_divisions >= 1
    summary = json.loads((out / "export" / "selection.json").read_text())
    assert summary["lineages"] == sorted(roots) and summary["objects_kept"] == len(want)

    # every export, read back by the export tests' readers, holds exactly that lineage
    vs, ndim = meta["voxel_size"], len(meta["voxel_size"])
    ours = counts(lin)
    check_mamut_readers(out / "mamut" / "mamut.xml", lin)
    check_mamut_positions(out / "mamut" / "mamut.xml", lin, ndim)
    check_csv(out / "csv" / "objects.csv", lin, ndim)
    check_geff(out / "geff" / "lineage.zarr", lin, vs, meta["n_frames"])
    check_napari(out / "napari", lin, vs)
    check_ilastik(out / "ilastik", lin, ndim)
    ctc, n_masks = read_ctc_with_pycellin(out / "ctc")  # masks hold exactly the tracks alive in each frame
    assert ctc == {k: ours[k] for k in ctc} and n_masks == meta["n_frames"]
    ctc_tracks, masks = read_ctc(out / "ctc")
    assert sorted(ctc_tracks["L"]) == sorted(lin.tracks["L"])
    # frame 0's mask is the kept objects' pixels of the tracked labels, under their track ids
    mask0 = tifffile.imread(masks[0])
    first = lin.nodes[lin.nodes["frame"] == 0]
    np.testing.assert_array_equal(mask0 > 0, np.isin(frame0, first["label"]))
    for label, tid in zip(first["label"], first["track_id"]):
        assert set(np.unique(mask0[frame0 == label])) == {tid}
