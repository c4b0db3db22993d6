"""Progress in the jobs' logs: per-frame progress with an ETA (lineageflow.progress), the solvers' own log routed to
the log instead of silence (solvers.solver_output_logged, native_output.stdout_to_log) without changing results,
and third-party progress bars kept off the terminal (scripts/_helpers.py)."""

import ctypes
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, skip_or_fail
from helpers import random_tracking
from lineageflow import ilp, solvers
from lineageflow.native_output import stdout_to_log
from lineageflow.progress import Progress, format_eta, progress, progress_line
from lineageflow.synthetic import SyntheticConfig, generate


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def messages(caplog, name="lineageflow"):
    return [r.getMessage() for r in caplog.records if r.name == name]


# ---------------------------------------------------------------- progress with an ETA


def test_progress_line_format():
    assert progress_line("frame", 12, 25, 31 / 13 * 12) == "frame 12/25 (48 %), ETA 0:00:31"
    assert progress_line("frame", 25, 25, 3725.2) == "frame 25/25 (100 %), done in 1:02:05"
    assert format_eta(0) == "0:00:00" and format_eta(0.2) == "0:00:00" and format_eta(59.6) == "0:01:00"


def test_progress_logs_first_each_tenth_and_last(caplog):
    clock, log = Clock(), logging.getLogger("lineageflow")
    caplog.set_level(logging.INFO, "lineageflow")
    seen = []
    for t in progress(range(100, 125), 25, log, clock=clock):
        clock.now += 2.0  # every frame takes 2 s
        seen.append(t)
    assert seen == list(range(100, 125))
    lines = messages(caplog)
    # the first frame, then each further tenth of 25 frames (3, 5, 8, 10, 13, 15, 18, 20, 23), then the last
    done = [int(line.split()[1].split("/")[0]) for line in lines]
    assert done == [1, 3, 5, 8, 10, 13, 15, 18, 20, 23, 25]
    assert lines[0] == "frame 1/25 (4 %), ETA 0:00:48"
    assert lines[4] == "frame 10/25 (40 %), ETA 0:00:30"
    assert lines[-1] == "frame 25/25 (100 %), done in 0:00:50"


def test_progress_logs_slow_items_by_time(caplog):
    """Within a tenth, a line at least every `interval` seconds: a slow job keeps saying where it is."""
    clock, log = Clock(), logging.getLogger("lineageflow")
    caplog.set_level(logging.INFO, "lineageflow")
    counter = Progress(1000, log, "sampled frame", interval=30, clock=clock)
    for _ in range(60):  # 60 of 1000 items at 1 s each: within the first tenth
        clock.now += 1.0
        counter.step()
    assert messages(caplog) == ["sampled frame 1/1000 (0 %), ETA 0:16:39", "sampled frame 31/1000 (3 %), ETA 0:16:09"]


def test_progress_with_nothing_to_do_logs_nothing(caplog):
    caplog.set_level(logging.INFO, "lineageflow")
    assert list(progress([], 0, logging.getLogger("lineageflow"))) == []
    assert messages(caplog) == []


# ---------------------------------------------------------------- what compiled code prints, in the log


def test_stdout_to_log_takes_c_and_python_output_and_restores_stdout(caplog, capfd):
    caplog.set_level(logging.INFO, "test.native")
    logger = logging.getLogger("test.native")
    libc = ctypes.CDLL(None)
    with stdout_to_log(logger):
        libc.printf(b"from C %d\n", ctypes.c_int(42))  # C stdio, block-buffered on a pipe
        os.write(1, b"raw fd line\r\n\n")
        print("from python", file=sys.__stdout__)  # a rule script's print (pytest replaces sys.stdout)
    print("after the block")
    assert messages(caplog, "test.native") == ["from C 42", "raw fd line", "from python"]
    out = capfd.readouterr().out
    assert "after the block" in out and "from C" not in out and "raw fd line" not in out


USABLE = {n for n, v in solvers.available_solvers().items() if not v.startswith("unavailable")}
MARKERS = {"gurobi": ("gurobipy", "Gurobi Optimizer version"), "cbc": ("lineageflow.solver", "Cbc0"),
           "highs": ("lineageflow.solver", "Solving report")}


@pytest.mark.parametrize("backend", ["gurobi", "cbc", "highs"])
def test_solver_log_goes_to_the_log_and_changes_nothing(backend, caplog, capfd):
    if backend not in USABLE or (backend == "gurobi" and solvers._gurobi_licence_problem(2000, 2000)):
        skip_or_fail(f"{backend} not usable here: {solvers.available_solvers()[backend]}")
    milp = ilp.build(*random_tracking(11)).milp
    quiet = solvers.solve(milp, backend)
    capfd.readouterr()
    caplog.set_level(logging.INFO)
    caplog.clear()
    with solvers.solver_output_logged():
        logged = solvers.solve(milp, backend)
    np.testing.assert_array_equal(quiet.x, logged.x)
    assert logged.objective == quiet.objective and logged.status == quiet.status == "optimal"
    name, marker = MARKERS[backend]
    lines = messages(caplog, name)
    assert any(marker in line for line in lines), lines[:20]
    if backend == "gurobi":  # each line once: not also from the console
        assert messages(caplog, "lineageflow.solver") == []
    out = capfd.readouterr()
    assert marker not in out.out + out.err  # in the log, not on the terminal
    # outside the block the solvers are silent again
    solvers.solve(milp, backend)
    assert marker not in capfd.readouterr().out


# ---------------------------------------------------------------- third-party progress bars


def test_rule_scripts_keep_tqdm_bars_off_the_terminal(tmp_path):
    """evaluate_tracking runs traccuracy, which draws tqdm bars on stderr unless the scripts' helpers turn them off."""
    generate(tmp_path / "data", SyntheticConfig(n_frames=4, n_cells=3, shape=(64, 64), seed=1))
    gt = tmp_path / "data" / "01_GT"
    pred = tmp_path / "pred"
    pred.mkdir()
    for f in sorted((gt / "TRA").iterdir()):  # the ground truth as a result: a valid CTC result folder
        name = f.name.replace("man_track", "mask" if f.suffix == ".tif" else "res_track")
        shutil.copy(f, pred / name)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    env.pop("TQDM_DISABLE", None)
    script = ROOT / "scripts" / "evaluate_tracking.py"
    args = ["--input", f"ctc={pred}", "--output", f"metrics={tmp_path / 'metrics.json'}",
            "--params", f'{{"gt": "{gt}", "out": "{tmp_path}"}}']
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "it/s" not in proc.stderr and "Evaluating" not in proc.stderr, proc.stderr
    # the check can fail: the same traccuracy call outside the scripts draws its bars
    code = ("from lineageflow.evaluate import evaluate_ctc; import sys; "
            f"evaluate_ctc(sys.argv[1], sys.argv[2])")
    bare = subprocess.run([sys.executable, "-c", code, str(pred), str(gt)], capture_output=True, text=True, env=env)
    assert bare.returncode == 0 and "it/s" in bare.stderr, bare.stderr
