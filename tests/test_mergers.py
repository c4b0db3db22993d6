"""Tests of lineageflow.mergers (splitting count >= 2 objects after tracking and relinking them)."""

import numpy as np
import pandas as pd
import pytest

from lineageflow.features import object_features
from lineageflow.mergers import MergerResult, resolve_mergers, split_points


def _ball(shape, centre, radius, voxel_size):
    """Mask of a ball of physical ``radius`` around physical ``centre``."""
    grid = np.indices(shape, dtype=float)
    d2 = sum((g * v - c) ** 2 for g, c, v in zip(grid, centre, voxel_size))
    return d2 <= radius**2


def _scenario(shape, voxel_size, centres, groups, radius):
    """Label images, nodes and edges of cells that merge and separate.

    ``centres[t][c]`` physical centre of cell c at frame t; ``groups[t]`` list of cell-index lists, one per
    object (label = position + 1), so a group of k cells is a merger of count k. Edges follow the cells.
    """
    images, tables, edges = [], [], []
    for t, frame_groups in enumerate(groups):
        img = np.zeros(shape, np.uint16)
        for lab, group in enumerate(frame_groups, start=1):
            mask = np.zeros(shape, bool)
            for c in group:
                mask |= _ball(shape, centres[t][c], radius, voxel_size)
            assert not img[mask].any(), "objects of one frame must not overlap"
            img[mask] = lab
        images.append(img)
        tab = object_features(img, img.astype(np.float32), frame=t, voxel_size=voxel_size)
        tab.insert(2, "count", [len(g) for g in frame_groups])
        tables.append(tab)
    for t in range(len(groups) - 1):
        obj = lambda tt, c: next(i + 1 for i, g in enumerate(groups[tt]) if c in g)  # noqa: E731
        flow = {}
        for c in range(len(centres[t])):
            key = (obj(t, c), obj(t + 1, c))
            flow[key] = flow.get(key, 0) + 1
        edges += [(t, s, d, f) for (s, d), f in sorted(flow.items())]
    nodes = pd.concat(tables, ignore_index=True)
    edges = pd.DataFrame(edges, columns=["frame", "label_src", "label_dst", "flow"])
    return images, nodes, edges


def _check_lineage(res: MergerResult):
    """Valid lineage: count 1, unique objects, links t -> t+1 between existing objects, <= 1 in, <= 2 out."""
    n, e = res.nodes, res.edges
    assert (n["count"] == 1).all()
    assert not n.duplicated(["frame", "label"]).any()
    keys = set(zip(n["frame"], n["label"]))
    assert all((t, s) in keys for t, s in zip(e["frame"], e["label_src"]))
    assert all((t + 1, d) in keys for t, d in zip(e["frame"], e["label_dst"]))
    assert e.groupby(["frame", "label_dst"]).size().max() <= 1 if len(e) else True
    assert e.groupby(["frame", "label_src"]).size().max() <= 2 if len(e) else True


def _check_identities(res: MergerResult, centres):
    """Every object is one true cell (nearest centre), each cell once per frame, links never switch cells."""
    cell = {}
    for r in res.nodes.itertuples():
        pos = np.array([r.pos_z, r.pos_y, r.pos_x])
        true = np.array([np.pad(c, (3 - len(c), 0)) for c in centres[r.frame]], dtype=float)
        cell[(r.frame, r.label)] = int(np.argmin(np.linalg.norm(true - pos, axis=1)))
    for t in range(len(centres)):
        got = sorted(c for (tt, _), c in cell.items() if tt == t)
        assert got == list(range(len(centres[t]))), f"frame {t}: objects map to cells {got}"
    for r in res.edges.itertuples():
        assert cell[(r.frame, r.label_src)] == cell[(r.frame + 1, r.label_dst)], f"identity switch at {r}"
    # Every cell is one continuous track over all frames (no appearance inside the movie).
    assert len(res.edges) == sum(len(c) for c in centres[:-1])


