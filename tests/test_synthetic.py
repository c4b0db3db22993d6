"""Tests of the synthetic CTC time-lapse generator (lineageflow.synthetic)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi

from lineageflow import synthetic
from lineageflow.config import load_schema, validate_config
from lineageflow.errors import ConfigError
from lineageflow.synthetic import SyntheticConfig, contrast_to_noise, generate, main

ROOT = Path(__file__).resolve().parents[1]


def _tracks(out: Path, seq: str = "01") -> np.ndarray:
    return np.loadtxt(out / f"{seq}_GT" / "TRA" / "man_track.txt", dtype=np.int64, ndmin=2)


def _frames(folder: Path, prefix: str) -> list[Path]:
    return sorted(folder.glob(f"{prefix}*.tif"))


def _touching(labels: np.ndarray) -> set[tuple[int, int]]:
    pairs = set()
    for axis in range(labels.ndim):
        a = np.moveaxis(labels, axis, 0)
        x, y = a[:-1], a[1:]
        m = (x != y) & (x > 0) & (y > 0)
        pairs |= set(zip(np.minimum(x[m], y[m]).tolist(), np.maximum(x[m], y[m]).tolist()))
    return pairs


def _on_border(mask: np.ndarray, lateral_only: bool) -> bool:
    axes = range(mask.ndim - 2, mask.ndim) if lateral_only else range(mask.ndim)
    return any(np.take(mask, 0, axis=a).any() or np.take(mask, -1, axis=a).any() for a in axes)


@pytest.fixture(scope="module")
def demo2d(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo2d")
    return out, generate(out, SyntheticConfig())


@pytest.fixture(scope="module")
def demo3d(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo3d")
    return out, generate(out, SyntheticConfig(ndim=3))


@pytest.mark.parametrize("demo", ["demo2d", "demo3d"])
def test_default_passes_traccuracy_ctc_checks(demo, request):
    from traccuracy.loaders import load_ctc_data

    out, summary = request.getfixturevalue(demo)
    tra = out / "01_GT" / "TRA"
    graph = load_ctc_data(str(tra), str(tra / "man_track.txt"), run_checks=True)
    n_nodes = graph.graph.number_of_nodes()
    lines = _tracks(out)
    assert n_nodes == int((lines[:, 2] - lines[:, 1] + 1).sum())
    assert summary["n_tracks"] == len(lines)


@pytest.mark.parametrize("demo", ["demo2d", "demo3d"])
def test_layout_shapes_dtypes_and_labels(demo, request):
    out, summary = request.getfixturevalue(demo)
    ndim = summary["ndim"]
    shape = (192, 192) if ndim == 2 else (12, 128, 128)
    assert summary["shape"] == list(shape)
    assert summary["voxel_size"] == ([1.0, 1.0] if ndim == 2 else [2.0, 1.0, 1.0])
    raws = _frames(out / "01", "t")
    tras = _frames(out / "01_GT" / "TRA", "man_track")
    segs = _frames(out / "01_GT" / "SEG", "man_seg")
    assert [p.name for p in raws] == [f"t{t:03d}.tif" for t in range(30)]
    assert [p.name for p in tras] == [f"man_track{t:03d}.tif" for t in range(30)]
    assert [p.name for p in segs] == [f"man_seg{t:03d}.tif" for t in range(30)]
    lines = _tracks(out)
    assert len(set(lines[:, 0])) == len(lines) and lines[:, 0].min() >= 1
    for t, (r, a, s) in enumerate(zip(raws, tras, segs)):
        raw, tra, seg = tifffile.imread(r), tifffile.imread(a), tifffile.imread(s)
        assert raw.shape == shape and raw.dtype == np.uint16
        assert tra.shape == shape and tra.dtype == np.uint16
        np.testing.assert_array_equal(tra, seg)
        alive = {int(l) for l, b, e, _ in lines if b <= t <= e}
        assert set(np.unique(tra).tolist()) - {0} == alive
        # Nuclei are brighter than the background under them.
        if alive:
            assert raw[tra > 0].mean() > raw[tra == 0].mean() + 100
    for lab, b, _, p in lines:
        if p:
            parent = lines[lines[:, 0] == p][0]
            assert b == parent[2] + 1


@pytest.mark.parametrize("demo", ["demo2d", "demo3d"])
def test_demo_has_divisions_entries_exits_and_contacts(demo, request):
    out, summary = request.getfixturevalue(demo)
    lines = _tracks(out)
    last = summary["n_frames"] - 1
    tras = _frames(out / "01_GT" / "TRA", "man_track")
    children = {}
    for lab, b, e, p in lines:
        if p:
            children.setdefault(int(p), []).append(int(lab))
    n_divisions = sum(len(c) == 2 for c in children.values())
    assert n_divisions >= 2
    assert summary["n_divisions"] == n_divisions  # the summary counts what man_track.txt holds

    lateral_only = summary["ndim"] == 3
    entering = [
        lab for lab, b, e, p in lines
        if b > 0 and p == 0 and _on_border(tifffile.imread(tras[b]) == lab, lateral_only)
    ]
    leaving = [
        lab for lab, b, e, p in lines
        if e < last and lab not in children and _on_border(tifffile.imread(tras[e]) == lab, lateral_only)
    ]
    assert entering, "no track enters the field of view"
    assert leaving, "no track leaves the field of view"
    # the summary counts tracks that start after frame 0 without a parent, and that end before the last frame
    # without children (wherever they are: entering and leaving above are those at the border)
    assert summary["n_entering"] == sum(1 for lab, b, e, p in lines if b > 0 and p == 0) >= len(entering)
    assert summary["n_leaving"] == sum(1 for lab, b, e, p in lines if e < last and lab not in children) >= len(leaving)

    parent_of = {int(lab): int(p) for lab, _, _, p in lines}
    pairs = set()
    for path in tras:
        pairs |= _touching(tifffile.imread(path))
    assert pairs, "no nuclei touch"
    assert any(parent_of[a] == 0 or parent_of[a] != parent_of[b] for a, b in pairs), "only sisters touch"
    assert summary["n_touching_pairs"] == len(pairs)


@pytest.mark.parametrize("demo", ["demo2d", "demo3d"])
def test_demo_is_trackable(demo, request):
    """Cells move less than half a radius per frame; sisters separate one frame after birth; masks are whole."""
    out, summary = request.getfixturevalue(demo)
    vs = np.array(summary["voxel_size"])
    lines = _tracks(out)
    first = {int(l): int(b) for l, b, _, _ in lines}
    parent = {int(l): int(p) for l, _, _, p in lines}
    previous: dict[int, np.ndarray] = {}
    steps = []
    for t, path in enumerate(_frames(out / "01_GT" / "TRA", "man_track")):
        labels = tifffile.imread(path)
        ids = [int(i) for i in np.unique(labels) if i]
        centres = {i: np.array(c) * vs for i, c in zip(ids, ndi.center_of_mass(labels > 0, labels, ids))}
        steps += [np.linalg.norm(c - previous[i]) for i, c in centres.items() if i in previous]
        previous = centres
        for i, sl in enumerate(ndi.find_objects(labels), start=1):
            if sl is not None:
                assert ndi.label(labels[sl] == i)[1] == 1, f"label {i} is split at t={t}"
        for a, b in _touching(labels):
            if parent[a] and parent[a] == parent[b]:
                # Sisters may meet again later, but not right after the division.
                assert t != first[a] + 1, f"sisters {a}, {b} still touch at t={t}"
    assert np.mean(steps) < 0.5 * 6.0


def test_3d_voxels_are_anisotropic(demo3d):
    out, _ = demo3d
    lines = _tracks(out)
    checked = 0
    for t, path in enumerate(_frames(out / "01_GT" / "TRA", "man_track")):
        labels = tifffile.imread(path)
        touching = {x for pair in _touching(labels) for x in pair}
        for i, sl in enumerate(ndi.find_objects(labels), start=1):
            if sl is None or i in touching or _on_border(labels == i, lateral_only=False):
                continue
            z_extent, y_extent = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
            assert z_extent < y_extent, (t, i, z_extent, y_extent)
            checked += 1
    assert checked > 10
    assert len(lines) > 0
    with tifffile.TiffFile(out / "01" / "t000.tif") as tif:
        assert tif.imagej_metadata["spacing"] == pytest.approx(2.0)


def test_same_config_gives_identical_bytes_other_seed_differs(tmp_path, demo2d):
    out1, _ = demo2d
    out2 = tmp_path / "again"
    out3 = tmp_path / "seed1"
    generate(out2, SyntheticConfig())
    generate(out3, SyntheticConfig(seed=1))
    files1 = sorted(p.relative_to(out1) for p in out1.rglob("*") if p.is_file())
    files2 = sorted(p.relative_to(out2) for p in out2.rglob("*") if p.is_file())
    assert files1 == files2 and len(files1) == 30 * 3 + 1
    for rel in files1:
        assert (out1 / rel).read_bytes() == (out2 / rel).read_bytes(), rel
    assert (out1 / "01" / "t000.tif").read_bytes() != (out3 / "01" / "t000.tif").read_bytes()
    assert (out1 / "01_GT/TRA/man_track.txt").read_text() != (out3 / "01_GT/TRA/man_track.txt").read_text()


def test_four_digit_names_from_1000_frames(tmp_path):
    from traccuracy.loaders import load_ctc_data

    summary = generate(tmp_path, SyntheticConfig(n_frames=1000, shape=(16, 16), n_cells=1, radius=3.0, noise=0.0))
    assert summary["n_frames"] == 1000
    names = sorted(p.name for p in (tmp_path / "01").iterdir())
    assert names[0] == "t0000.tif" and names[-1] == "t0999.tif" and len(names) == 1000
    assert (tmp_path / "01_GT" / "TRA" / "man_track0999.tif").is_file()
    assert (tmp_path / "01_GT" / "SEG" / "man_seg0000.tif").is_file()
    tra = tmp_path / "01_GT" / "TRA"
    load_ctc_data(str(tra), str(tra / "man_track.txt"), run_checks=True)


def test_existing_output_is_replaced_and_failure_leaves_it_untouched(tmp_path, monkeypatch):
    cfg = SyntheticConfig(n_frames=3, shape=(32, 32), n_cells=2, radius=3.0)
    (tmp_path / "01").mkdir()
    (tmp_path / "01" / "stale.tif").write_bytes(b"old")
    generate(tmp_path, cfg)
    assert not (tmp_path / "01" / "stale.tif").exists()
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(synthetic, "_write_labels", boom)
    with pytest.raises(RuntimeError):
        generate(tmp_path, SyntheticConfig(n_frames=3, shape=(32, 32), n_cells=2, radius=3.0, seed=5))
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01", "01_GT"]


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"ndim": 4}, "ndim"),
        ({"ndim": 3, "shape": (64, 64)}, "shape"),
        ({"shape": (64, 0)}, "shape"),
        ({"n_frames": 0}, "n_frames"),
        ({"n_cells": 0}, "n_cells"),
        ({"voxel_size": (1.0,)}, "voxel_size"),
        ({"voxel_size": (1.0, -1.0)}, "voxel_size"),
        ({"radius": 0.0}, "radius"),
        ({"division_rate": -0.1}, "division_rate"),
        ({"speed": -1.0}, "speed"),
        ({"noise": float("nan")}, "noise"),
        ({"seed": -1}, "seed"),
        ({"persistence": 1.0}, "persistence"),
        ({"max_cells": 2}, "max_cells"),
        ({"entry_rate": -1.0}, "entry_rate"),
        ({"contrast": 0}, "contrast"),
        ({"contrast": -0.5}, "contrast"),
        ({"contrast": float("inf")}, "contrast"),
        ({"contrast": "0.5"}, "contrast"),
        ({"contrast": None}, "contrast"),
        ({"contrast": True}, "contrast"),
    ],
)
def test_bad_config_raises_config_error(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        SyntheticConfig(**kwargs)


def test_too_many_cells_raise_config_error(tmp_path):
    with pytest.raises(ConfigError, match="n_cells"):
        generate(tmp_path, SyntheticConfig(n_cells=200, shape=(32, 32)))
    assert not any(tmp_path.iterdir())


def test_cli(tmp_path, capsys):
    out = tmp_path / "cli"
    rc = main([str(out), "--ndim", "3", "--frames", "4", "--cells", "2", "--shape", "6", "32", "32",
               "--voxel-size", "2", "1", "1", "--radius", "4", "--seed", "1", "--sequence", "02"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ndim"] == 3 and summary["shape"] == [6, 32, 32] and summary["sequence"] == "02"
    assert len(_frames(out / "02", "t")) == 4
    assert (out / "02_GT" / "TRA" / "man_track.txt").is_file()
    assert tifffile.imread(out / "02" / "t000.tif").shape == (6, 32, 32)

    assert main([str(out), "--ndim", "3", "--shape", "64", "64"]) == 2
    assert "shape" in capsys.readouterr().err


# --- contrast (signal-to-noise level) ----------------------------------------------------------------------------

def _pixel_digest(out: Path) -> str:
    """Hash of every frame's pixels and the track table: what a movie is, independent of TIFF encoding."""
    h = hashlib.sha256()
    for path in sorted(out.rglob("*.tif")):
        h.update(str(path.relative_to(out)).encode())
        h.update(tifffile.imread(path).tobytes())
    h.update((out / "01_GT" / "TRA" / "man_track.txt").read_bytes())
    return h.hexdigest()


