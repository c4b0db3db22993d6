"""benchmarks/bench_speed.py: its summary of a real (tiny) demo run agrees with the run's benchmark files, it stops
with one line on a folder without them, and its baseline comparison prints both pipelines and their ratio.
Timings are printed, never asserted."""

import importlib.util
import re
import subprocess
import sys

import pandas as pd
import pytest

from conftest import ROOT
from lineageflow.synthetic import SyntheticConfig, generate
from workflow_helpers import snakemake

SCRIPT = ROOT / "benchmarks" / "bench_speed.py"
# the smallest demo that still runs every stage: one chunk, one window, one export (about 30 s on 2 cores)
TINY_DEMO = ["demo={n_frames: 6, n_cells: 4, seed: 3, shape: [96, 96]}", "exports=[ctc]"]
N_FRAMES = 6


@pytest.fixture(scope="module")
def bench_speed():
    sys.path.insert(0, str(SCRIPT.parent))  # the script imports its sibling _workflow_runs
    try:
        spec = importlib.util.spec_from_file_location("bench_speed", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(SCRIPT.parent))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("speed") / "out"
    snakemake("--config", f"out={out}", *TINY_DEMO)
    return out


def test_summary_of_a_demo_run_matches_its_benchmark_files(bench_speed, demo_run, capsys):
    assert bench_speed.main(["summary", str(demo_run), "--wall", "100", "--cores", "2"]) == 0
    text = capsys.readouterr().out
    files = sorted((demo_run / "benchmarks").rglob("*.tsv"))
    tables = {f: pd.read_csv(f, sep="\t") for f in files}
    assert all({"s", "cpu_time"} <= set(t.columns) for t in tables.values())  # Snakemake 9's columns

    predict = [f for f in files if f.parent.name == "pixels_predict"]
    row = re.search(r"^\| pixels_predict \| (\d+) \| ([\d.]+) \| ([\d.]+) \|", text, re.M)
    assert row, text
    assert int(row[1]) == len(predict) >= 1
    assert float(row[3]) == pytest.approx(sum(tables[f]["cpu_time"].mean() for f in predict), abs=0.006)

    s_per_frame = float(re.search(r"^job-s per frame \(all rules\): ([\d.]+)$", text, re.M)[1])
    assert s_per_frame == pytest.approx(sum(t["s"].mean() for t in tables.values()) / N_FRAMES, abs=1e-4)
    cpu_per_frame = float(re.search(r"^cpu_time per frame as Snakemake sampled it .*: ([\d.]+)$", text, re.M)[1])
    expected = pd.Series([t["cpu_time"].mean() for t in tables.values()]).sum() / N_FRAMES  # an "NA" counts 0
    assert cpu_per_frame == pytest.approx(expected, abs=1e-4)
    assert f"{N_FRAMES} frames" in text
    assert re.search(r"^pixels_predict: [\d.]+ job-s/MP .* 6 frames of 96×96", text, re.M), text

    total_s = sum(t["s"].mean() for t in tables.values())
    overhead = float(re.search(r"^orchestration overhead: (-?[\d.]+) %", text, re.M)[1])
    assert overhead == pytest.approx(100 * (200 - total_s) / 200, abs=0.06)


def test_summary_without_benchmark_files_stops_with_one_line(tmp_path):
    folder = tmp_path / "not_a_run"
    folder.mkdir()
    proc = subprocess.run([sys.executable, str(SCRIPT), "summary", str(folder)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert str(folder) in proc.stderr and "no Snakemake benchmark files" in proc.stderr


def test_baseline_prints_both_pipelines_and_their_ratio(bench_speed, tmp_path, capsys):
    generate(tmp_path, SyntheticConfig(n_frames=3, shape=(64, 64), n_cells=3, seed=1))
    assert bench_speed.main(["baseline", "--sequence", str(tmp_path / "01"), "--frames", "1"]) == 0
    text = capsys.readouterr().out
    ours = re.search(r"^\| ours .*\| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", text, re.M)
    base = re.search(r"^\| baseline .*\| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", text, re.M)
    assert ours and base, text
    assert int(ours[1]) > 0 and int(base[1]) > 0  # feature counts
    assert re.search(r"^ratio ours/baseline: total [\d.]+ \(features [\d.]+, forest [\d.]+\)$", text, re.M), text
    # the compiled forest (a C compiler is on PATH here): its own row and ratio, probabilities as scikit-learn's
    assert re.search(r"^\| ours, compiled forest .*\| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", text, re.M), text
    assert re.search(r"^ratio ours compiled forest/baseline: total [\d.]+ \(features [\d.]+, forest [\d.]+\)$",
                     text, re.M), text
    diff = re.search(r"largest difference to scikit-learn's probabilities (\S+)$", text, re.M)
    assert diff and float(diff[1]) <= 1e-6, text