def _check_pixels(res: MergerResult, images, nodes):
    """Split objects tile their merger exactly, with new labels, and their table rows match their pixels."""
    mergers = nodes[nodes["count"] >= 2]
    assert sorted(res.new_labels) == sorted(set(mergers["frame"]))
    for t, new in res.new_labels.items():
        old = images[t]
        assert new.shape == old.shape
        for m in mergers[mergers["frame"] == t].itertuples():
            mask = old == m.label
            parts = np.unique(new[mask])
            assert len(parts) == m.count and (parts > old.max()).all()
            assert not (new[~mask] > old.max()).any()  # parts lie inside the merger
            assert np.array_equal(np.isin(new, parts), mask)  # and cover it
            for lab in parts:
                row = res.nodes[(res.nodes["frame"] == t) & (res.nodes["label"] == lab)].iloc[0]
                idx = np.argwhere(new == lab)
                assert row["size"] == len(idx)
                centroid = np.pad(idx.mean(axis=0), (3 - old.ndim, 0))
                np.testing.assert_allclose(row[["centroid_z", "centroid_y", "centroid_x"]].to_numpy(float), centroid)
        untouched = ~np.isin(old, mergers.loc[mergers["frame"] == t, "label"])
        assert np.array_equal(new[untouched], old[untouched])


# Two cells (left A, right B) that touch in frames 2-4; in frames 5-6 the right cell has label 1.
_X_A = [12, 18, 27, 28, 27, 18, 12]
_X_B = [58, 52, 41, 40, 41, 52, 58]
_GROUPS_2 = [[[0], [1]], [[0], [1]], [[0, 1]], [[0, 1]], [[0, 1]], [[1], [0]], [[1], [0]]]


def _two_cells_2d():
    centres = [[(18.0, a), (22.0, b)] for a, b in zip(_X_A, _X_B)]
    return centres, *_scenario((40, 70), (1.0, 1.0), centres, _GROUPS_2, radius=7)


def test_two_cells_2d_split_and_relinked():
    centres, images, nodes, edges = _two_cells_2d()
    assert (edges.loc[edges["frame"].between(2, 3), "flow"] == 2).all()
    res = resolve_mergers(nodes, edges, lambda t: images[t], (1.0, 1.0))
    assert res.n_split == 3
    assert res.nodes.groupby("frame").size().tolist() == [2] * 7
    _check_lineage(res)
    _check_identities(res, centres)
    _check_pixels(res, images, nodes)
    assert "flow" in res.edges.columns and (res.edges["flow"] == 1).all()
    # The left cell stays left in every frame.
    for t in range(7):
        left_label = res.nodes[res.nodes["frame"] == t].sort_values("pos_x")["label"].iloc[0]
        track = [(0, int(res.nodes[(res.nodes["frame"] == 0)].sort_values("pos_x")["label"].iloc[0]))]
        for tt in range(t):
            nxt = res.edges[(res.edges["frame"] == tt) & (res.edges["label_src"] == track[-1][1])]
            track.append((tt + 1, int(nxt["label_dst"].iloc[0])))
        assert track[-1] == (t, left_label)
    # New rows keep the object-table dtypes; without raw_at their intensities are unknown.
    assert res.nodes["label"].dtype == np.int64 and res.nodes["size"].dtype == np.int64
    assert res.nodes.loc[res.nodes["frame"].between(2, 4), "intensity_mean"].isna().all()
    assert res.nodes.loc[~res.nodes["frame"].between(2, 4), "intensity_mean"].notna().all()
    assert any("split into labels" in line for line in res.log)


def test_two_cells_3d_anisotropic():
    vs = (2.0, 1.0, 1.0)
    centres = [[(10.0, 14.0, a), (12.0, 16.0, b)] for a, b in zip(_X_A, _X_B)]
    images, nodes, edges = _scenario((11, 30, 70), vs, centres, _GROUPS_2, radius=7)
    res = resolve_mergers(nodes, edges, lambda t: images[t], vs)
    assert res.n_split == 3
    assert res.nodes.groupby("frame").size().tolist() == [2] * 7
    _check_lineage(res)
    _check_identities(res, centres)
    _check_pixels(res, images, nodes)


def test_count_three_merger_then_partial_separation():
    # Frames 1-2: one object of 3 cells; frame 3: A alone and B+C merged; frame 4: all separate.
    xa, xb, xc = [10, 27, 27, 14, 8], [45, 40, 40, 46, 45], [80, 53, 54, 59, 82]
    centres = [[(20.0, a), (20.0, b), (21.0, c)] for a, b, c in zip(xa, xb, xc)]
    groups = [[[0], [1], [2]], [[0, 1, 2]], [[0, 1, 2]], [[0], [1, 2]], [[2], [0], [1]]]
    images, nodes, edges = _scenario((40, 95), (1.0, 1.0), centres, groups, radius=7)
    res = resolve_mergers(nodes, edges, lambda t: images[t], (1.0, 1.0))
    assert res.n_split == 3
    assert res.nodes.groupby("frame").size().tolist() == [3] * 5
    _check_lineage(res)
    _check_identities(res, centres)
    _check_pixels(res, images, nodes)