def _measured_cnr(out: Path) -> list[float]:
    return [contrast_to_noise(tifffile.imread(raw), tifffile.imread(tra))
            for raw, tra in zip(_frames(out / "01", "t"), _frames(out / "01_GT" / "TRA", "man_track"))]


_TINY = dict(n_frames=3, shape=(48, 48), n_cells=2, radius=4.0)


def test_default_contrast_keeps_the_movie_made_before_the_parameter_existed(tmp_path):
    # Digest of this tiny movie as generated before `contrast` was added: tests and benchmarks rely on the demo.
    generate(tmp_path / "default", SyntheticConfig(**_TINY))
    generate(tmp_path / "explicit", SyntheticConfig(**_TINY, contrast=1.0))
    before = "19b68fa0f77e855408c3c9da5cce4f386f452f1eb72570e23549d0fc0f79f438"
    assert _pixel_digest(tmp_path / "default") == before
    assert _pixel_digest(tmp_path / "explicit") == before


# (contrast, mean CNR of the default 2D movie) as documented in SyntheticConfig's docstring.
_DOCUMENTED_CNR_2D = [(1.0, 9.8), (0.4, 4.2), (0.2, 2.1), (0.1, 1.0), (0.05, 0.5)]


def test_lower_contrast_gives_lower_measured_cnr_and_the_same_ground_truth(tmp_path):
    measured, gt_texts = [], set()
    for contrast, documented in _DOCUMENTED_CNR_2D:
        out = tmp_path / str(contrast)
        summary = generate(out, SyntheticConfig(contrast=contrast))
        per_frame = _measured_cnr(out)
        assert summary["contrast"] == contrast
        assert summary["contrast_to_noise"] == pytest.approx(np.mean(per_frame), abs=0.005)
        assert summary["contrast_to_noise"] == pytest.approx(documented, abs=0.05)
        measured.append(per_frame)
        gt_texts.add((out / "01_GT" / "TRA" / "man_track.txt").read_text())
    means = [np.mean(m) for m in measured]
    assert all(a > b for a, b in zip(means, means[1:])), means
    # Frame by frame too: the contrast changes the nuclei's brightness, not the scene.
    for higher, lower in zip(measured, measured[1:]):
        assert all(h > l for h, l in zip(higher, lower))
    assert len(gt_texts) == 1


