"""Reliability: failures found before any job runs, stale leftovers cleaned (issue #11)."""

import errno
import importlib.util
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

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


# --- a full disk during an export, a failed report ---------------------------------------------------------------

@pytest.fixture
def rule_script(monkeypatch):
    """Load scripts/NAME.py (its main) as Snakemake would run it; restore the logging set-up run() changes."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.raiseExceptions

    def load(name):
        spec = importlib.util.spec_from_file_location(f"lineageflow_rule_script_{name}", ROOT / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    yield load
    for h in root.handlers[:]:
        root.removeHandler(h)
        h.close()
    for h in saved[0]:
        root.addHandler(h)
    root.setLevel(saved[1])
    logging.raiseExceptions = saved[2]
    logging.captureWarnings(False)


def _smk(inputs: dict, output: Path, log: Path, **params):
    from _helpers import _Files

    return SimpleNamespace(input=_Files({k: str(v) if isinstance(v, Path) else v for k, v in inputs.items()}),
                           output=_Files({"out": str(output)}), params=SimpleNamespace(**params),
                           wildcards=SimpleNamespace(), log=[str(log)], threads=1)


def _run_until_disk_full(script, smk, capsys):
    from _helpers import run

    with pytest.raises(SystemExit) as stop:
        run(script.main, smk)
    return stop.value.code, capsys.readouterr().err


def _assert_one_disk_full_line(err: str, folder: Path, written: Path):
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    pattern = (rf"lineageflow error: no space left on the device holding {re.escape(str(folder))} "
               rf"\(\d+(\.\d)? (bytes|kB|MB|GB|TB) free\): writing {re.escape(str(written))} failed\n")
    assert re.fullmatch(pattern, err), err


def _enospc(path):
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def _h5py_style(path):  # no errno, the cause only in the message (h5py, zarr)
    return OSError(f"Can't write data (file write failed: filename = '{path}', errno = 28, "
                   f"error message = 'No space left on device')")


@pytest.mark.parametrize("error", [_enospc, _h5py_style])
def test_disk_full_during_csv_export_is_one_line_and_keeps_the_previous_file(tmp_path, rule_script, monkeypatch,
                                                                             capsys, error):
    """A disk that fills while objects.csv is written: exit 1, one line naming the device's folder, the free space
    and the file, no traceback; no truncated file or temporary left, the previous objects.csv untouched."""
    import pandas as pd

    from export_checks import small_lineage
    from lineageflow.io import write_table

    lin, _, _, _ = small_lineage(2)
    write_table(tmp_path / "in" / "nodes.parquet", lin.nodes)
    folder = tmp_path / "out" / "csv"
    folder.mkdir(parents=True)
    (folder / "objects.csv").write_text("the previous export\n")
    script = rule_script("export_csv")

    def fill_the_disk(self, path, *args, **kwargs):
        Path(path).write_text("frame,labelimageId,trackId\n0,1,")  # what fitted before the disk was full
        raise error(path)

    monkeypatch.setattr(pd.DataFrame, "to_csv", fill_the_disk)
    log = tmp_path / "logs" / "export_csv.log"
    log.parent.mkdir()
    code, err = _run_until_disk_full(script, _smk({"nodes": tmp_path / "in" / "nodes.parquet"},
                                                  folder / "objects.csv", log, ndim=2), capsys)
    assert code == 1
    _assert_one_disk_full_line(err, folder, folder / "objects.csv")
    assert sorted(p.name for p in folder.iterdir()) == ["objects.csv"]
    assert (folder / "objects.csv").read_text() == "the previous export\n"
    assert err.split("lineageflow error: ")[1].strip() in log.read_text() and "Traceback" not in log.read_text()


def test_disk_full_during_ctc_export_names_the_mask_and_keeps_the_previous_folder(tmp_path, rule_script,
                                                                                  monkeypatch, capsys):
    """A folder output (CTC): the disk fills at the third mask; the line names that mask under its final name
    (not atomic_path's temporary), and the previous ctc folder is left as it was, with nothing beside it."""
    import tifffile

    from export_checks import small_lineage
    from lineageflow.export.ctc import mask_name
    from lineageflow.io import write_label_chunk, write_table

    lin, labels, _, _ = small_lineage(2)
    n = len(labels)
    inputs = tmp_path / "in"
    write_table(inputs / "nodes.parquet", lin.nodes)
    lin.tracks.to_csv(inputs / "tracks.csv", index=False)
    write_label_chunk(inputs / "labels.h5", labels, t0=0)
    out = tmp_path / "out"
    (out / "ctc").mkdir(parents=True)
    (out / "ctc" / "res_track.txt").write_text("1 0 0 0\n")
    script = rule_script("export_ctc")
    written = []
    imwrite = tifffile.imwrite

    def fill_the_disk(path, data, **kwargs):
        if len(written) == 2:
            Path(path).write_bytes(b"II*\0")
            raise _enospc(path)
        written.append(path)
        return imwrite(path, data, **kwargs)

    monkeypatch.setattr(tifffile, "imwrite", fill_the_disk)
    log = tmp_path / "export_ctc.log"
    code, err = _run_until_disk_full(script, _smk({"nodes": inputs / "nodes.parquet", "tracks": inputs / "tracks.csv",
                                                   "labels": [str(inputs / "labels.h5")]}, out / "ctc", log,
                                                  n_frames=n), capsys)
    assert code == 1 and len(written) == 2
    _assert_one_disk_full_line(err, out, out / "ctc" / mask_name(2, n))
    assert sorted(p.name for p in out.iterdir()) == ["ctc"]
    assert sorted(p.name for p in (out / "ctc").iterdir()) == ["res_track.txt"]
    assert (out / "ctc" / "res_track.txt").read_text() == "1 0 0 0\n"


def test_a_failed_report_keeps_the_previous_page_and_a_rerun_replaces_it(tmp_path):
    """Snakemake deletes a job's outputs before it runs: the page is rendered to a staging file (rule report_render)
    and moved onto report.html (rule report) only when complete, so a render that fails keeps the last report."""
    out = tmp_path / "out"
    config = ["--config", f"out={out}", "demo={n_frames: 4, n_cells: 3, seed: 1}", "frames_per_job=4"]
    snakemake("report", *config)
    folder = out / "report"
    page, history = folder / "report.html", folder / "history.json"
    before, saved = page.read_bytes(), history.read_bytes()
    assert before.rstrip().endswith(b"</html>") and not (folder / ".report.html.new").exists()
    # the render fails after it has started and drawn figures: its history is not a file it can read
    history.unlink()
    history.mkdir()
    proc = snakemake("report", *config, "--forcerun", "report", check=False)
    assert proc.returncode != 0 and "report_render" in proc.text
    assert "IsADirectoryError" in (folder / "logs" / "report_render.log").read_text()
    assert page.read_bytes() == before
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # no staging file, no temporary
    # repaired, the next report replaces the page
    history.rmdir()
    history.write_bytes(saved)
    snakemake("report", *config, "--forcerun", "report")
    after = page.read_bytes()
    assert after != before and after.rstrip().endswith(b"</html>")
    assert [h["run"] for h in json.loads(history.read_text())] == [1, 2]
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_ground_truth_failing_the_ctc_checks_stops_before_any_job(tmp_path):
    """#11 item 6: a GT folder that fails the CTC checks is named at the start, not after every export."""
    import shutil

    import numpy as np
    import tifffile

    from lineageflow.synthetic import SyntheticConfig, generate

    generate(tmp_path / "seq", SyntheticConfig(n_frames=6, n_cells=3, seed=1))
    gt = tmp_path / "seq" / "01_GT"
    bad = tmp_path / "bad_GT"
    shutil.copytree(gt, bad)
    mask = bad / "TRA" / "man_track002.tif"
    img = tifffile.imread(mask)
    tifffile.imwrite(mask, np.where(img == 1, 0, img).astype(img.dtype))  # track 1 now misses frame 2
    proc = snakemake("--config", f"input={tmp_path / 'seq' / '01'}", f"gt={bad}", f"out={tmp_path / 'out'}",
                     check=False)
    assert proc.returncode != 0
    message = [line for line in proc.stderr.splitlines() if line.startswith("lineageflow:")]
    assert len(message) == 1 and "track 1 (frames 0..5) is missing from the masks of frames [2]" in message[0], \
        proc.stderr[-2000:]
    assert "man_track.txt" in message[0]
    assert not (tmp_path / "out" / "pixels").exists()  # no job ran
    # the intact ground truth passes, once: the pass is recorded in OUT and not repeated for the same files
    snakemake("-n", "--config", f"input={tmp_path / 'seq' / '01'}", f"gt={gt}", f"out={tmp_path / 'out2'}")
    assert not (tmp_path / "out2" / ".lineageflow.gt_check.json").exists()  # a dry run records nothing


def test_stale_snakemake_locks_on_the_output_folder_are_removed(tmp_path):
    """Locks a killed Snakemake left (all its outputs in OUT) go once OUT is held; others stay."""
    from lineageflow import outlock

    out = tmp_path / "out"
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text(f"{out}/pixels/a.h5\n{out}/track/lineage.json\n")
    (locks / "0.input.lock").write_text("/data/movie/t000.tif\n")
    (locks / "1.output.lock").write_text(f"{out}/x.csv\n{tmp_path}/elsewhere/y.csv\n")
    (locks / "1.input.lock").write_text("")
    removed = outlock.clear_stale_snakemake_locks(out, tmp_path)
    assert sorted(p.name for p in removed) == ["0.input.lock", "0.output.lock"]
    assert sorted(p.name for p in locks.iterdir()) == ["1.input.lock", "1.output.lock"]
    assert outlock.clear_stale_snakemake_locks(out, tmp_path / "nowhere") == []
