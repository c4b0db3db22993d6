"""The benchmark report: library units on tiny tables, the `report` target on a small demo run (sections, images,
numbers equal metrics.json, history across runs), a benchmark dataset run through report.datasets, the missing-GT
error, and the page opened in headless Chromium (skipped locally without chromium, required under CI)."""

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, require_shared, skip_or_fail
from lineageflow import report as R
from workflow_helpers import copy_run, snakemake

DEMO = "demo={n_frames: 8, n_cells: 6, seed: 1}"


# --- library units -----------------------------------------------------------------------------------------------

def _tsv(path: Path, seconds: float, rss):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"s\th:m:s\tmax_rss\tmax_vms\n{seconds}\t0:00:01\t{rss}\t1\n")


def test_benchmarks_sum_time_and_max_memory_per_rule(tmp_path):
    _tsv(tmp_path / "pixels_train.tsv", 2.0, 300)
    _tsv(tmp_path / "pixels_predict" / "0000-0009.tsv", 1.5, 200)
    _tsv(tmp_path / "pixels_predict" / "0010-0019.tsv", 2.5, 250.5)
    _tsv(tmp_path / "track_window" / "0000-0049.tsv", 4.0, "-")  # Snakemake writes '-' when it could not measure
    (tmp_path / "broken.tsv").write_text("")
    table = R.read_benchmarks(tmp_path).set_index("rule")
    assert table.loc["pixels_predict", "jobs"] == 2
    assert table.loc["pixels_predict", "seconds"] == pytest.approx(4.0)
    assert table.loc["pixels_predict", "max_rss_mb"] == pytest.approx(250.5)
    assert table.loc["pixels_train", "seconds"] == pytest.approx(2.0)
    assert np.isnan(table.loc["track_window", "max_rss_mb"])
    assert list(table.index) == ["pixels_predict", "track_window", "pixels_train"]  # slowest first
    assert R.read_benchmarks(tmp_path / "none").empty


def test_window_table_per_window_and_global():
    sol = {"solver": "cbc", "status": "optimal", "gap": 0.0, "frames": [0, 30], "n_objects": 5,
           "windows": [{"window": "0000-0019", "frames": [0, 20], "solver": "cbc", "status": "optimal", "gap": 0.0,
                        "seconds": 1.0, "n_objects": 3},
                       {"window": "0015-0029", "frames": [15, 30], "solver": "highs", "status": "time_limit",
                        "gap": 0.01, "seconds": 2.0, "n_objects": 4}]}
    table = R.window_table(sol)
    assert list(table["window"]) == ["0000-0019", "0015-0029"]
    assert list(table["frames"]) == ["0–19", "15–29"] and table["gap"].iloc[1] == 0.01
    glob = R.window_table({k: v for k, v in sol.items() if k != "windows"})
    assert list(glob["window"]) == ["global"] and glob["solver"].iloc[0] == "cbc"


def test_lineage_figure_is_deterministic_png():
    tracks = pd.DataFrame({"L": [1, 2, 3, 4], "B": [0, 5, 5, 0], "E": [4, 9, 7, 9], "P": [0, 1, 1, 0]})
    a = R.save_png(R.lineage_figure(tracks, "toy"))
    b = R.save_png(R.lineage_figure(tracks, "toy"))
    assert a[:8] == b"\x89PNG\r\n\x1a\n" and a == b
    assert b"matplotlib" not in a.lower()  # no software version in the PNG metadata


def test_pick_frames_spread_over_movie():
    assert R.pick_frames(30, 4) == [0, 10, 19, 29]
    assert R.pick_frames(2, 4) == [0, 1]
    assert R.pick_frames(0) == []


