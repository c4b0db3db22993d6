"""Flow fields (lineageflow.flow): estimation on generated frame pairs with known coherent motion, the grid, the
chunk files and their errors, and linking along the flow (candidates, division features)."""

import numpy as np
import pandas as pd
import pytest

from lineageflow import flow
from lineageflow.candidates import candidate_links
from lineageflow.classifiers import division_features
from lineageflow.errors import ConfigError, InputError

RADIUS = 6.0


def _blobs(points, shape, voxel_size, rng):
    """Gaussian nuclei of RADIUS (physical) at physical (z, y, x) points, with noise."""
    idx = np.indices(shape, dtype=np.float32)
    phys = [idx[i] * voxel_size[i] for i in range(len(shape))]
    img = np.zeros(shape, np.float32)
    for p in points:
        d2 = sum((phys[i] - p[i]) ** 2 for i in range(len(shape)))
        img += np.exp(-d2 / (2 * RADIUS**2))
    return img + rng.normal(0, 0.05, shape).astype(np.float32)


def _motion(kind, pts, step, centre):
    """True displacement (n, 3) of ``kind`` with the largest one = ``step`` (physical)."""
    d = pts - centre
    if kind == "drift":
        return np.tile([0.0, 0.6 * step, 0.8 * step], (len(pts), 1))
    if kind == "rotation":
        w = step / np.linalg.norm(d[:, 1:], axis=1).max()
        c, s = np.cos(w), np.sin(w)
        out = np.zeros_like(pts)
        out[:, 1] = c * d[:, 1] - s * d[:, 2] - d[:, 1]
        out[:, 2] = s * d[:, 1] + c * d[:, 2] - d[:, 2]
        return out
    if kind == "shear":
        return np.stack([np.zeros(len(pts)), np.zeros(len(pts)), step * d[:, 1] / np.abs(d[:, 1]).max()], axis=1)
    return np.zeros_like(pts)


def _pair_2d(kind, diameters, seed=0, n=60, size=400):
    rng = np.random.default_rng(seed)
    pts = np.c_[np.zeros(n), rng.uniform(40, size - 40, (n, 2))]
    u = _motion(kind, pts, diameters * 2 * RADIUS, np.array([0.0, size / 2, size / 2]))
    a = _blobs(pts[:, 1:], (size, size), (1.0, 1.0), rng)
    b = _blobs(pts[:, 1:] + u[:, 1:], (size, size), (1.0, 1.0), rng)
    return a, b, pts, u, flow.Grid.of((size, size), (1.0, 1.0), 4)


@pytest.mark.parametrize("kind", ["drift", "rotation", "shear"])
@pytest.mark.parametrize("diameters", [1, 3])
def test_estimate_flow_2d_finds_coherent_motion(kind, diameters):
    a, b, pts, u, grid = _pair_2d(kind, diameters)
    field = flow.estimate_flow(a, b, grid)
    assert field.shape == (3, 1, 100, 100) and field.dtype == np.float32
    err = np.linalg.norm(flow.sample(field, grid, pts) - u, axis=1)
    # the object is found at its advected position to well within its radius
    assert np.mean(err < RADIUS / 2) >= 0.95, (kind, diameters, np.percentile(err, [50, 90, 100]))
    assert np.abs(field[0]).max() == 0.0  # 2D: no z displacement


def test_estimate_flow_still_frames_give_small_flow():
    a, b, pts, u, grid = _pair_2d("none", 0)
    field = flow.estimate_flow(a, b, grid)
    assert np.abs(flow.sample(field, grid, pts)).max() < 1.0


def test_estimate_flow_3d_short_anisotropic_z():
    """5 slices of 2 µm, 0.5 µm pixels: z keeps its 5 slices, the drift is found in physical units."""
    rng = np.random.default_rng(1)
    vs, shape = (2.0, 0.5, 0.5), (5, 160, 160)
    n = 12  # sparse, as nuclei are
    pts = np.c_[rng.uniform(3, 7, n), rng.uniform(12, 58, (n, 2))]  # in view in both frames
    u = np.tile([0.0, 3 * 2 * RADIUS * 0.6 / 2, 3 * 2 * RADIUS * 0.8 / 2], (n, 1))  # 1.5 diameters
    a, b = _blobs(pts, shape, vs, rng), _blobs(pts + u, shape, vs, rng)
    grid = flow.Grid.of(shape, vs, 4)
    assert grid.factors == (1, 4, 4) and grid.shape == (5, 40, 40)
    field = flow.estimate_flow(a, b, grid)
    err = np.linalg.norm(flow.sample(field, grid, pts) - u, axis=1)
    assert np.mean(err < RADIUS / 2) >= 0.9, np.percentile(err, [50, 90, 100])