def test_merger_in_first_frame_unseeded():
    # No predecessors: k-means++ init; the parts start tracks and are matched to the separated cells.
    centres = [[(20.0, 28.0), (20.0, 41.0)], [(20.0, 20.0), (20.0, 50.0)], [(20.0, 14.0), (20.0, 56.0)]]
    groups = [[[0, 1]], [[1], [0]], [[0], [1]]]
    images, nodes, edges = _scenario((40, 70), (1.0, 1.0), centres, groups, radius=7)
    res = resolve_mergers(nodes, edges, lambda t: images[t], (1.0, 1.0))
    assert res.n_split == 1
    _check_lineage(res)
    _check_identities(res, centres)
    _check_pixels(res, images, nodes)
    assert any("k-means++" in line for line in res.log)


def test_too_small_or_missing_merger_kept_as_one():
    img0 = np.zeros((10, 20), np.uint8)
    img0[2:5, 2:5], img0[2:5, 12:15] = 1, 2
    img1 = np.zeros_like(img0)
    img1[4, 9] = 1  # one pixel, count 2
    img2 = img0.copy()
    images = [img0, img1, img2, np.zeros_like(img0)]  # frame 3: count-2 object absent from the image
    tabs = [object_features(im, im, frame=t, voxel_size=(1, 1)) for t, im in enumerate(images[:3])]
    nodes = pd.concat(tabs, ignore_index=True)
    nodes.insert(2, "count", [1, 1, 2, 1, 1])
    extra = nodes.iloc[[2]].assign(frame=3, label=5, count=2)
    nodes = pd.concat([nodes, extra], ignore_index=True)
    edges = pd.DataFrame(
        [(0, 1, 1, 1), (0, 2, 1, 1), (1, 1, 1, 1), (1, 1, 2, 1), (2, 1, 5, 1), (2, 2, 5, 1)],
        columns=["frame", "label_src", "label_dst", "flow"],
    )
    res = resolve_mergers(nodes, edges, lambda t: images[t], (1.0, 1.0))
    assert res.n_split == 0 and res.new_labels == {}
    _check_lineage(res)
    assert res.nodes.groupby("frame").size().tolist() == [2, 1, 2, 1]
    assert res.edges.groupby(["frame", "label_dst"]).size().max() == 1  # only one of two incoming cells kept
    assert sum("not split" in line for line in res.log) == 2
    assert any("absent from the label image" in line for line in res.log)
    assert any("not linked" in line for line in res.log)
    # The one-pixel merger passes one cell on (no fake division).
    assert len(res.edges[res.edges["frame"] == 1]) == 1


def test_deterministic_and_independent_of_row_order():
    centres, images, nodes, edges = _two_cells_2d()
    a = resolve_mergers(nodes, edges, lambda t: images[t], (1.0, 1.0), seed=3)
    b = resolve_mergers(nodes, edges, lambda t: images[t], (1.0, 1.0), seed=3)
    rng = np.random.default_rng(0)
    c = resolve_mergers(
        nodes.iloc[rng.permutation(len(nodes))], edges.iloc[rng.permutation(len(edges))],
        lambda t: images[t], (1.0, 1.0), seed=3,
    )  # fmt: skip
    for other in (b, c):
        pd.testing.assert_frame_equal(a.nodes, other.nodes)
        pd.testing.assert_frame_equal(a.edges, other.edges)
        assert a.new_labels.keys() == other.new_labels.keys()
        assert all(np.array_equal(a.new_labels[t], other.new_labels[t]) for t in a.new_labels)
        assert a.log == other.log and a.n_split == other.n_split


