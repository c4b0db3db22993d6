"""Reliability: failures found before any job runs, with one line naming the cause (issue #11)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
