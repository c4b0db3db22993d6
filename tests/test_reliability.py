"""Reliability: failures found before any job runs, stale leftovers cleaned (issue #11)."""

import os
import subprocess
import sys
import time

from conftest import ROOT
from workflow_helpers import snakemake


def _dry_run(tmp_path, *config, env=None):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "1", "-n", "--config",
           f"out={tmp_path / 'out'}", *config]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)


def test_named_solver_that_cannot_load_stops_before_any_job(tmp_path):
    """tracking.solver: gurobi with a gurobipy that fails to import is found at start, not at the first window."""
    fake = tmp_path / "site" / "gurobipy"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ImportError("simulated: gurobipy cannot load its shared library")\n')
    env = {**os.environ, "PYTHONPATH": f"{fake.parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = _dry_run(tmp_path, "tracking={solver: gurobi}", env=env)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in text
    assert "tracking.solver is 'gurobi' but gurobipy is not usable" in text and "simulated" in text
    assert not (tmp_path / "out").exists()
    # the same environment with solver auto falls back (CBC) and plans the run
    proc = _dry_run(tmp_path, "tracking={solver: auto}", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_stale_temporaries_of_an_output_are_removed_when_it_is_written_again(tmp_path):
    """A writer killed mid-export leaves .NAME.XXXX.tmp (and perhaps .NAME.old); the next write removes them,
    and nothing of another output."""
    from lineageflow.atomic import atomic_path

    out = tmp_path / "mamut"
    (tmp_path / ".mamut.k1ll3d.tmp").mkdir()
    (tmp_path / ".mamut.k1ll3d.tmp" / "mamut.xml").write_text("half")
    (tmp_path / ".mamut.x9.tmp").write_text("half")
    (tmp_path / ".mamut.old").mkdir()
    (tmp_path / ".ctc.k1ll3d.tmp").mkdir()  # another output's temporary: not ours to remove
    with atomic_path(out) as tmp:
        tmp.mkdir()
        (tmp / "mamut.xml").write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ctc.k1ll3d.tmp", "mamut"]
    assert (out / "mamut.xml").read_text() == "whole"


def test_workflow_export_job_cleans_what_a_killed_export_left(tmp_path):
    out = tmp_path / "out"
    config = ["--config", f"out={out}", "demo={n_frames: 4, n_cells: 3, seed: 1}", "frames_per_job=4"]
    snakemake(*config)
    stale = out / ".mamut.abc123.tmp"
    stale.mkdir()
    (stale / "bdv.h5").write_bytes(b"\0" * 100)
    snakemake("--forcerun", "export_mamut", *config)
    assert not stale.exists() and (out / "mamut" / "mamut.xml").exists()


def test_corrupt_report_history_is_set_aside(tmp_path, caplog):
    """A truncated report/history.json (full disk) no longer stops the report with a JSONDecodeError naming no
    file: it is set aside with a warning naming it, and a new history starts."""
    from lineageflow import report

    path = tmp_path / "history.json"
    path.write_text('[{"run": 1, "TRA": {"a": 0.9}}, {"run": 2, "TR')
    history = report.append_history(path, [], {"x": 1})
    assert [h["run"] for h in history] == [1]
    assert (tmp_path / "history.json.corrupt-1").read_text().endswith('"TR')
    assert "history.json is not a report history" in caplog.text and "corrupt-1" in caplog.text
    assert [h["run"] for h in report.append_history(path, [], {"x": 1})] == [1, 2]


def test_two_runs_on_one_output_folder_are_locked_against_each_other(tmp_path):
    """Snakemake locks its working directory; OUT itself is locked too, so a second run on the same OUT started
    from another folder stops with one line naming the holder, and the first run is unharmed."""
    out = tmp_path / "out"
    config = ["--config", f"out={out}", "demo={n_frames: 6, n_cells: 3, seed: 2}", "frames_per_job=3"]
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "1", *config]
    first = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = out / ".lineageflow.lock"
        for _ in range(600):  # the first run holds the lock once its Snakefile is read
            if lock.exists() and lock.read_text().startswith("pid"):
                break
            time.sleep(0.1)
        other = tmp_path / "elsewhere"
        other.mkdir()
        second = subprocess.run(cmd, cwd=other, capture_output=True, text=True)
        assert first.poll() is None, "the first run ended before the second started; the test proves nothing"
        assert second.returncode != 0
        assert f"output folder {out} is in use by another lineageflow run (pid {first.pid}" in second.stderr
        # a dry run does not take the lock
        assert subprocess.run([*cmd, "-n"], cwd=other, capture_output=True, text=True).returncode == 0
    finally:
        _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-2000:]
    snakemake(*config)  # the lock ends with its process


def test_runs_into_different_folders_write_the_same_bytes(tmp_path):
    """Paths inside OUT are recorded relative to it (eval JSON, table metadata, normalisation levels), so the same
    input and config give byte-identical files whatever OUT is called. Not compared: the lock file, the QC plot
    (titled with the folder's name), solver timings in solution.json, logs and benchmark files."""
    config = ["demo={n_frames: 6, n_cells: 4, seed: 2}", "frames_per_job=3"]
    for name in ("a", "b"):
        snakemake("--config", f"out={tmp_path / name}", *config)
    a, b = tmp_path / "a", tmp_path / "b"
    skip = {".lineageflow.lock", "qc.png", "solution.json", ".snakemake_timestamp", "classifier.pkl"}
    compared = 0
    for f in sorted(a.rglob("*")):
        rel = f.relative_to(a)
        if f.is_dir() or f.name in skip or rel.parts[0] in ("logs", "benchmarks"):
            continue
        assert (b / rel).read_bytes() == f.read_bytes(), rel
        compared += 1
    assert compared > 40
    metrics = (a / "eval" / "metrics.json").read_text()
    assert '"gt_dir": "demo/01_GT"' in metrics and '"pred_dir": "ctc"' in metrics and str(tmp_path) not in metrics