def test_no_merger_returns_inputs_unchanged():
    centres = [[(18.0, a), (22.0, b)] for a, b in zip(_X_A[:2], _X_B[:2])]
    images, nodes, edges = _scenario((40, 70), (1.0, 1.0), centres, _GROUPS_2[:2], radius=7)
    calls = []
    res = resolve_mergers(nodes, edges, lambda t: calls.append(t) or images[t], (1.0, 1.0))
    pd.testing.assert_frame_equal(res.nodes.drop(columns="merger_label"), nodes)
    assert res.nodes["merger_label"].dtype == np.int64 and (res.nodes["merger_label"] == 0).all()
    pd.testing.assert_frame_equal(res.edges, edges)
    assert res.new_labels == {} and res.n_split == 0 and res.log == [] and calls == []
    # Count-0 rows (false detections) are dropped.
    dropped = nodes.assign(count=[1, 1, 1, 0])
    res = resolve_mergers(dropped, edges[edges["label_dst"] != 2], lambda t: images[t], (1.0, 1.0))
    assert len(res.nodes) == 3


def test_events_intensity_and_label_images_only_for_merger_frames():
    centres, images, nodes, edges = _two_cells_2d()
    nodes = nodes.assign(appear=0, disappear=0, divide=0)
    raws = [im.astype(np.float32) * 10 + 1 for im in images]
    calls = []
    res = resolve_mergers(
        nodes, edges, lambda t: calls.append(t) or images[t], (1.0, 1.0), raw_at=lambda t: raws[t]
    )
    assert sorted(set(calls)) == [2, 3, 4]
    new = res.nodes[res.nodes["frame"].between(2, 4)]
    assert len(new) == 6 and (new["label"] >= 2).all()
    assert np.allclose(new["intensity_mean"], 11.0)  # raw = 10 * merger label + 1
    first, last = res.nodes["frame"] == 0, res.nodes["frame"] == 6
    assert (res.nodes.loc[first, "appear"] == 1).all() and (res.nodes.loc[~first, "appear"] == 0).all()
    assert (res.nodes.loc[last, "disappear"] == 1).all() and (res.nodes.loc[~last, "disappear"] == 0).all()
    assert (res.nodes["divide"] == 0).all() and res.nodes["appear"].dtype == np.int64


def test_new_labels_widen_the_image_dtype():
    centres, images, nodes, edges = _two_cells_2d()
    images = [im.astype(np.uint8) for im in images]
    for t in (2, 3, 4):
        images[t][images[t] == 1] = 255
    nodes.loc[nodes["frame"].between(2, 4), "label"] = 255
    edges.loc[edges["frame"].between(1, 3), "label_dst"] = 255
    edges.loc[edges["frame"].between(2, 4), "label_src"] = 255
    res = resolve_mergers(nodes, edges, lambda t: images[t], (1.0, 1.0))
    assert res.n_split == 3
    _check_lineage(res)
    _check_identities(res, centres)
    for t, img in res.new_labels.items():
        assert img.dtype == np.uint16 and sorted(np.unique(img)) == [0, 256, 257]


def test_split_points_degenerate_and_seeded():
    pts = np.array([[0.0, 0.0]])
    assert split_points(pts, 2).tolist() == [0]
    same = np.zeros((5, 2))
    assert split_points(same, 2).tolist() == [0] * 5
    line = np.column_stack([np.zeros(20), np.arange(20.0)])
    part = split_points(line, 2, seeds=np.array([[0.0, 15.0], [0.0, 3.0]]))
    assert part.tolist() == [0] * 10 + [1] * 10  # numbered by position, not by seed order


def test_bad_voxel_size():
    from lineageflow.errors import ConfigError

    centres, images, nodes, edges = _two_cells_2d()
    with pytest.raises(ConfigError):
        resolve_mergers(nodes, edges, lambda t: images[t], (1.0, 1.0, 1.0))


