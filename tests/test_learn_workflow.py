"""tracking.weights = learned through the workflow: from the input's ground truth, from MaMuT tracklets made with
our own exporter from a crop of the ground truth, and the errors for bad learning input."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from lineageflow import annotations, learn, learn_data
from lineageflow.errors import ConfigError, InputError
from lineageflow.export.mamut import write_mamut_xml
from lineageflow.features import object_features
from lineageflow.lineage import ctc_to_solution, from_solution

from workflow_helpers import copy_run, snakemake

DEMO = "demo={n_frames: 20, n_cells: 10, seed: 3}"


@pytest.fixture(scope="module")
def learned_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("learn") / "out"
    snakemake("--config", f"out={out}", DEMO, "window_size=10", "overlap=4", "tracking={weights: learned}")
    return out


def test_learned_weights_are_written_and_used(learned_run):
    doc = json.loads((learned_run / "track" / "weights.json").read_text())
    assert doc["terms"] == ["transition", "detection", "division", "appearance", "disappearance", "gap"]
    assert len(doc["weights"]) == 6 and min(doc["weights"]) >= 0 and doc["weights"] != doc["default_weights"]
    assert doc["stopped"] in ("converged", "max_iterations") and doc["history"]
    assert all({"hinge", "loss", "primal", "weights"} <= set(h) for h in doc["history"])
    assert doc["data"]["source"].startswith("CTC ground truth") and doc["data"]["n_divisions"] >= 1
    assert doc["n_examples"] == 2  # 20 frames in windows of 10
    for log in (learned_run / "logs" / "track_window").glob("*.log"):
        assert f"weights {doc['weights']}" in log.read_text()
    assert json.loads((learned_run / "eval" / "metrics.json").read_text())["TRA"] > 0.8
    # the same objects tracked with the default weights, scored the same way, for the comparison
    default = json.loads((learned_run / "eval" / "metrics_default_weights.json").read_text())
    assert default["TRA"] > 0.8 and (learned_run / "compare" / "default_weights" / "ctc" / "res_track.txt").exists()
    assert "weights [10.0, 10.0, 10.0, 500.0, 500.0, 10.0]" in (learned_run / "logs" / "evaluate_default_weights.log").read_text()


def test_report_shows_learned_and_default_weights(learned_run, tmp_path):
    # the report is made in a copy of the run: learned_run stays as its fixture made it for the other tests
    out = copy_run(learned_run, tmp_path)
    proc = snakemake("report", "--config", f"out={out}", DEMO, "window_size=10", "overlap=4",
                     "tracking={weights: learned}")
    assert "track_learn" not in proc.text and "track_window" not in proc.text  # the copied run is reused
    page = (out / "report" / "report.html").read_text()
    section = page[page.index('id="weights"'):]
    doc = json.loads((out / "track" / "weights.json").read_text())
    assert "Learned tracking weights" in page and "learnt (detection = 10)" in section
    assert f"{doc['weights'][0]:.4f}" in section and "500.0000" in section
    assert "training loss" in section and "data:image/png;base64," in section
    assert "wrong divisions" in section and doc["training_errors"]["learned"]["loss"] <= doc["training_errors"][
        "default"]["loss"]
    learned = json.loads((out / "eval" / "metrics.json").read_text())
    default = json.loads((out / "eval" / "metrics_default_weights.json").read_text())
    row = re.search(r"<tr><td>default</td>(.*?)</tr><tr><td>learnt</td>(.*?)</tr>", section)
    assert row and f"{default['TRA']:.4f}" in row.group(1) and f"{learned['TRA']:.4f}" in row.group(2)


def _gt_crop_as_mamut(gt_dir: Path, frames: range, box, path: Path) -> int:
    """MaMuT XML of the GT tracks inside a crop, written with our own MaMuT exporter (as a user's tracklets)."""
    man = annotations.read_man_track(gt_dir / "TRA" / "man_track.txt")
    nodes, edges = ctc_to_solution(man)
    rows = []
    for t in frames:
        mask = tifffile.imread(gt_dir / "TRA" / f"man_track{t:03d}.tif")
        rows.append(object_features(mask, mask.astype(float), frame=t, voxel_size=(1.0, 1.0)))
    feats = pd.concat(rows, ignore_index=True)
    (y0, x0), (y1, x1) = box
    feats = feats[(feats["centroid_y"] >= y0) & (feats["centroid_y"] < y1) & (feats["centroid_x"] >= x0)
                  & (feats["centroid_x"] < x1)]
    nodes = nodes.merge(feats, on=["frame", "label"])
    keep = pd.MultiIndex.from_frame(nodes[["frame", "label"]])
    e_src = pd.MultiIndex.from_arrays([edges["frame"], edges["label_src"]]).isin(keep)
    e_dst = pd.MultiIndex.from_arrays([edges["frame_dst"], edges["label_dst"]]).isin(keep)
    lineage = from_solution(nodes, edges[e_src & e_dst])
    shape = tifffile.imread(gt_dir / "TRA" / "man_track000.tif").shape
    write_mamut_xml(lineage, path, voxel_size=(1.0, 1.0), n_frames=max(frames) + 1, image_shape_zyx=(1, *shape))
    return len(nodes)


def test_learning_from_mamut_tracklets_of_a_crop(learned_run, tmp_path):
    """Tracklets made in another tool (here our MaMuT exporter on a crop of the GT) drive learning end to end."""
    raw, gt = learned_run / "demo" / "01", learned_run / "demo" / "01_GT"
    box = [[0, 0], [192, 120]]
    xml = tmp_path / "tracklets.xml"
    n_spots = _gt_crop_as_mamut(gt, range(0, 10), box, xml)
    assert n_spots > 20
    out = tmp_path / "out"
    crop = f"[{{frames: [0, 9], box: {box}}}]"
    snakemake("--config", f"input={raw}", f"out={out}", "window_size=10", "overlap=4",
              f"tracking={{weights: learned, learn: {{tracklets: {xml}, crop: {crop}}}}}")
    doc = json.loads((out / "track" / "weights.json").read_text())
    assert doc["data"]["source"].startswith("MaMuT/TrackMate XML")
    assert doc["data"]["n_cells"] == n_spots and doc["data"]["n_cells_held"] >= 0.9 * n_spots
    assert doc["data"]["crops"] == [{"crop": 0, "frames": [0, 9], "box": [[0.0, 0.0], [192.0, 120.0]],
                                     "n_objects": doc["data"]["crops"][0]["n_objects"],
                                     "n_objects_annotated": doc["data"]["crops"][0]["n_objects_annotated"]}]
    assert doc["weights"] != doc["default_weights"]
    assert (out / "eval" / "metrics.json").exists()


def test_learned_without_anything_to_learn_from_stops_before_any_job(learned_run, tmp_path):
    raw = learned_run / "demo" / "01"
    bare = tmp_path / "seq" / "01"
    bare.mkdir(parents=True)
    for f in sorted(raw.glob("t*.tif")):
        (bare / f.name).symlink_to(f)
    proc = snakemake("-n", "--config", f"input={bare}", f"out={tmp_path / 'o'}", f"train={raw}",
                     "tracking={weights: learned, learn: {crop: [{frames: [3, 99]}]}}", check=False)
    assert proc.returncode != 0
    assert "tracking.learn.crop[0].frames" in proc.text and "0..19" in proc.text
    proc = snakemake("-n", "--config", f"input={bare}", f"out={tmp_path / 'o'}", "objects={labels: "
                     f"{learned_run / 'demo' / '01_GT' / 'SEG'}}}", "tracking={weights: learned}", check=False)
    assert proc.returncode != 0 and "'tracking.weights' = 'learned' needs something to learn from" in proc.text


# ---------------------------------------------------------------- bad input at the library level


def _labels_and_nodes():
    """Two frames, three objects each, one cell moving right."""
    lab = np.zeros((2, 40, 60), np.int32)
    for t in range(2):
        for i, x in enumerate((5, 25, 45)):
            lab[t, 5:12, x + t: x + t + 7] = i + 1
    rows = []
    for t in range(2):
        f = object_features(lab[t], lab[t].astype(float), frame=t, voxel_size=(1.0, 1.0))
        rows.append(f)
    nodes = pd.concat(rows, ignore_index=True).assign(p_count_0=0.1, p_count_1=0.8, p_count_2=0.1, p_division=0.0)
    nodes["border_distance"] = nodes["border_distance_yx"]
    return lab, nodes


TRACKING = {"weights": [10, 10, 10, 500, 500], "max_count": 2, "k_neighbours": 2, "max_distance": 30.0, "max_gap": 1,
            "solver": "highs", "gap": 0.0}


def _mamut(path: Path, spots, edges):
    s = "".join(f'<Spot ID="{i}" FRAME="{t}" POSITION_X="{x}" POSITION_Y="{y}" POSITION_Z="0" />' for i, t, y, x in spots)
    e = "".join(f'<Edge SPOT_SOURCE_ID="{a}" SPOT_TARGET_ID="{b}" />' for a, b in edges)
    path.write_text(f'<TrackMate><Model><AllSpots><SpotsInFrame>{s}</SpotsInFrame></AllSpots>'
                    f'<AllTracks><Track>{e}</Track></AllTracks></Model></TrackMate>')


def test_crop_without_objects_is_an_error(tmp_path):
    lab, nodes = _labels_and_nodes()
    xml = tmp_path / "t.xml"
    _mamut(xml, [(1, 0, 8, 8), (2, 1, 8, 9)], [(1, 2)])
    cells = learn_data.tracklet_cells(xml, lambda t: lab[t], (1.0, 1.0), 2)
    crops = learn_data.parse_crops([{"frames": [0, 1], "box": [[30, 0], [40, 60]]}], 2, 2)
    with pytest.raises(InputError, match=r"crop\[0\].*no objects of ours"):
        learn_data.examples(nodes, cells, crops, TRACKING, 0, ndim=2)


def test_tracklets_on_no_object_are_an_error(tmp_path):
    lab, nodes = _labels_and_nodes()
    xml = tmp_path / "t.xml"
    _mamut(xml, [(1, 0, 30, 8), (2, 1, 30, 9)], [(1, 2)])  # spots in the background
    cells = learn_data.tracklet_cells(xml, lambda t: lab[t], (1.0, 1.0), 2)
    assert cells.cells["label"].tolist() == [0, 0]
    crops = learn_data.parse_crops([{"frames": [0, 1]}], 2, 2)
    with pytest.raises(InputError, match="none of the annotated cells"):
        learn_data.examples(nodes, cells, crops, TRACKING, 0, ndim=2)
    _mamut(xml, [(1, 0, 8, 8)], [(1, 7)])
    with pytest.raises(InputError, match="names a spot that is not in the file"):
        learn_data.tracklet_cells(xml, lambda t: lab[t], (1.0, 1.0), 2)


def test_unreadable_tracklets_are_an_error(tmp_path):
    lab, _ = _labels_and_nodes()
    bad = tmp_path / "broken.xml"
    bad.write_text("<TrackMate><Model><AllSpots>")
    with pytest.raises(InputError, match="cannot read the MaMuT/TrackMate XML"):
        learn_data.tracklet_cells(bad, lambda t: lab[t], (1.0, 1.0), 2)
    notgeff = tmp_path / "graph.zarr"
    notgeff.mkdir()
    with pytest.raises(InputError, match="cannot read the GEFF graph"):
        learn_data.tracklet_cells(notgeff, lambda t: lab[t], (1.0, 1.0), 2)


def test_training_data_without_division_ties_the_division_weight(tmp_path, caplog):
    """Documented fall-back: with no division to learn from, w_division = w_detection (the default ratio)."""
    lab, nodes = _labels_and_nodes()
    xml = tmp_path / "t.xml"
    _mamut(xml, [(1, 0, 8, 8), (2, 1, 8, 9), (3, 0, 8, 28), (4, 1, 8, 29)], [(1, 2), (3, 4)])
    cells = learn_data.tracklet_cells(xml, lambda t: lab[t], (1.0, 1.0), 2)
    exs, info = learn_data.examples(nodes, cells, learn_data.parse_crops([{"frames": [0, 1]}], 2, 2), TRACKING, 0,
                                    ndim=2)
    assert info["n_cells_held"] == 4 and info["crops"][0]["n_objects"] == 6
    tied = learn_data.division_fallback(exs, cells.source)
    assert tied == {2: (1, 1.0), 5: (3, 0.02)} and "holds no division" in caplog.text and "holds no gap link" in caplog.text
    result = learn.learn_weights(exs, initial=learn.DEFAULT_WEIGHTS, solver="highs", tied=tied)
    w = result["weights"]
    assert w[2] == pytest.approx(w[1]) and result["tied"] == {"2": [1, 1.0], "5": [3, 0.02]}
    assert w[5] == pytest.approx(0.02 * w[3])
    assert all(h["weights"][2] == pytest.approx(h["weights"][1]) for h in result["history"])


@pytest.mark.parametrize("crop, words", [
    ([{"frames": [0]}], "must be [first, last]"),
    ([{"frames": [1, 0]}], "not within the movie"),
    ([{"frames": [0, 1], "box": [[0, 0], [10]]}], "2 coordinates each"),
    ([{"frames": [0, 1], "box": [[5, 5], [1, 1]]}], "lower corner must be below"),
])
def test_bad_crops(crop, words):
    with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("]", r"\]")):
        learn_data.parse_crops(crop, 2, 2)


