"""Tracking on time windows through the workflow: the plan, bad window configs, an empty window, a solve that
hits its time limit, and a killed window job that a rerun of the same command completes (only what is missing)."""

import json
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import psutil
import pytest
import tifffile

from conftest import ROOT
from workflow_helpers import SMALL_DEMO, assert_stops_before_any_job, snakemake

WINDOWED = ["frames_per_job=2", "window_size=4", "overlap=1"]  # 8 frames → windows [0,4), [3,7), [4,8)
WINDOWS = ["0000-0003", "0003-0006", "0004-0007"]


def job_counts(stdout: str) -> dict[str, int]:
    """Snakemake's 'Job stats' table as {rule: count}."""
    table = stdout.split("Job stats:")[-1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.fixture(scope="module")
def windowed(tmp_path_factory):
    out = tmp_path_factory.mktemp("windowed") / "out"
    snakemake("--config", f"out={out}", SMALL_DEMO, *WINDOWED)
    return out


def test_windows_are_jobs_that_read_only_their_chunks(windowed):
    proc = snakemake("-n", "-p", "--forcerun", "track_window", "--config", f"out={windowed}", SMALL_DEMO, *WINDOWED)
    assert job_counts(proc.text)["track_window"] == 3
    inputs = {}
    for block in proc.text.split("rule track_window:")[1:]:
        window = re.search(r"wildcards: window=(\S+)", block).group(1)
        inputs[window] = sorted(re.findall(r"features/(\d{4}-\d{4})\.parquet", block.split("output:")[0]))
    assert inputs == {"0000-0003": ["0000-0001", "0002-0003"], "0003-0006": ["0002-0003", "0004-0005", "0006-0007"],
                      "0004-0007": ["0004-0005", "0006-0007"]}


def test_windowed_demo_is_one_valid_lineage(windowed):
    from traccuracy.loaders import load_ctc_data

    solution = json.loads((windowed / "track" / "solution.json").read_text())
    assert solution["n_windows"] == 3 and [w["window"] for w in solution["windows"]] == WINDOWS
    assert [s["cut"] for s in solution["seams"]] == [3, 5]
    assert solution["status"] == "optimal"
    for w in WINDOWS:
        assert (windowed / "track" / "windows" / w / "solution.json").exists()
        assert (windowed / "benchmarks" / "track_window" / f"{w}.tsv").exists()
    load_ctc_data(str(windowed / "ctc"), str(windowed / "ctc" / "res_track.txt"), run_checks=True)
    metrics = json.loads((windowed / "eval" / "metrics.json").read_text())
    assert metrics["TRA"] >= 0.95


@pytest.mark.parametrize("config, words", [
    (["window_size=5", "overlap=5"], ["overlap", "5", "window_size"]),
    (["window_size=4", "overlap=6"], ["overlap", "6", "window_size", "4"]),
    (["window_size=1"], ["window_size", "1", "at least 2"]),
    (["overlap=-1"], ["overlap", "-1"]),
])
def test_bad_window_config_stops_before_any_job(tmp_path, config, words):
    assert_stops_before_any_job(tmp_path, [SMALL_DEMO, *config], words)


def test_overlap_longer_than_the_movie_is_one_window_with_a_note(tmp_path):
    proc = snakemake("-n", "--config", f"out={tmp_path / 'out'}", SMALL_DEMO, "window_size=20", "overlap=9")
    notes = [line for line in proc.stderr.splitlines() if line.startswith("lineageflow: note:")]
    assert len(notes) == 1 and "'overlap' = 9" in notes[0] and "8 frames" in notes[0] and "one window" in notes[0]
    assert job_counts(proc.text)["track_window"] == 1


def test_window_without_objects(windowed, tmp_path):
    """Label images with frames 4..7 empty: window [4, 8) has no objects and still gives a valid lineage."""
    from traccuracy.loaders import load_ctc_data

    labels = tmp_path / "labels"
    labels.mkdir()
    for i, src in enumerate(sorted((windowed / "demo" / "01_GT" / "SEG").glob("*.tif"))):
        img = tifffile.imread(src)
        tifffile.imwrite(labels / f"mask{i:03d}.tif", img if i < 4 else np.zeros_like(img))
    out = tmp_path / "out"
    snakemake("--config", f"input={windowed / 'demo' / '01'}", f"out={out}",
              f"objects={{labels: {labels}, min_size: 0}}", *WINDOWED)
    solution = json.loads((out / "track" / "solution.json").read_text())
    status = {w["window"]: w["status"] for w in solution["windows"]}
    assert status["0004-0007"] == "empty" and status["0000-0003"] == "optimal"
    assert "no objects" in (out / "logs" / "track_window" / "0004-0007.log").read_text()
    load_ctc_data(str(out / "ctc"), str(out / "ctc" / "res_track.txt"), run_checks=True)
    tracks = pd.read_csv(out / "track" / "tracks.csv")
    assert len(tracks) and tracks["E"].max() <= 3


def test_solve_that_hits_its_time_limit_keeps_a_solution(windowed, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(windowed, out)
    proc = snakemake("--config", f"out={out}", SMALL_DEMO, *WINDOWED, "tracking={time_limit: 0.0001, solver: cbc}",
                     "--forcerun", "track_window")
    assert "track_window" in proc.text and "pixels_predict" not in proc.text
    solution = json.loads((out / "track" / "solution.json").read_text())
    assert solution["status"] == "time_limit"
    assert all(w["status"] == "time_limit" for w in solution["windows"])
    log = (out / "logs" / "track_window" / "0000-0003.log").read_text()
    assert "time limit" in log and "gap" in log
    from traccuracy.loaders import load_ctc_data

    load_ctc_data(str(out / "ctc"), str(out / "ctc" / "res_track.txt"), run_checks=True)


def test_killed_window_job_reruns_only_what_is_missing(windowed, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(windowed, out)
    for done in ("track", "logs/track_window", "benchmarks/track_window"):
        shutil.rmtree(out / done)
    target = str(out / "track" / "solution.json")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "1", target,
           "--config", f"out={out}", SMALL_DEMO, *WINDOWED]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    solved = lambda: [w for w in WINDOWS if (out / "track" / "windows" / w / "solution.json").exists()]  # noqa: E731
    deadline = time.monotonic() + 180
    victim = None
    # with 1 core the windows run one after another: kill the second window job's process while it runs
    started = lambda: [w for w in WINDOWS if (out / "logs" / "track_window" / f"{w}.log").exists()]  # noqa: E731
    while victim is None and proc.poll() is None and time.monotonic() < deadline:
        if solved() and set(started()) - set(solved()):  # the first window is done and the next one has started
            jobs = [c for c in psutil.Process(proc.pid).children(recursive=True)
                    if any("track_window" in part for part in c.cmdline())]
            victim = jobs[0] if jobs else None
        time.sleep(0.01)
    assert victim is not None, "no window job was running after the first one finished"
    complete = solved()
    victim.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=120) != 0  # Snakemake reports the killed job as failed and stops
    missing = [w for w in WINDOWS if w not in solved()]
    assert complete and missing, f"kill came too late or too early: {complete}"
    before = {w: (out / "track" / "windows" / w / "nodes.parquet").stat().st_mtime_ns for w in complete}
    plan = snakemake("-n", target, "--config", f"out={out}", SMALL_DEMO, *WINDOWED)
    planned = set(re.findall(r"wildcards: window=(\S+)", plan.text))
    reasons = "\n".join(re.findall(r"reason: (.*)", plan.text)).replace(str(out), "OUT")
    assert set(missing) <= planned and not planned & set(complete), (planned, complete, reasons)
    counts = job_counts(plan.text)
    assert counts["track_stitch"] == 1
    assert not {"pixels_predict", "objects_features", "classify_apply"} & set(counts)
    snakemake(target, "--config", f"out={out}", SMALL_DEMO, *WINDOWED)
    for w, mtime in before.items():
        assert (out / "track" / "windows" / w / "nodes.parquet").stat().st_mtime_ns == mtime
    for name in ("solution_nodes.parquet", "solution_edges.parquet"):
        assert (out / "track" / name).read_bytes() == (windowed / "track" / name).read_bytes(), name


def test_long_movie_makes_chunk_jobs_not_frame_jobs(tmp_path):
    """2000 frames: 200 chunk jobs per per-frame rule and 45 window jobs (benchmarks/bench_dag.py times this)."""
    proc = snakemake("-n", "--config", f"out={tmp_path / 'out'}", "demo={n_frames: 2000}")
    counts = job_counts(proc.text)
    for rule in ("pixels_predict", "objects_threshold", "objects_features", "classify_apply", "qc_frames"):
        assert counts[rule] == 200, (rule, counts)
    assert counts["track_window"] == 45 and counts["track_stitch"] == 1
    assert counts["pixels_normalise"] == 1 and counts["qc_summary"] == 1
    assert counts["total"] == 1060
