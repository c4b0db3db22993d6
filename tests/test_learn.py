"""Structured learning of the tracking weights: ground truth → target, the SSVM, recovery of known weights."""

import numpy as np
import pandas as pd
import pytest

import tifffile

from lineageflow import ilp, learn, learn_data

from helpers import random_tracking

W_TRUE = (4.0, 10.0, 6.0, 30.0, 20.0)


def _example(seed: int, weights=W_TRUE) -> learn.Example:
    nodes, edges = random_tracking(seed, n_frames=6)
    model = ilp.build(nodes, edges, ilp.TrackingParams(weights=weights), names=False)
    sol = ilp.solve(model, "highs", gap=0.0)
    target, info = learn.representable(model, sol.nodes, sol.edges, solver="highs")
    assert info["target_differs_from_gt"] == 0  # a model solution is representable as it is
    return learn.Example(model, target, info)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recovers_weights_that_reproduce_the_ground_truth(seed):
    """GT produced by known costs: from ilastik's defaults, learning finds weights under which the MILP's optimum
    is the GT assignment (the defaults do not reproduce it)."""
    ex = _example(seed)
    default = (10.0, 10.0, 10.0, 500.0, 500.0)
    assert learn.reproduces(ex, default, "highs") > 0
    result = learn.learn_weights([ex], solver="highs")
    assert result["stopped"] == "converged"
    assert learn.reproduces(ex, result["weights"], "highs") == 0
    w = np.asarray(result["weights"])
    assert (w >= 0).all() and w[1] > 0
    hist = result["history"]
    assert hist[result["iteration"]]["primal"] == min(h["primal"] for h in hist)
    assert result["solver"] == "highs" and result["n_examples"] == 1


def test_learning_is_deterministic():
    a = learn.learn_weights([_example(1)], solver="highs")
    b = learn.learn_weights([_example(1)], solver="highs")
    assert a["weights"] == b["weights"] and [h["hinge"] for h in a["history"]] == [h["hinge"] for h in b["history"]]


def test_several_examples_are_learnt_together():
    exs = [_example(0), _example(3)]
    result = learn.learn_weights(exs, solver="highs")
    assert result["n_examples"] == 2
    assert sum(learn.reproduces(ex, result["weights"], "highs") for ex in exs) == 0


def test_hamming_is_linear_and_zero_at_the_target():
    ex = _example(0)
    const, coef = learn.hamming(ex.model.cols, ex.target)
    assert const + coef @ ex.target == 0
    other = ilp.solve(ilp.build(ex.model.nodes, ex.model.edges, names=False), "highs")  # the defaults' solution
    x = ilp.encode(ex.model, other.nodes, other.edges)
    got = ex.model.cols.decode(x)
    want = ex.model.cols.decode(ex.target)
    n_diff = ((got["count"] != want["count"]).sum() + ((got["flow"] > 0) != (want["flow"] > 0)).sum()
              + (got["divide"] != want["divide"]).sum())
    assert const + coef @ x == n_diff > 0


def _ctc_with_division(tmp_path):
    """Three frames: GT track 1 divides after frame 1 into 2 and 3; ours: frame 0 label 5 holds 1, frame 1 label 6
    holds 1, frame 2 labels 7 and 8 hold the daughters; a false object 9 in frame 2; GT track 4 is held by 10 and
    11 but missed in frame 1 (no object of ours there)."""
    gt = np.zeros((3, 20, 40), np.uint16)
    ours = np.zeros_like(gt)
    gt[0, 2:6, 2:6] = 1
    gt[1, 2:6, 3:7] = 1
    gt[2, 2:6, 2:6] = 2
    gt[2, 10:14, 2:6] = 3
    for t in range(3):
        gt[t, 2:6, 30:34] = 4
    ours[0][gt[0] == 1] = 5
    ours[1][gt[1] == 1] = 6
    ours[2][gt[2] == 2] = 7
    ours[2][gt[2] == 3] = 8
    ours[2, 16:19, 16:19] = 9
    ours[0][gt[0] == 4] = 10
    ours[2][gt[2] == 4] = 11
    tra = tmp_path / "01_GT" / "TRA"
    tra.mkdir(parents=True)
    for t in range(3):
        tifffile.imwrite(tra / f"man_track{t:03d}.tif", gt[t])
    (tra / "man_track.txt").write_text("1 0 1 0\n2 2 2 1\n3 2 2 1\n4 0 2 0\n")
    return tra.parent, ours


