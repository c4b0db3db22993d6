"""Accuracy floors on real Cell Tracking Challenge data (../shared/data), through the one-command contract."""

import json

import pytest

from conftest import require_shared
from lineageflow import pixels, shift
from lineageflow.ctc_subset import write_subsequence
from workflow_helpers import copy_run, snakemake


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


def test_sim_windows_match_global(sim_global, tmp_path):
    """W = 20, O = 5 on the same detections: only tracking reruns, and TRA stays within 0.002 of the global solve."""
    seq, global_out, m_global = sim_global
    windowed = ["--config", f"input={seq}", "window_size=20", "overlap=5"]
    # what the windowed config reruns is planned on the global run's own folder: a dry run changes nothing, and
    # Snakemake's records of that folder (the params each job ran with) decide which jobs the new config touches
    plan = snakemake("-n", *windowed, f"out={global_out}")
    # the run itself goes into a copy, so that sim_global stays the global run for the other tests. The copy has no
    # records, so no changed param reruns anything there: its window jobs are forced (what the plan shows for the
    # real folder), and the jobs before them must still not run
    out = copy_run(global_out, tmp_path)
    proc = snakemake(*windowed, f"out={out}", "--forcerun", "track_window")
    for text in (plan.text, proc.text):
        assert "track_window" in text and "track_stitch" in text
        for upstream in ("pixels_predict", "objects_features", "classify_apply"):
            assert upstream not in text, upstream
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


# --- models that carry over (issue #9): never scored on what they were trained on ------------------------------

def test_sim_contrast_half_carries_over(sim_global, tmp_path):
    """Trained on SIM+/01, run on a copy of it with half the object contrast at the same noise (its GT scores only):
    TRA within 0.03 of the unshifted run."""
    seq, _, m_orig = sim_global
    gt = seq.parent / "01_GT"
    copy = shift.write_shifted_sequence(seq, tmp_path / "shifted" / "01", shift.by_name("contrast0.5"), seed=0)
    out = tmp_path / "out"
    snakemake("--config", f"input={copy}", f"out={out}", f"train={seq}", f"train_gt={gt}", f"gt={gt}",
              "window_size=0")
    m = metrics_of(out)
    assert m["TRA"] >= m_orig["TRA"] - 0.03


def _split(seq, train_frames, test_frames, root):
    gt = seq.parent / f"{seq.name}_GT"
    write_subsequence(seq, gt, train_frames, root / "train" / "01", root / "train" / "01_GT")
    write_subsequence(seq, gt, test_frames, root / "test" / "01", root / "test" / "01_GT")
    return root / "train" / "01", root / "test" / "01"


def test_sim_held_out_frames(tmp_path):
    """Classifiers trained on frames 0-32 of SIM+/01, scored on frames 33-64 only. objects.split 'auto' finds on
    the training frames that splitting touching nuclei helps, which spares the count classifier the mergers of the
    denser later frames; without the split TRA is lower."""
    train, test = _split(require_shared("Fluo-N2DH-SIM+", "01"), range(0, 33), range(33, 65), tmp_path)
    out = tmp_path / "out"
    snakemake("--config", f"input={test}", f"out={out}", f"train={train}", "window_size=0")
    assert pixels.load(out / "pixels" / "classifier.pkl").training["split"]["ratio"] == 0.4
    m = metrics_of(out)
    assert m["TRA"] >= 0.95
    assert m["division_f1"] >= 0.7
    proc = snakemake("--config", f"input={test}", f"out={out}", f"train={train}", "window_size=0",
                     "objects={split: 0}")
    assert "pixels_predict" not in proc.text and "objects_threshold" in proc.text
    unsplit = metrics_of(out)
    assert 0.90 <= unsplit["TRA"] < m["TRA"]


def test_cho_3d_held_out_frames(tmp_path):
    """3D: classifiers trained on frames 0-19 of Fluo-N3DH-CHO/01, scored on frames 50-69."""
    train, test = _split(require_shared("Fluo-N3DH-CHO", "01"), range(0, 20), range(50, 70), tmp_path)
    out = tmp_path / "out"
    snakemake("--config", f"input={test}", f"out={out}", f"train={train}", "voxel_size=[1.0,0.202,0.202]",
              "window_size=0")
    m = metrics_of(out)
    assert m["TRA"] >= 0.9
