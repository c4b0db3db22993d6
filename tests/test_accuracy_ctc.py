"""Accuracy floors on real Cell Tracking Challenge data (../shared/data), through the one-command contract."""

import json

from conftest import require_shared
from test_workflow import snakemake


def metrics_of(out):
    m = json.loads((out / "eval" / "metrics.json").read_text())
    print({k: m[k] for k in ("TRA", "DET", "LNK", "division_precision", "division_recall", "division_f1")})
    return m


def test_sim_from_raw_pixels(tmp_path):
    """Fluo-N2DH-SIM+/01 from raw pixels, trained on scribbles and annotations from its own GT."""
    seq = require_shared("Fluo-N2DH-SIM+", "01")
    out = tmp_path / "sim"
    snakemake("--config", f"input={seq}", f"out={out}")
    m = metrics_of(out)
    assert m["TRA"] >= 0.95
    assert m["division_f1"] >= 0.7


def test_sim_tracking_only_from_gt_masks(tmp_path):
    """Fluo-N2DH-SIM+/01 with its GT masks as label images (tracking only)."""
    seq = require_shared("Fluo-N2DH-SIM+", "01")
    out = tmp_path / "simgt"
    snakemake("--config", f"input={seq}", f"out={out}",
              f"objects={{labels: {seq.parent / '01_GT' / 'TRA'}, min_size: 0}}", "tracking={keep_all_objects: true}")
    m = metrics_of(out)
    assert m["TRA"] >= 0.998