def test_geff_tracklets_read(tmp_path):
    """A GEFF graph (written with geff's own writer) gives the same cells as the equivalent MaMuT XML."""
    import geff
    import networkx as nx

    lab, nodes = _labels_and_nodes()
    g = nx.DiGraph()
    for i, t, y, x in [(1, 0, 8.0, 8.0), (2, 1, 8.0, 9.0)]:
        g.add_node(i, t=t, y=y, x=x)
    g.add_edge(1, 2)
    store = tmp_path / "tracklets.zarr"
    geff.write(g, str(store), axis_names=["t", "y", "x"], axis_types=["time", "space", "space"],
               axis_units=["frame", "pixel", "pixel"])
    cells = learn_data.tracklet_cells(store, lambda t: lab[t], (2.0, 2.0), 2)  # pixel units: voxel size unused
    assert cells.cells["label"].tolist() == [1, 1] and cells.links.values.tolist() == [[1, 2]]


def test_corrupt_weights_file_is_an_error(tmp_path):
    path = tmp_path / "weights.json"
    path.write_text('{"weights": [1, 2, 3]}')
    with pytest.raises(InputError, match="6 non-negative numbers"):
        learn.tracking_config({"weights": "learned"}, [path])
    path.write_text("{not json")
    with pytest.raises(InputError, match="not a tracking weights file"):
        learn.read_weights(path)
    assert learn.tracking_config({"weights": [1, 2, 3, 4, 5]}, []) == {"weights": [1, 2, 3, 4, 5]}