def test_history_counts_runs(tmp_path):
    run = R.RunData("a", "x", {"TRA": 0.9}, {}, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    R.append_history(tmp_path / "h.json", [run], {"k": 1})
    history = R.append_history(tmp_path / "h.json", [run], {"k": 2})
    assert [h["run"] for h in history] == [1, 2] and history[1]["TRA"] == {"a": 0.9}
    assert history[0]["config_hash"] != history[1]["config_hash"]


def test_no_history_plot_before_two_points():
    """One report run is one point: no plot (the page says when it starts), and the PNG the rule must write holds
    only a sentence. From two runs with TRA on, the points are plotted."""
    one = [{"run": 1, "TRA": {"a": 0.9}}]
    assert not R.history_has_trend(one) and not R.history_has_trend([{"run": 1, "TRA": {"a": None}},
                                                                      {"run": 2, "TRA": {"a": 0.9}}])
    fig = R.history_figure(one)
    assert all(not ax.lines and not ax.axison for ax in fig.axes)
    two = one + [{"run": 2, "TRA": {"a": 0.92, "b": 0.5}}]
    assert R.history_has_trend(two) and R.history_points(two) == {"a": [(1, 0.9), (2, 0.92)], "b": [(2, 0.5)]}
    fig = R.history_figure(two)
    assert [list(line.get_ydata()) for line in fig.axes[0].lines] == [[0.9, 0.92], [0.5]]


def test_wall_time_spans_first_job_start_to_last_job_end(tmp_path):
    import os

    _tsv(tmp_path / "pixels_train.tsv", 30.0, 300)  # ends at 1000: started at 970
    _tsv(tmp_path / "track_window" / "0000-0049.tsv", 5.0, 100)  # 1040
    _tsv(tmp_path / "track_window" / "0045-0094.tsv", 50.0, 100)  # 990-1040, in parallel
    for name, end in (("pixels_train.tsv", 1000), ("track_window/0000-0049.tsv", 1040),
                      ("track_window/0045-0094.tsv", 1040)):
        os.utime(tmp_path / name, (end, end))
    assert R.wall_seconds(tmp_path) == pytest.approx(70.0)
    assert R.wall_seconds(tmp_path / "none") is None
    assert [R.duration(v) for v in (None, 7.25, 70.0, 7384)] == ["–", "7.2 s", "1 min 10 s", "2 h 03 min"]


def test_pixel_size_and_scale_bar_length():
    nodes = pd.DataFrame({"centroid_x": [0.0, 10.0, 20.5], "pos_x": [0.0, 6.45, 13.2225]})
    assert R.pixel_size(nodes) == 0.645
    assert R.pixel_size(nodes.iloc[:1]) is None and R.pixel_size(nodes[["centroid_x"]]) is None
    assert [R.scale_bar_length(w) for w in (100, 512 * 0.645, 1.3, 7)] == [20.0, 50.0, 0.2, 1.0]


def test_tracks_figure_is_large_with_track_ids_and_a_scale_bar():
    rng = np.random.default_rng(0)
    mask = np.zeros((120, 200), np.uint16)
    mask[20:30, 20:30], mask[60:75, 100:115] = 4, 9
    nodes = pd.DataFrame({"frame": [0, 1, 1], "label": [4, 4, 9], "centroid_y": [24.5, 24.5, 67.0],
                          "centroid_x": [24.5, 24.5, 107.0], "track_id": [4, 4, 9]})
    raw_at = lambda t: rng.random(mask.shape) + (mask > 0)  # noqa: E731
    fig = R.tracks_figure(raw_at, lambda t: mask, nodes, [0, 1], "toy", pixel_size=0.5)
    assert fig.get_size_inches()[0] * 100 >= 1000  # two frames of 560 px side by side
    texts = [[t.get_text() for t in ax.texts] for ax in fig.axes]
    assert texts == [["4", "20 µm"], ["4", "9", "20 µm"]]  # 200 px of 0.5 µm: a 20 µm bar
    bar = fig.axes[0].lines[-1].get_xdata()
    assert bar[1] - bar[0] == pytest.approx(40)  # 20 µm = 40 px
    unscaled = R.tracks_figure(raw_at, lambda t: mask, nodes, [0, 1, 2])
    assert len(unscaled.axes) == 4 and "20 px" in [t.get_text() for t in unscaled.axes[0].texts]


def test_solver_reason_shortened_and_headers_in_words():
    assert R.short_reason("auto: gurobipy 13.0.3 is installed and licensed for this model (428 variables, 370 "
                          "constraints) (first window; every window's own in 'windows')") == \
        "auto: Gurobi, licensed for the model"
    assert R.short_reason("auto: gurobipy is not installed; using CBC (mip 1.11.0)") == \
        "auto: CBC (gurobipy is not installed)"
    assert R.short_reason("highspy 1.7 requested by tracking.solver") == "set by tracking.solver"
    long = "x" * 100
    assert R.short_reason(long) == "x" * 59 + "…"
    table = R._table(["dataset", "division_f1", "fp_nodes", "fn_nodes"], [["a", "1", "2", "3"]])
    assert "<th>division F1</th><th>false objects</th><th>missed objects</th>" in table


def test_provenance_names_the_git_commit_else_the_version(tmp_path, monkeypatch):
    git = shutil.which("git")
    head = subprocess.run([git, "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                          text=True).stdout.strip() if git else ""
    commit = R.git_commit(ROOT)
    assert (commit or "").startswith(head) if head else commit is None
    assert R.git_commit(tmp_path) is None  # not a checkout: the header names the package version
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    facts = R.provenance(tmp_path)
    assert facts["date"] == "2023-11-14 22:13 UTC" and facts["commit"] is None and facts["version"]


# --- the report target on a small demo run -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "out"
    snakemake("report", "--config", f"out={out}", DEMO, "frames_per_job=4")
    return out


def _section(page: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', page, re.S)
    assert m, f"section {sid} missing"
    return m.group(1)


def test_report_has_every_section_embedded_images_and_the_metrics(demo_report):
    page = (demo_report / "report" / "report.html").read_text()
    for sid, title in R.SECTIONS.items():
        if sid in ("weights", "flow"):  # only for runs that learnt their tracking weights
            assert f'id="{sid}"' not in page  # (tests/test_learn_workflow.py) or estimated flow (test_report_flow.py)
            continue
        assert title in _section(page, sid)
    # self-contained: no script, no external resource
    assert "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 4  # time/memory, lineage, tracks, QC; no history plot of one point
    assert all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    metrics = json.loads((demo_report / "eval" / "metrics.json").read_text())
    accuracy = _section(page, "accuracy")
    assert 0.5 < metrics["SEG"] <= 1 and metrics["seg_gt_objects"] > 0  # the demo's GT has SEG annotations
    for key in R.ACCURACY_KEYS:
        assert f"{metrics[key]:.4f}" in accuracy, key
    row = re.search(r"<tbody><tr>(.*?)</tr>", accuracy).group(1)
    cells = re.findall(r"<td>(.*?)</td>", row)
    assert cells[4:7] == [f"{metrics['SEG']:.4f}", str(metrics["fp_nodes"]), str(metrics["fn_nodes"])]
    assert "<th>SEG</th><th>false objects</th><th>missed objects</th>" in accuracy
    solution = json.loads((demo_report / "track" / "solution.json").read_text())
    solver = _section(page, "solver")
    assert solution["solver"] in solver and solution["windows"][0]["window"] in solver
    assert R.short_reason(solution["reason"]) in solver and solution["reason"] not in page  # in solution.json
    # readable column names: no snake_case key as a table header anywhere
    headers = re.findall(r"<th>(.*?)</th>", page)
    assert headers and not [h for h in headers if re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", h)], headers
    # the biology before the machine, in the page and in the navigation
    order = [page.index(f'<section id="{sid}">') for sid in ("accuracy", "lineage", "tracks", "history", "qc",
                                                            "time-memory", "solver", "configuration", "software")]
    assert order == sorted(order)
    # the header: date, input, wall time, and the workflow's git commit (else the package version)
    header = re.search(r"<header>(.*?)</header>", page, re.S).group(1)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", header)
    assert str(demo_report / "demo" / "01") in header
    wall = R.wall_seconds(demo_report / "benchmarks")
    assert wall and wall > 0 and f"<td>{R.duration(wall)}</td>" in header
    commit = R.git_commit(ROOT)
    assert (f"workflow git {commit.split()[0]}" if commit else f"lineageflow {R.provenance()['version']}") in header
    # one report run: TRA across runs is a sentence and a table, not a plot of one point
    history = _section(page, "history")
    assert "<img" not in history and "starts with the second report run" in history
    timing = _section(page, "time-memory")
    for rule in ("pixels_predict", "track_window", "evaluate_tracking"):
        assert f"<td>{rule}</td>" in timing
    assert "demo:" in _section(page, "configuration") and "n_frames: 8" in _section(page, "configuration")
    import snakemake as smk

    assert smk.__version__ in _section(page, "software")
    for png in ("time_memory.png", "tra_history.png", "lineage_out.png", "tracks_out.png", "qc_out.png"):
        assert (demo_report / "report" / png).read_bytes()[:4] == b"\x89PNG"
    # the run's own QC plot, and its flagged frames or that there are none
    assert (demo_report / "report" / "qc_out.png").read_bytes() == (demo_report / "qc" / "qc.png").read_bytes()
    qc = json.loads((demo_report / "qc" / "summary.json").read_text())
    quality = _section(page, "qc")
    assert f"{qc['n_frames']} frames" in quality and "qc/frames.csv" in quality
    assert ("no frame flagged" in quality) == (qc["n_flagged"] == 0)
    for f in qc["flagged"]:
        assert f"<td>{f['frame']}</td>" in quality


def test_report_history_grows_and_figures_are_reproducible(demo_report, tmp_path):
    # the second report run goes into a copy of the run (named "out" like it, as the figures are named after the
    # folder): demo_report stays as its fixture made it, one report run, whichever tests run before or after
    out = copy_run(demo_report, tmp_path)
    lineage = (out / "report" / "lineage_out.png").read_bytes()
    assert [h["run"] for h in json.loads((out / "report" / "history.json").read_text())] == [1]
    proc = snakemake("report", "--config", f"out={out}", DEMO, "frames_per_job=4", "--forcerun", "report")
    assert "pixels_predict" not in proc.text and "track_window" not in proc.text  # only the report is made again
    history = json.loads((out / "report" / "history.json").read_text())
    assert [h["run"] for h in history] == [1, 2]
    assert history[0]["TRA"] == history[1]["TRA"]
    page = (out / "report" / "report.html").read_text()
    assert _section(page, "history").count("<tr>") == 3  # header + two runs
    assert "<img" in _section(page, "history")  # two points: now a plot
    assert (out / "report" / "lineage_out.png").read_bytes() == lineage
    # the fixture's own report still has its one run
    assert [h["run"] for h in json.loads((demo_report / "report" / "history.json").read_text())] == [1]


def test_snakemake_report_collects_the_figures(demo_report, tmp_path):
    """Snakemake's own report (--report) picks up the report() outputs with their captions."""
    target = tmp_path / "smk_report.zip"
    snakemake("report", "--config", f"out={demo_report}", DEMO, "frames_per_job=4", "--report", str(target))
    import zipfile

    names = zipfile.ZipFile(target).namelist()
    for png in ("time_memory.png", "lineage_out.png", "tracks_out.png", "qc_out.png", "tra_history.png", "report.html"):
        assert any(n.endswith(png) for n in names), (png, names[:20])


# --- headless Chromium -------------------------------------------------------------------------------------------

def _chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        skip_or_fail("chromium not installed (Debian: apt-get install chromium)")
    return exe


def open_in_chromium(html: Path, screenshot: Path, profile: Path) -> list[str]:
    """Open a page in headless Chromium, save a screenshot; return the page's console messages (errors)."""
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
           f"--user-data-dir={profile}", "--window-size=1280,2000", f"--screenshot={screenshot}",
           html.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [line for line in proc.stderr.splitlines() if re.search(r"CONSOLE[:(]|Uncaught", line)]


def test_chromium_console_check_catches_javascript_errors(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><p>x</p><script>undefinedFunction();</script></body></html>")
    errors = open_in_chromium(bad, tmp_path / "bad.png", tmp_path / "profile")
    assert any("Uncaught" in e for e in errors), errors


def test_report_opens_in_headless_chromium(demo_report, tmp_path):
    shot = tmp_path / "report.png"
    errors = open_in_chromium(demo_report / "report" / "report.html", shot, tmp_path / "profile")
    assert errors == [], errors
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 20_000  # more than a blank page
    print(f"screenshot: {shot}")  # kept under pytest's basetemp (the last three runs), for a look by eye


# --- benchmark datasets and bad input ----------------------------------------------------------------------------

def test_benchmark_dataset_runs_the_workflow_into_its_folder(tmp_path):
    """report.datasets: each dataset is run by the workflow in a child Snakemake, then reported together."""
    from lineageflow.synthetic import SyntheticConfig, generate

    generate(tmp_path / "tiny", SyntheticConfig(n_frames=6, n_cells=4, seed=5))
    bench = tmp_path / "bench"
    datasets = (f"report={{out: {bench}, datasets: [{{name: tiny, input: {tmp_path / 'tiny' / '01'}, "
                "config: {frames_per_job: 3, pixels: {n_trees: 20}, classify: {n_trees: 20}}}]}")
    snakemake("report", "--config", datasets)
    run = json.loads((bench / "tiny" / "benchmark_run.json").read_text())
    assert run["out"] == str(bench / "tiny")
    assert (bench / "tiny" / "eval" / "metrics.json").exists()
    assert not (bench / "tiny" / "mamut").exists()  # only what the report needs was made
    page = (bench / "report" / "report.html").read_text()
    assert "tiny" in _section(page, "accuracy") and (bench / "report" / "tracks_tiny.png").exists()
    assert "tiny" in _section(page, "qc") and (bench / "report" / "qc_tiny.png").exists()


def test_benchmark_config_plans_the_shared_sequences():
    require_shared("Fluo-N3DH-CHO", "01")
    proc = snakemake("-n", "report", "--configfile", str(ROOT / "config" / "benchmark.yaml"))
    assert re.search(r"benchmark_dataset\s+3", proc.stdout), proc.stdout[-2000:]


def test_report_without_ground_truth_names_the_key(tmp_path):
    from lineageflow.synthetic import SyntheticConfig, generate

    generate(tmp_path / "a", SyntheticConfig(n_frames=4, n_cells=3, seed=2))
    shutil.copytree(tmp_path / "a" / "01", tmp_path / "b" / "01")  # a movie without ground truth
    config = ["--config", f"input={tmp_path / 'b' / '01'}", f"train={tmp_path / 'a' / '01'}",
              f"out={tmp_path / 'out'}"]
    assert snakemake("-n", *config).returncode == 0  # tracking without GT is fine
    proc = snakemake("-n", "report", *config, check=False)
    assert proc.returncode != 0
    message = [line for line in proc.stderr.splitlines()
               if line.startswith("lineageflow:") and not line.startswith("lineageflow: note:")]
    assert len(message) == 1, proc.stderr
    assert "ground truth" in message[0] and "'gt'" in message[0] and "01_GT" in message[0]
    assert not (tmp_path / "out").exists()
