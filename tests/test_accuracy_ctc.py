"""Accuracy floors on real Cell Tracking Challenge data (../shared/data), through the one-command contract."""

import json

import pytest

from conftest import require_shared
from test_workflow import snakemake


def metrics_of(out):
    m = json.loads((out / "eval" / "metrics.json").read_text())
    print({k: m[k] for k in ("TRA", "DET", "LNK", "division_precision", "division_recall", "division_f1")})
    return m


@pytest.fixture(scope="module")
def sim_global(tmp_path_factory):
    """Fluo-N2DH-SIM+/01 from raw pixels, tracked as one global window."""
    seq = require_shared("Fluo-N2DH-SIM+", "01")
    out = tmp_path_factory.mktemp("sim") / "out"
    snakemake("--config", f"input={seq}", f"out={out}", "window_size=0")
    return seq, out, metrics_of(out)


def test_sim_from_raw_pixels(sim_global):
    """Trained on scribbles and annotations from its own GT."""
    _, _, m = sim_global
    assert m["TRA"] >= 0.95
    assert m["division_f1"] >= 0.7


def test_sim_windows_match_global(sim_global):
    """W = 20, O = 5 on the same detections: only tracking reruns, and TRA stays within 0.002 of the global solve."""
    seq, out, m_global = sim_global
    proc = snakemake("--config", f"input={seq}", f"out={out}", "window_size=20", "overlap=5")
    assert "track_window" in proc.text and "track_stitch" in proc.text
    for upstream in ("pixels_predict", "objects_features", "classify_apply"):
        assert upstream not in proc.text, upstream
    solution = json.loads((out / "track" / "solution.json").read_text())
    assert solution["n_windows"] == 4 and len(solution["seams"]) == 3
    assert [w["frames"] for w in solution["windows"]] == [[0, 20], [15, 35], [30, 50], [45, 65]]
    m = metrics_of(out)
    assert abs(m["TRA"] - m_global["TRA"]) <= 0.002


def test_sim_tracking_only_from_gt_masks(tmp_path):
    """Fluo-N2DH-SIM+/01 with its GT masks as label images (tracking only)."""
    seq = require_shared("Fluo-N2DH-SIM+", "01")
    out = tmp_path / "simgt"
    snakemake("--config", f"input={seq}", f"out={out}",
              f"objects={{labels: {seq.parent / '01_GT' / 'TRA'}, min_size: 0}}", "tracking={keep_all_objects: true}")
    m = metrics_of(out)
    assert m["TRA"] >= 0.998
