"""Tests of the synthetic demo's coherent tissue motion (lineageflow.synthetic_motion, SyntheticConfig.motion)."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi

from lineageflow.config import load_schema, validate_config
from lineageflow.errors import ConfigError
from lineageflow.synthetic import SyntheticConfig, generate, main
from lineageflow.synthetic_motion import FieldMotion, motion_displacement, simulate

ROOT = Path(__file__).resolve().parents[1]
RADIUS = 5.0
CELLS = dict(n_frames=12, n_cells=9, radius=RADIUS)


def _digest(out: Path) -> str:
    """Pixels of every frame and the track table (independent of TIFF encoding)."""
    h = hashlib.sha256()
    for path in sorted(out.rglob("*.tif")):
        h.update(str(path.relative_to(out)).encode())
        h.update(tifffile.imread(path).tobytes())
    h.update((out / "01_GT" / "TRA" / "man_track.txt").read_bytes())
    return h.hexdigest()


def _check_gt(out: Path, n_frames: int) -> np.ndarray:
    """The written CTC ground truth is valid: traccuracy's checks, labels = tracks alive, whole masks, parents."""
    from traccuracy.loaders import load_ctc_data

    tra = out / "01_GT" / "TRA"
    graph = load_ctc_data(str(tra), str(tra / "man_track.txt"), run_checks=True)
    lines = np.loadtxt(tra / "man_track.txt", dtype=np.int64, ndmin=2)
    assert graph.graph.number_of_nodes() == int((lines[:, 2] - lines[:, 1] + 1).sum())
    assert len(set(lines[:, 0])) == len(lines)
    for t in range(n_frames):
        labels = tifffile.imread(tra / f"man_track{t:03d}.tif")
        np.testing.assert_array_equal(labels, tifffile.imread(out / "01_GT" / "SEG" / f"man_seg{t:03d}.tif"))
        alive = {int(l) for l, b, e, _ in lines if b <= t <= e}
        assert set(np.unique(labels).tolist()) - {0} == alive, t
        for i, sl in enumerate(ndi.find_objects(labels), start=1):
            if sl is not None:
                assert ndi.label(labels[sl] == i)[1] == 1, f"label {i} is split at t={t}"
    for _, b, _, p in lines:
        if p:
            assert b == lines[lines[:, 0] == p][0, 2] + 1
    return lines