def test_contrast_to_noise_of_a_known_frame():
    raw = np.array([[10.0, 12.0, 30.0, 30.0]])
    labels = np.array([[0, 0, 1, 2]])
    # background mean 11, std 1; objects mean 30
    assert contrast_to_noise(raw, labels) == pytest.approx(19.0)
    assert np.isnan(contrast_to_noise(raw, np.zeros_like(labels)))
    assert np.isnan(contrast_to_noise(raw, np.ones_like(labels)))


def test_cli_contrast(tmp_path, capsys):
    args = [str(tmp_path), "--frames", "3", "--shape", "48", "48", "--cells", "2", "--radius", "4"]
    assert main(args + ["--contrast", "0.3"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["contrast"] == 0.3
    expected = tmp_path / "direct"
    generate(expected, SyntheticConfig(**_TINY, contrast=0.3))
    for name in ("t000.tif", "t002.tif"):
        assert (tmp_path / "01" / name).read_bytes() == (expected / "01" / name).read_bytes()
    assert main(args + ["--contrast", "0"]) == 2
    assert "contrast" in capsys.readouterr().err


def test_workflow_demo_contrast_is_validated_and_reaches_the_generator(tmp_path):
    schema = load_schema(ROOT / "config" / "schema.yaml")
    assert validate_config({}, schema)["demo"]["contrast"] == 1.0
    for bad in (0, -1, "low"):
        with pytest.raises(ConfigError, match="demo.contrast"):
            validate_config({"demo": {"contrast": bad}}, schema)
    demo = validate_config({"demo": {"n_frames": 3, "shape": [48, 48], "n_cells": 2, "contrast": 0.3}}, schema)["demo"]
    script = ROOT / "scripts" / "demo_data.py"
    proc = subprocess.run([sys.executable, str(script), "--output", f"out={tmp_path / 'rule'}",
                           "--params", json.dumps({"demo": demo})], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    generate(tmp_path / "direct", SyntheticConfig(n_frames=3, shape=(48, 48), n_cells=2, contrast=0.3))
    generate(tmp_path / "full", SyntheticConfig(n_frames=3, shape=(48, 48), n_cells=2))
    assert _pixel_digest(tmp_path / "rule") == _pixel_digest(tmp_path / "direct")
    assert _pixel_digest(tmp_path / "rule") != _pixel_digest(tmp_path / "full")