def _shear_3d_under_uneven_illumination(seed=0, n=60, size=320):
    """8 slices of 2 µm; shear of 3 diameters at the y borders; a bright, uneven, unmoving illumination."""
    rng = np.random.default_rng(seed)
    shape, vs = (8, size, size), (2.0, 1.0, 1.0)
    pts = np.c_[rng.uniform(4, 12, n), rng.uniform(20, size - 20, (n, 2))]
    u = _motion("shear", pts, 3 * 2 * RADIUS, np.array([8.0, size / 2, size / 2]))
    yy, xx = np.mgrid[:size, :size] / size
    light = (1.5 + yy - 0.8 * xx + 0.3 * np.cos(6 * xx + 2 * yy)).astype(np.float32)
    a, b = _blobs(pts, shape, vs, rng) + light, _blobs(pts + u, shape, vs, rng) + light
    return a, b, pts, u, flow.Grid.of(shape, vs, 4)


def test_estimate_flow_removes_uneven_illumination():
    """Illumination stays where it is while the cells move: left in, it holds the match at no motion (the
    affine shear fit and the tiles both lock onto it)."""
    a, b, pts, u, grid = _shear_3d_under_uneven_illumination()
    for sigma, floor in ((32.0, 0.95), (0.0, None)):
        err = np.linalg.norm(flow.sample(flow.estimate_flow(a, b, grid, background_sigma=sigma), grid, pts) - u, axis=1)
        if floor is not None:
            assert np.mean(err < RADIUS / 2) >= floor, np.percentile(err, [50, 90, 100])
        else:  # the same pair without the removal: most objects are missed
            assert np.mean(err < RADIUS / 2) < 0.5, np.percentile(err, [50, 90, 100])


def test_grid_factors_keep_short_z():
    assert flow.grid_factors((2.0, 0.5, 0.5), 3, 4) == (1, 4, 4)
    assert flow.grid_factors((0.5, 0.5, 0.5), 3, 4) == (4, 4, 4)
    assert flow.grid_factors((1.0, 0.5, 0.5), 3, 4) == (2, 4, 4)
    assert flow.grid_factors((1, 1), 2, 3) == (1, 3, 3)
    grid = flow.Grid.of((10, 9), (0.5, 0.5), 4)
    assert grid.shape == (1, 3, 3)
    # grid point 0 sits at the centre of its block: pixel 1.5 → 0.75 µm
    assert np.allclose(grid.to_grid([[0.0, 0.75, 0.75 + 2.0]]), [[0.0, 0.0, 1.0]])


def test_sample_and_advect_uniform_field():
    grid = flow.Grid.of((40, 40), (1.0, 1.0), 4)
    field = np.zeros((3, *grid.shape), np.float32)
    field[1], field[2] = 2.0, -1.0
    pos = np.array([[0.0, 10.0, 10.0], [0.0, 30.0, 5.0]])
    assert np.allclose(flow.sample(field, grid, pos), [[0, 2, -1], [0, 2, -1]])
    assert np.allclose(flow.advect(field, grid, pos, steps=3), pos + [0, 6, -3])
    assert flow.sample(field, grid, np.zeros((0, 3))).shape == (0, 3)


def test_flow_chunk_roundtrip_and_object_flow(tmp_path):
    grid = flow.Grid.of((40, 48), (0.5, 0.5), 4)
    fields = np.zeros((2, 3, *grid.shape), np.float32)
    fields[0, 2] = 1.5
    fields[1, 1] = -2.0
    path = tmp_path / "flow.h5"
    flow.write_flow_chunk(path, fields, grid, t0=10, n_frames=12)
    back, g, t0 = flow.read_flow_chunk(path, spatial_shape=(40, 48))
    assert t0 == 10 and g.shape == grid.shape and g.factors == grid.factors and np.array_equal(back, fields)
    table = pd.DataFrame({"frame": [10, 11, 12], "label": [1, 1, 1], "pos_z": 0.0, "pos_y": [5.0, 5, 5],
                          "pos_x": [5.0, 5, 5]})
    assert np.allclose(flow.object_flow(table, back, g, t0), [[0, 0, 1.5], [0, -2, 0], [0, 0, 0]])
    rows = flow.magnitude_summary(back, t0)
    assert rows == [{"frame": 10, "mean_displacement": 1.5, "max_displacement": 1.5},
                    {"frame": 11, "mean_displacement": 2.0, "max_displacement": 2.0}]


