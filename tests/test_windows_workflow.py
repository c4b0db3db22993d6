"""Tracking on time windows through the workflow: the plan, bad window configs, an empty window, a solve that
hits its time limit, and a killed window job that a rerun of the same command completes (only what is missing)."""

import contextlib
import json
import os
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
from workflow_helpers import SMALL_DEMO, assert_stops_before_any_job, copy_run, snakemake

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
    # 1 ns is over at the solver's first look at the clock, in every window, on any machine however fast or loaded.
    # HiGHS reads a fine wall clock; CBC (through python-mip) reads the process's CPU time, whose accounting can be
    # coarse: a window solved in a few ms can read as 0 s of CPU and end optimal under any limit.
    out = copy_run(windowed, tmp_path)
    proc = snakemake("--config", f"out={out}", SMALL_DEMO, *WINDOWED, "tracking={time_limit: 1.0e-9, solver: highs}",
                     "--forcerun", "track_window")
    assert "track_window" in proc.text and "pixels_predict" not in proc.text
    solution = json.loads((out / "track" / "solution.json").read_text())
    assert solution["status"] == "time_limit"
    assert [w["window"] for w in solution["windows"]] == WINDOWS
    assert all(w["status"] == "time_limit" and w["solver"] == "highs" for w in solution["windows"])
    for w in WINDOWS:
        log = (out / "logs" / "track_window" / f"{w}.log").read_text()
        assert "time limit" in log and "gap" in log
    from traccuracy.loaders import load_ctc_data

    load_ctc_data(str(out / "ctc"), str(out / "ctc" / "res_track.txt"), run_checks=True)


# Put first on PYTHONPATH of one Snakemake run, this sitecustomize holds the track_window job that is the second to
# reach its solve, until it is killed: the kill then comes mid-run at a known point, whatever the machine's speed.
HOLD_SECOND_WINDOW = """
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_FLAGS = os.environ.get("LINEAGEFLOW_TEST_HOLD_DIR")

if _FLAGS and any("track_window" in a for a in sys.argv):
    import time

    from lineageflow import windows

    _solve_window = windows.solve_window

    def _held_solve_window(nodes, tracking, start, stop, *args, **kwargs):
        os.close(os.open(os.path.join(_FLAGS, f"{start}-{stop}.started"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        if sum(name.endswith(".started") for name in os.listdir(_FLAGS)) == 2:
            tmp = os.path.join(_FLAGS, "held.tmp")
            with open(tmp, "w") as f:
                f.write(f"{start} {stop} {os.getpid()}")
            os.replace(tmp, os.path.join(_FLAGS, "held"))
            while True:  # until killed
                time.sleep(1)
        return _solve_window(nodes, tracking, start, stop, *args, **kwargs)

    windows.solve_window = _held_solve_window

# then the sitecustomize this one shadows, if the environment has one
from importlib.machinery import PathFinder

_spec = PathFinder.find_spec("sitecustomize", [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE])
if _spec is not None and _spec.loader is not None:
    import importlib.util

    _spec.loader.exec_module(importlib.util.module_from_spec(_spec))
"""


def wait_for(condition, proc, timeout, what):
    """Poll ``condition`` until it holds; fail if ``proc`` ends first or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"snakemake ended ({proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.2)


def test_killed_window_job_reruns_only_what_is_missing(windowed, tmp_path):
    out = copy_run(windowed, tmp_path)
    for done in ("track", "logs/track_window", "benchmarks/track_window"):
        shutil.rmtree(out / done)
    target = str(out / "track" / "solution.json")
    hook, flags = tmp_path / "hook", tmp_path / "flags"
    hook.mkdir()
    flags.mkdir()
    (hook / "sitecustomize.py").write_text(HOLD_SECOND_WINDOW)
    env = {**os.environ, "LINEAGEFLOW_TEST_HOLD_DIR": str(flags),
           "PYTHONPATH": os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH")) if p)}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "1", target,
           "--config", f"out={out}", SMALL_DEMO, *WINDOWED]
    solved = lambda: [w for w in WINDOWS if (out / "track" / "windows" / w / "solution.json").exists()]  # noqa: E731
    window_of = dict(zip([(0, 4), (3, 7), (4, 8)], WINDOWS))
    with open(tmp_path / "snakemake.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        # with 1 core the windows run one after another: the second window job waits in its solve until killed
        wait_for((flags / "held").exists, proc, 600, "second window job in its solve")
        start, stop, pid = map(int, (flags / "held").read_text().split())
        held = window_of[(start, stop)]
        victim = psutil.Process(pid)
        assert victim in psutil.Process(proc.pid).children(recursive=True)
        assert any("track_window" in part for part in victim.cmdline())
        complete = solved()
        victim.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=300) != 0  # Snakemake reports the killed job as failed and stops
    finally:
        if proc.poll() is None:  # a failed assertion above: end the run this test started, and its jobs
            for child in psutil.Process(proc.pid).children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
            proc.kill()
            proc.wait()
    missing = [w for w in WINDOWS if w not in solved()]
    # one window job had finished (the first one) when the second was killed mid-run; the third never started
    assert len(complete) == 1 and held not in complete, (complete, held)
    assert sorted(complete + missing) == WINDOWS and held in missing, (complete, missing)
    before = {w: (out / "track" / "windows" / w / "nodes.parquet").stat().st_mtime_ns for w in complete}
    plan = snakemake("-n", target, "--config", f"out={out}", SMALL_DEMO, *WINDOWED)
    planned = set(re.findall(r"wildcards: window=(\S+)", plan.text))
    reasons = "\n".join(re.findall(r"reason: (.*)", plan.text)).replace(str(out), "OUT")
    assert planned == set(missing), (planned, complete, reasons)
    counts = job_counts(plan.text)
    assert counts["track_stitch"] == 1
    assert not {"pixels_predict", "objects_features", "classify_apply"} & set(counts)
    snakemake(target, "--config", f"out={out}", SMALL_DEMO, *WINDOWED)
    for w, mtime in before.items():
        assert (out / "track" / "windows" / w / "nodes.parquet").stat().st_mtime_ns == mtime
    # the interrupted and resumed run ends where the uninterrupted one did (windowed: no test changes that folder)
    for name in ("solution_nodes.parquet", "solution_edges.parquet"):
        assert (out / "track" / name).read_bytes() == (windowed / "track" / name).read_bytes(), name


def test_long_movie_makes_chunk_jobs_not_frame_jobs(tmp_path):
    """2000 frames: 80 chunk jobs per per-frame rule (25 frames each by default), 45 window jobs and one compiled forest
    (benchmarks/bench_dag.py times this)."""
    proc = snakemake("-n", "--config", f"out={tmp_path / 'out'}", "demo={n_frames: 2000}")
    counts = job_counts(proc.text)
    for rule in ("pixels_predict", "objects_threshold", "objects_features", "classify_apply", "qc_frames"):
        assert counts[rule] == 80, (rule, counts)
    assert counts["track_window"] == 45 and counts["track_stitch"] == 1
    assert counts["pixels_normalise"] == 1 and counts["pixels_compile"] == 1 and counts["qc_summary"] == 1
    assert counts["total"] == 461
