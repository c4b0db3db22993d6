"""Running the workflow from tests: the Snakemake command, the small demo config, copying a run, and the bad-config
check.

Shared by the workflow test files (import it; test files do not import each other)."""

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from conftest import ROOT

SMALL_DEMO = "demo={n_frames: 8, n_cells: 6, seed: 3}"


def snakemake(*args, cwd=ROOT, check=True):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "2", *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    proc.text = proc.stdout + proc.stderr  # Snakemake reports jobs on stdout in dry runs, on stderr in real ones
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def copy_run(out, tmp_path) -> Path:
    """A copy of the run folder ``out`` (a module fixture's, which tests must not change) to run Snakemake on.

    Snakemake keeps its records of the jobs that made each file (code, params, input) in the workflow's working
    directory ROOT, by path. The copy has the same name as ``out``, under a random folder of ``tmp_path``: pytest's
    tmp_path names come back when its numbering starts again (an emptied /tmp, the same checkout), and a copy at a
    path an earlier session ran in would be judged by that session's records. At a path never used the copied files
    have no records: missing files and modification times decide what runs (and a changed param reruns nothing, so
    a test forces the jobs it means to rerun)."""
    copy = Path(tmp_path) / uuid.uuid4().hex / Path(out).name
    shutil.copytree(out, copy)
    return copy


def assert_stops_before_any_job(tmp_path, config, words):
    """A dry run with this config fails with one `lineageflow:` line holding all ``words``, and writes nothing."""
    proc = snakemake("-n", "--config", f"out={tmp_path / 'out'}", *config, check=False)
    assert proc.returncode != 0
    message = [line for line in proc.stderr.splitlines() if line.startswith("lineageflow:")]
    assert len(message) == 1, proc.stderr
    for w in words:
        assert w in message[0], message[0]
    assert not (tmp_path / "out").exists()