def test_flow_chunk_errors(tmp_path):
    grid = flow.Grid.of((40, 48), (0.5, 0.5), 4)
    fields = np.zeros((2, 3, *grid.shape), np.float32)
    path = tmp_path / "flow.h5"
    flow.write_flow_chunk(path, fields, grid, t0=0, n_frames=3)
    with pytest.raises(InputError, match=r"flow\.h5: flow grid .* does not match the movie's frames \(64, 48\)"):
        flow.read_flow_chunk(path, spatial_shape=(64, 48))
    fields[1, 2, 0, 3, 4] = np.nan
    flow.write_flow_chunk(path, fields, grid, t0=5, n_frames=8)
    with pytest.raises(InputError, match=r"1 NaN or infinite flow value\(s\), first in the pair of frames 6 → 7"):
        flow.read_flow_chunk(path)
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="junk.h5: not a lineageflow flow chunk"):
        flow.read_flow_chunk(tmp_path / "junk.h5")


def test_config_errors():
    with pytest.raises(ConfigError, match=r"'flow.enabled' is true but the movie has 1 frame"):
        flow.check_movie(1)
    flow.check_movie(2)
    with pytest.raises(ConfigError, match="flow.downscale"):
        flow.FlowConfig.from_config({"downscale": 0})
    with pytest.raises(ConfigError, match="unknown key"):
        flow.FlowConfig.from_config({"scale": 2})
    for bad in (-1, "wide", True, float("inf")):
        with pytest.raises(ConfigError, match="flow.background_sigma"):
            flow.FlowConfig.from_config({"background_sigma": bad})
    assert flow.FlowConfig.from_config({"background_sigma": 0}).background_sigma == 0
    assert flow.FlowConfig.from_config({"enabled": True}).downscale == 4


def _two_frames(flow_xy=None):
    """Frame 0: cells on a row 10 µm apart; frame 1: the same cells moved 25 µm in x (2.5 spacings)."""
    x = np.arange(6) * 10.0
    rows = [{"frame": 0, "label": i + 1, "pos_z": 0.0, "pos_y": 0.0, "pos_x": v} for i, v in enumerate(x)]
    rows += [{"frame": 1, "label": i + 1, "pos_z": 0.0, "pos_y": 0.0, "pos_x": v + 25.0} for i, v in enumerate(x)]
    table = pd.DataFrame(rows)
    if flow_xy is not None:
        table[["flow_z", "flow_y", "flow_x"]] = [[0.0, 0.0, flow_xy if f == 0 else 0.0] for f in table["frame"]]
    return table


def _true_partner_rank(edges):
    """Per source, is the true partner (same label) the nearest candidate?"""
    best = edges.sort_values("distance").groupby("label_src").head(1)
    return (best["label_src"] == best["label_dst"]).mean()


def test_candidates_follow_the_flow():
    without = candidate_links(_two_frames(), k=2, max_distance=40.0)
    with_flow = candidate_links(_two_frames(24.0), k=2, max_distance=40.0)
    assert _true_partner_rank(without) < 0.5  # a nearer wrong cell wins without flow
    assert _true_partner_rank(with_flow) == 1.0
    true = with_flow[with_flow.label_src == with_flow.label_dst]
    assert np.allclose(true["distance"], 1.0)  # measured from the advected position: what the transition pays


def test_division_features_compare_children_with_the_advected_parent():
    parent = pd.DataFrame({"frame": [0], "label": [1], "pos_z": [0.0], "pos_y": [0.0], "pos_x": [0.0], "size": [100.0],
                           "intensity_mean": [1.0], "elongation": [1.0], "radius_0": [5.0]})
    kids = pd.DataFrame({"frame": [1, 1], "label": [1, 2], "pos_z": [0.0, 0.0], "pos_y": [-4.0, 4.0],
                         "pos_x": [30.0, 30.0], "size": [50.0, 50.0], "intensity_mean": [1.0, 1.0],
                         "elongation": [1.0, 1.0], "radius_0": [4.0, 4.0]})
    far = division_features(parent, kids, max_distance=20.0)
    assert far["n_candidates"].iloc[0] == 0
    moved = division_features(parent.assign(flow_z=0.0, flow_y=0.0, flow_x=30.0), kids, max_distance=20.0)
    assert moved["n_candidates"].iloc[0] == 2
    assert np.allclose(moved[["child_distance_0", "child_distance_1"]].iloc[0], 4.0)
    assert np.isclose(moved["children_angle"].iloc[0], 180.0)