def test_division_into_a_merger_becomes_a_division():
    """A single cell sends flow 2 into one object holding both sisters: after splitting, the mother has two
    daughters (one link each), and each daughter continues to its own object."""
    vs = (1.0, 1.0)
    shape = (40, 60)
    mother = np.zeros(shape, np.uint16)
    mother[_ball(shape, (20, 30), 6, vs)] = 1
    sisters = np.zeros(shape, np.uint16)
    sisters[_ball(shape, (20, 24), 5, vs) | _ball(shape, (20, 35), 5, vs)] = 1
    apart = np.zeros(shape, np.uint16)
    apart[_ball(shape, (20, 20), 5, vs)] = 1
    apart[_ball(shape, (20, 40), 5, vs)] = 2
    images = [mother, sisters, apart]
    tables = []
    for t, (img, counts) in enumerate(zip(images, ([1], [2], [1, 1]))):
        tab = object_features(img, img.astype(np.float32), frame=t, voxel_size=vs)
        tab.insert(2, "count", counts)
        tables.append(tab)
    nodes = pd.concat(tables, ignore_index=True)
    edges = pd.DataFrame([(0, 1, 1, 2), (1, 1, 1, 1), (1, 1, 2, 1)], columns=["frame", "label_src", "label_dst", "flow"])
    res = resolve_mergers(nodes, edges, lambda t: images[t], vs)
    _check_lineage(res)
    out = res.edges
    assert len(out[out["frame"] == 0]) == 2  # the mother divides
    parts = res.nodes[res.nodes["frame"] == 1].set_index("label")
    for _, e in out[out["frame"] == 1].iterrows():  # the left sister goes left, the right one right
        child_x = tables[2].set_index("label").loc[e["label_dst"], "pos_x"]
        assert (parts.loc[e["label_src"], "pos_x"] < 30) == (child_x < 30)


def test_merger_label_names_the_merger_each_part_came_from():
    """merger_label: the label the merged object had in the input (ilastik's mergerLabelId), 0 elsewhere."""
    centres, images, nodes, edges = _two_cells_2d()
    res = resolve_mergers(nodes, edges, lambda t: images[t], (1.0, 1.0))
    n = res.nodes
    assert n["merger_label"].dtype == np.int64
    merged = nodes[nodes["count"] >= 2]
    parts = n[n["merger_label"] > 0]
    # two parts per merger frame (2-4), each naming that frame's merger label; nothing else carries one
    assert sorted(parts["frame"].tolist()) == [2, 2, 3, 3, 4, 4]
    for r in parts.itertuples():
        assert r.merger_label == merged.loc[merged["frame"] == r.frame, "label"].item()
        assert r.label not in set(merged.loc[merged["frame"] == r.frame, "label"])  # new labels
        assert (images[r.frame][res.new_labels[r.frame] == r.label] == r.merger_label).all()
    assert (n.loc[~n["frame"].between(2, 4), "merger_label"] == 0).all()
    # an existing column is kept, not overwritten, for objects that are not split
    again = resolve_mergers(nodes.assign(merger_label=7), edges, lambda t: images[t], (1.0, 1.0))
    assert (again.nodes.loc[~again.nodes["frame"].between(2, 4), "merger_label"] == 7).all()
    assert sorted(again.nodes.loc[again.nodes["frame"].between(2, 4), "merger_label"].unique()) == [1]


def test_gap_links_into_a_merger_seed_its_split():
    """Frame 1 lost: the two cells reach the merger of frame 2 over gap links 0 -> 2, which seed its split;
    the gap links come out with their frame_dst and each cell keeps its side."""
    centres, images, nodes, edges = _two_cells_2d()
    e0 = edges[edges["frame"] == 0].merge(edges[edges["frame"] == 1], left_on="label_dst", right_on="label_src")
    gap = pd.DataFrame({"frame": 0, "label_src": e0["label_src_x"], "label_dst": e0["label_dst_y"], "flow": 1,
                        "frame_dst": 2})
    rest = edges[edges["frame"] >= 2].assign(frame_dst=lambda e: e["frame"] + 1)
    res = resolve_mergers(nodes[nodes["frame"] != 1], pd.concat([gap, rest], ignore_index=True),
                          lambda t: images[t], (1.0, 1.0))
    assert res.nodes.groupby("frame").size().tolist() == [2] * 6
    g = res.edges[res.edges["frame_dst"] == 2]
    assert len(g) == 2 and (g["frame"] == 0).all() and (g["flow"] == 1).all()
    pos = res.nodes.set_index(["frame", "label"])["pos_x"]
    for r in g.itertuples():  # the left cell of frame 0 goes to the left part of the split merger
        left_src = pos.loc[0].idxmin() == r.label_src
        left_dst = pos.loc[2].idxmin() == r.label_dst
        assert left_src == left_dst
    n_in = res.edges.groupby(["frame_dst", "label_dst"]).size()
    assert n_in.max() == 1 and (res.nodes.loc[res.nodes["frame"] == 2, "merger_label"] > 0).all()
