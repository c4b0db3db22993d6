import numpy as np
import pandas as pd
import pytest

from lineageflow.candidates import candidate_links
from lineageflow.errors import ConfigError


def table(rows):
    return pd.DataFrame(rows, columns=["frame", "label", "pos_z", "pos_y", "pos_x"])


def test_knn_forward_and_backward_within_distance():
    t = table([(0, 1, 0, 0, 0), (0, 2, 0, 0, 10),
               (1, 1, 0, 0, 1), (1, 2, 0, 0, 11), (1, 3, 0, 0, 100)])
    e = candidate_links(t, k=1, max_distance=20)
    assert list(map(tuple, e[["frame", "label_src", "label_dst"]].to_numpy())) == [(0, 1, 1), (0, 2, 2)]
    assert np.allclose(e["distance"], [1, 1])
    e2 = candidate_links(t, k=2, max_distance=200)
    # object 3 in frame 1 has no forward-nearest source, but its own backward neighbours make candidates
    assert {(s, d) for s, d in e2[["label_src", "label_dst"]].to_numpy()} >= {(1, 1), (1, 2), (2, 2), (2, 1), (2, 3), (1, 3)}


def test_voxel_size_is_honoured_through_physical_positions():
    # in pixels the z neighbour is nearer, in physical units (z voxel 5) the x neighbour is
    t = table([(0, 1, 0, 0, 0), (1, 1, 5.0, 0, 0), (1, 2, 0, 0, 3)])
    e = candidate_links(t, k=1, max_distance=4)
    assert e[["label_src", "label_dst"]].to_numpy().tolist() == [[1, 2]]


def test_no_links_across_missing_frames_and_empty_input():
    t = table([(0, 1, 0, 0, 0), (2, 1, 0, 0, 0)])
    e = candidate_links(t)
    assert e.empty and list(e.columns) == ["frame", "label_src", "label_dst", "distance", "frame_dst"]


def test_gap_links_reach_max_gap_frames_ahead():
    # a cell in frames 0, 1 and 3 (frame 2 lost): max_gap 2 links 1 -> 3, not 0 -> 3
    t = table([(0, 1, 0, 0, 0), (1, 1, 0, 1, 2), (3, 1, 0, 0, 5), (3, 2, 0, 0, 200)])
    e = candidate_links(t, k=1, max_distance=10, max_gap=2)
    assert e[["frame", "frame_dst", "label_src", "label_dst"]].values.tolist() == [[0, 1, 1, 1], [1, 3, 1, 1]]
    # a link over g frames may be g · max_distance long; max_gap 3 also links 0 -> 3
    e = candidate_links(t, k=1, max_distance=2.5, max_gap=3)
    assert e[["frame", "frame_dst", "label_src", "label_dst"]].values.tolist() == [[0, 1, 1, 1], [0, 3, 1, 1], [1, 3, 1, 1]]
    np.testing.assert_allclose(e["distance"], [np.sqrt(5), 5, np.sqrt(10)])
    with pytest.raises(ConfigError, match="tracking.max_gap"):
        candidate_links(t, max_gap=0)


def test_bad_parameters():
    with pytest.raises(ConfigError, match="tracking.k_neighbours"):
        candidate_links(table([]), k=0)
    with pytest.raises(ConfigError, match="tracking.max_distance"):
        candidate_links(table([]), max_distance=0)


def test_no_gap_link_over_an_object_on_its_path():
    """A gap link only bridges frames where the cell was not found: an object of the skipped frame lying on the
    path (within its radius) removes it; one beside the path does not."""
    rows = [(0, 1, 0, 0, 0), (1, 1, 0, 1, 2), (2, 1, 0, 0, 4),  # one cell found in every frame (1 off the path)
            (0, 2, 0, 50, 0), (1, 2, 0, 58, 2), (2, 2, 0, 50, 4)]  # another, frame 1's object 8 off its path
    t = table(rows).assign(volume=np.pi * 3.0**2, spatial_ndim=2)  # radius 3
    e = candidate_links(t, k=1, max_distance=5, max_gap=2)
    gaps = e[e["frame_dst"] == e["frame"] + 2][["label_src", "label_dst"]].values.tolist()
    assert gaps == [[2, 2]]
    # without sizes (radius 0) only an object exactly on the path blocks
    e = candidate_links(table(rows), k=1, max_distance=5, max_gap=2)
    assert e[e["frame_dst"] == e["frame"] + 2][["label_src", "label_dst"]].values.tolist() == [[1, 1], [2, 2]]