def test_gt_assignment_from_ctc_coverage(tmp_path):
    gt_dir, ours = _ctc_with_division(tmp_path)
    cells = learn_data.ctc_cells(gt_dir, lambda t: ours[t], range(3))
    nodes, edges, info = learn_data.assignment(cells)
    assert nodes.set_index(["frame", "label"])["count"].to_dict() == {(0, 5): 1, (0, 10): 1, (1, 6): 1, (2, 7): 1,
                                                                        (2, 8): 1, (2, 11): 1}
    assert nodes.set_index(["frame", "label"])["divide"].to_dict()[(1, 6)] == 1 and nodes["divide"].sum() == 1
    # track 4, missed by our objects in frame 1, is a gap link 0 -> 2
    assert set(map(tuple, edges[["frame", "label_src", "label_dst", "frame_dst"]].to_numpy().tolist())) == {
        (0, 5, 6, 1), (1, 6, 7, 2), (1, 6, 8, 2), (0, 10, 11, 2)}
    assert info["n_cells"] == 7 and info["n_cells_missed"] == 1 and info["n_divisions"] == 1
    assert info["n_links_skipping_frames"] == 1


def test_representable_counts_what_the_model_cannot_hold(tmp_path):
    gt_dir, ours = _ctc_with_division(tmp_path)
    gt_nodes, gt_edges, _ = learn_data.assignment(learn_data.ctc_cells(gt_dir, lambda t: ours[t], range(3)))
    labels = [(0, 5), (0, 10), (1, 6), (2, 7), (2, 8), (2, 9), (2, 11)]
    nodes = pd.DataFrame({"frame": [t for t, _ in labels], "label": [lab for _, lab in labels],
                          "p_count_0": 0.1, "p_count_1": 0.8, "p_count_2": 0.1,
                          "p_division": [0.0, 0.0, 0.7, 0.0, 0.0, 0.0, 0.0], "border_distance": 50.0})
    # the link 6 -> 8 is not a candidate: the division cannot be represented, one daughter appears instead
    edges = pd.DataFrame({"frame": [0, 1, 1], "label_src": [5, 6, 6], "label_dst": [6, 7, 9], "distance": 3.0})
    model = ilp.build(nodes, edges, free_appearance_frames=[], free_disappearance_frames=[])
    x, info = learn.representable(model, gt_nodes, gt_edges, solver="highs")
    assert info["gt_links_not_candidates"] == 2  # 6 -> 8, and the gap link 10 -> 11 (no gap candidates given)
    got = model.cols.decode(x)
    assert got["divide"].sum() == 0 and info["target_divisions"] == 0
    assert list(got["count"]) == [1, 1, 1, 1, 1, 0, 1]  # the false object 9 holds no cell
    assert model.milp.max_violation(x) <= 1e-9


def test_ctc_folder_as_tracklets(tmp_path):
    """A CTC folder given as tracklets (tracking.learn.tracklets) reads as ground truth of the frames it covers."""
    gt_dir, ours = _ctc_with_division(tmp_path)
    (gt_dir / "TRA" / "man_track002.tif").unlink()  # covers frames 0-1 only
    cells = learn_data.tracklet_cells(gt_dir, lambda t: ours[t], (1.0, 1.0), 3)
    assert cells.source.startswith("CTC ground truth") and sorted(cells.cells["frame"].unique()) == [0, 1]
    nodes, edges, _ = learn_data.assignment(cells)
    assert set(map(tuple, edges[["frame", "label_src", "label_dst"]].to_numpy().tolist())) == {(0, 5, 6)}