def _steps(out: Path, cfg: SyntheticConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per track and frame pair: measured centroid displacement and the true motion field at the first centroid
    (physical, (n, ndim)); nuclei cut by the lateral border are left out (their centroid moves with the cut)."""
    vs = np.asarray(cfg.spacing)
    measured, true = [], []
    previous: dict[int, np.ndarray] = {}
    for t in range(cfg.n_frames):
        labels = tifffile.imread(out / "01_GT" / "TRA" / f"man_track{t:03d}.tif")
        cut = set(np.unique(np.concatenate([np.take(labels, k, axis=a).ravel()
                                            for a in (-2, -1) for k in (0, -1)])).tolist())
        ids = [int(i) for i in np.unique(labels) if i and i not in cut]
        centres = {i: np.array(c) * vs for i, c in zip(ids, ndi.center_of_mass(labels > 0, labels, ids))}
        for i, c in centres.items():
            if i in previous:
                measured.append(c - previous[i])
                true.append(motion_displacement(cfg, t - 1, previous[i][None])[0])
        previous = centres
    return np.array(measured), np.array(true)


CASES = [
    (2, "drift", 1.0, dict(shape=(96, 96))),
    (2, "drift", 3.0, dict(shape=(96, 96))),
    (2, "rotation", 2.0, dict(shape=(96, 96))),
    (2, "shear", 2.0, dict(shape=(96, 96), voxel_size=(1.0, 1.0))),
    (3, "rotation", 1.5, dict(shape=(8, 72, 72), voxel_size=(2.0, 1.0, 1.0))),
    (3, "drift", 2.0, dict(shape=(8, 64, 64), voxel_size=(2.5, 1.0, 1.0))),
]


@pytest.mark.parametrize("ndim, kind, step, extra", CASES, ids=[f"{c[0]}d-{c[1]}-{c[2]}" for c in CASES])
def test_motion_moves_cells_by_the_step_and_keeps_the_gt_valid(tmp_path, ndim, kind, step, extra):
    cfg = SyntheticConfig(ndim=ndim, seed=2, motion=kind, motion_step=step, **CELLS, **extra)
    summary = generate(tmp_path, cfg)
    assert summary["motion"] == kind and summary["motion_step"] == step
    lines = _check_gt(tmp_path, cfg.n_frames)
    assert summary["n_tracks"] == len(lines)
    # The view stays populated over the whole movie.
    assert summary["cells_per_frame"]["mean"] >= 0.5 * cfg.n_cells and summary["cells_per_frame"]["min"] >= 1

    measured, true = _steps(tmp_path, cfg)
    diameter = 2 * RADIUS
    assert len(measured) >= 15
    size = np.linalg.norm(measured, axis=1)
    assert np.percentile(size, 90) == pytest.approx(np.percentile(np.linalg.norm(true, axis=1), 90), rel=0.25)
    if kind == "drift":
        assert np.percentile(size, 90) == pytest.approx(step * diameter, rel=0.35)
    else:
        # The step is reached only at the view's corners (rotation) or top and bottom rows (shear); whole nuclei
        # sit nearer the centre.
        assert 0.4 * step * diameter < np.percentile(size, 90) < 1.1 * step * diameter
    # The helper gives the field that moved the cells: what is left is their own small random step.
    residual = np.linalg.norm(measured - true, axis=1)
    assert np.median(residual) < 0.25 * step * diameter
    assert np.median(residual) < 0.5 * np.median(size)
    assert np.median(residual) < 0.5 * np.median(np.linalg.norm(measured + true, axis=1))  # the sense is right
    if ndim == 3:
        assert np.all(true[:, 0] == 0)
        assert np.median(np.abs(measured[:, 0])) < 0.1 * step * diameter  # z is not moved


def test_motion_displacement_field_matches_each_kind():
    cfg = dict(n_cells=4, radius=RADIUS, shape=(80, 120), motion_step=2.0, seed=3)
    step = 2.0 * 2 * RADIUS
    centre = np.array([39.5, 59.5])
    corners = np.array([[-0.5, -0.5], [-0.5, 119.5], [79.5, -0.5], [79.5, 119.5]])
    grid = np.stack(np.meshgrid(np.arange(80.0), np.arange(120.0), indexing="ij"), -1).reshape(-1, 2)

    drift = SyntheticConfig(motion="drift", **cfg)
    d = np.array([motion_displacement(drift, t, centre[None])[0] for t in range(20)])
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), step)
    turn = np.degrees(np.arccos(np.clip((d[1:] * d[:-1]).sum(1) / step**2, -1, 1)))
    np.testing.assert_allclose(turn, 36.0)  # direction turns slowly, a full circle every 10 frames
    np.testing.assert_allclose(np.cumsum(d[:10], axis=0)[-1], 0, atol=1e-9)  # bounded: back after one period
    np.testing.assert_allclose(motion_displacement(drift, 4, grid), np.broadcast_to(d[4], grid.shape))

    rotation = SyntheticConfig(motion="rotation", **cfg)
    r = motion_displacement(rotation, 7, grid)
    assert np.linalg.norm(motion_displacement(rotation, 7, corners), axis=1) == pytest.approx([step] * 4)
    assert np.linalg.norm(r, axis=1).max() < step
    np.testing.assert_allclose(motion_displacement(rotation, 0, centre[None]), 0, atol=1e-12)
    np.testing.assert_allclose((r * (grid - centre)).sum(1), -0.5 * (r * r).sum(1), atol=1e-9)  # on circles

    shear = SyntheticConfig(motion="shear", **cfg)
    s = np.array([motion_displacement(shear, t, corners) for t in range(16)])
    np.testing.assert_allclose(np.abs(s[:, :, 1]), step)
    assert np.all(s[:, :, 0] == 0)
    assert np.abs(np.cumsum(s[:, 0, 1])).max() <= 2 * step + 1e-9  # swings back and forth
    assert set(np.sign(s[:, 0, 1]).tolist()) == {-1.0, 1.0}
    np.testing.assert_allclose(motion_displacement(shear, 5, np.array([[39.5, 0.0], [39.5, 100.0]])), 0)

    # 2D positions given as (z, y, x) as the flow code stores them; "none" is no motion.
    zyx = np.column_stack([np.zeros(4), corners])
    np.testing.assert_allclose(motion_displacement(shear, 5, zyx)[:, 1:], motion_displacement(shear, 5, corners))
    assert np.all(motion_displacement(shear, 5, zyx)[:, 0] == 0)
    assert not motion_displacement(SyntheticConfig(**cfg), 5, grid).any()
    with pytest.raises(ValueError, match="positions"):
        motion_displacement(drift, 0, np.zeros(3))


@pytest.mark.parametrize("kind", ["drift", "rotation", "shear"])
def test_motion_is_bounded_over_long_movies(kind):
    motion = FieldMotion.of(SyntheticConfig(motion=kind, motion_step=3.0, radius=RADIUS))
    points = np.array([motion.centre, motion.centre + motion.half, motion.centre - 0.5 * motion.half])
    moved = np.array([motion.transform(t, points) for t in range(1000)])
    excursion = np.abs(moved - points).max(axis=(0, 1))  # per axis, y and x
    limit = 2 * motion.radius_max if kind == "rotation" else motion.reach()
    assert np.all(excursion <= limit + 1e-9)
    assert excursion.max() > 3.0 * 2 * RADIUS  # it does move, by more than one step


def test_divisions_still_happen_with_motion(tmp_path):
    cfg = SyntheticConfig(seed=4, motion="drift", motion_step=2.0, shape=(96, 96), division_rate=0.2, **CELLS)
    summary = generate(tmp_path, cfg)
    lines = _check_gt(tmp_path, cfg.n_frames)
    assert summary["n_divisions"] >= 1
    # Daughters move with the field: each appears near where its parent was last seen, moved by the drift.
    vs = np.asarray(cfg.spacing)
    checked = 0
    for lab, b, _, p in lines:
        if not p:
            continue
        parent_end = int(lines[lines[:, 0] == p][0, 2])
        before = tifffile.imread(tmp_path / "01_GT" / "TRA" / f"man_track{parent_end:03d}.tif")
        after = tifffile.imread(tmp_path / "01_GT" / "TRA" / f"man_track{b:03d}.tif")
        c0 = np.array(ndi.center_of_mass(before == p)) * vs
        c1 = np.array(ndi.center_of_mass(after == lab)) * vs
        expected = c0 + motion_displacement(cfg, parent_end, c0[None])[0]
        assert np.linalg.norm(c1 - expected) < 3 * RADIUS
        checked += 1
    assert checked >= 2


def test_rotation_turns_the_nuclei_with_the_field():
    cfg = SyntheticConfig(motion="rotation", motion_step=2.0, shape=(96, 96), seed=1, **CELLS)
    traj = simulate(cfg)
    assert len(traj.turns) == cfg.n_frames
    np.testing.assert_allclose(traj.turns[0], np.eye(2))
    step = traj.turns[1] @ traj.turns[0].T
    np.testing.assert_allclose(traj.turns[5] @ traj.turns[4].T, step)
    assert abs(math.atan2(step[1, 0], step[0, 0])) > 0.1
    assert simulate(SyntheticConfig(motion="drift", shape=(96, 96), **CELLS)).turns is None


def test_same_seed_same_bytes_other_seed_differs_and_none_is_unchanged(tmp_path):
    cfg = dict(motion="shear", motion_step=2.0, shape=(64, 64), n_frames=5, n_cells=4, radius=RADIUS)
    generate(tmp_path / "a", SyntheticConfig(**cfg))
    generate(tmp_path / "b", SyntheticConfig(**cfg))
    generate(tmp_path / "c", SyntheticConfig(**cfg, seed=1))
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 5 * 3 + 1
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    # "none" ignores motion_step and keeps the movie made before motion existed (digest as in test_synthetic).
    generate(tmp_path / "none", SyntheticConfig(n_frames=3, shape=(48, 48), n_cells=2, radius=4.0, motion="none",
                                                motion_step=3.0))
    assert _digest(tmp_path / "none") == "19b68fa0f77e855408c3c9da5cce4f386f452f1eb72570e23549d0fc0f79f438"


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"motion": "spin"}, "demo.motion"),
        ({"motion": None}, "demo.motion"),
        ({"motion": ["drift"]}, "demo.motion"),
        ({"motion_step": 0}, "demo.motion_step"),
        ({"motion_step": -1.0}, "demo.motion_step"),
        ({"motion_step": float("nan")}, "demo.motion_step"),
        ({"motion_step": "2"}, "demo.motion_step"),
        ({"motion_step": True}, "demo.motion_step"),
    ],
)
def test_bad_motion_config_raises_config_error(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        SyntheticConfig(**kwargs)


def test_rotation_step_larger_than_the_view_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="demo.motion_step"):
        generate(tmp_path, SyntheticConfig(motion="rotation", motion_step=20.0, shape=(48, 48), n_cells=2))
    assert not any(tmp_path.iterdir())


def test_cli_motion(tmp_path, capsys):
    args = [str(tmp_path / "cli"), "--frames", "4", "--shape", "64", "64", "--cells", "3", "--radius", "5"]
    assert main(args + ["--motion", "rotation", "--motion-step", "1.5"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["motion"] == "rotation" and summary["motion_step"] == 1.5
    generate(tmp_path / "direct", SyntheticConfig(n_frames=4, shape=(64, 64), n_cells=3, radius=5.0,
                                                  motion="rotation", motion_step=1.5))
    assert _digest(tmp_path / "cli") == _digest(tmp_path / "direct")
    assert main(args + ["--motion-step", "0"]) == 2
    assert "demo.motion_step" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(args + ["--motion", "spin"])


def test_workflow_demo_motion_is_validated_and_reaches_the_generator(tmp_path):
    schema = load_schema(ROOT / "config" / "schema.yaml")
    demo = validate_config({}, schema)["demo"]
    assert (demo["motion"], demo["motion_step"]) == ("none", 1.0)
    for bad in ({"motion": "spin"}, {"motion": 1}):
        with pytest.raises(ConfigError, match="demo.motion"):
            validate_config({"demo": bad}, schema)
    for bad in (0, -1, "big"):
        with pytest.raises(ConfigError, match="demo.motion_step"):
            validate_config({"demo": {"motion_step": bad}}, schema)
    demo = validate_config({"demo": {"n_frames": 3, "shape": [48, 48], "n_cells": 2, "motion": "drift",
                                     "motion_step": 2}}, schema)["demo"]
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo_data.py"), "--output",
                           f"out={tmp_path / 'rule'}", "--params", json.dumps({"demo": demo})],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    generate(tmp_path / "direct", SyntheticConfig(n_frames=3, shape=(48, 48), n_cells=2, motion="drift",
                                                  motion_step=2))
    generate(tmp_path / "still", SyntheticConfig(n_frames=3, shape=(48, 48), n_cells=2))
    assert _digest(tmp_path / "rule") == _digest(tmp_path / "direct")
    assert _digest(tmp_path / "rule") != _digest(tmp_path / "still")
