"""A movies table run end to end: a 2D and a 3D generated movie (and a second 2D movie sharing the first one's
training movie) from one table in one Snakemake invocation, one DAG."""

import json
import re

import pytest
from workflow_helpers import assert_stops_before_any_job, snakemake

from lineageflow.synthetic import SyntheticConfig, generate


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("movies_run")
    for seq, seed in (("01", 1), ("02", 2), ("03", 3)):
        generate(root / "d2", SyntheticConfig(ndim=2, n_frames=6, n_cells=5, seed=seed), sequence=seq)
    generate(root / "d3", SyntheticConfig(ndim=3, n_frames=5, n_cells=4, seed=4, voxel_size=(2.0, 1.0, 1.0)),
             sequence="01")
    table = root / "movies.tsv"
    table.write_text("name\tinput\ttrain\tvoxel_size\n"
                     f"flat-a\t{root}/d2/02\t{root}/d2/01\t\n"
                     f"flat-b\t{root}/d2/03\t{root}/d2/01\t\n"
                     f"deep\t{root}/d3/01\t\t2,1,1\n")
    out = root / "res"
    proc = snakemake("all", "report", "--config", f"movies={table}", f"out={out}")
    return root, table, out, proc


def _jobs(text):
    return re.findall(r"^\s*(?:local)?rule (\w+):", text, flags=re.M)


def test_every_movie_is_tracked_and_scored_in_one_run(table_run):
    root, _, out, proc = table_run
    jobs = _jobs(proc.text)
    for name, prefix in (("flat-a", "movie_flat_a"), ("flat-b", "movie_flat_b"), ("deep", "movie_deep")):
        assert (out / name / "ctc" / "res_track.txt").is_file()
        metrics = json.loads((out / name / "eval" / "metrics.json").read_text())
        assert metrics["TRA"] >= 0.85, (name, metrics)
        assert f"{prefix}_track_window" in jobs and f"{prefix}_evaluate_tracking" in jobs
    # the 3D movie kept its own voxel size and trained on its own ground truth
    assert "movie_deep_pixels_train" in jobs
    # the end-of-run summary names each movie's folder and accuracy, then the report of all movies
    for name in ("flat-a", "flat-b", "deep"):
        assert f"lineageflow: movie {name} finished; results in {(out / name).resolve()}" in proc.stdout
    assert "accuracy (eval/metrics.json): TRA" in proc.stdout
    assert "lineageflow: the report of all movies" in proc.stdout
    meta = json.loads((out / "deep" / "track" / "lineage.json").read_text())
    assert json.dumps(meta)  # written
    assert (out / "deep" / "pixels" / "classifier.pkl").is_file()


def test_movies_with_one_training_movie_share_one_training(table_run):
    _, _, out, proc = table_run
    jobs = _jobs(proc.text)
    training = out / "training" / "d2_01"
    for rel in ("pixels/classifier.pkl", "classify/count_classifier.pkl", "classify/division_classifier.pkl"):
        assert (training / rel).is_file()
    assert jobs.count("training_d2_01_pixels_train") == 1 and jobs.count("training_d2_01_classify_train") == 1
    for name in ("flat-a", "flat-b"):
        assert not (out / name / "pixels" / "classifier.pkl").exists()
        assert not (out / name / "logs" / "pixels_train.log").exists()
    assert not any(j.startswith(("movie_flat_a_pixels_train", "movie_flat_b_classify_train")) for j in jobs)
    # only the jobs that make the models ran for the training movie: it is not tracked or exported
    assert not (training / "ctc").exists() and not any(j.startswith("training_d2_01_track") for j in jobs)


def test_one_report_covers_every_movie(table_run):
    _, _, out, proc = table_run
    page = (out / "report" / "report.html").read_text()
    for name in ("flat-a", "flat-b", "deep"):
        metrics = json.loads((out / name / "eval" / "metrics.json").read_text())
        assert name in page and f"{metrics['TRA']:.3f}" in page
        assert (out / "report" / f"tracks_{name}.png").stat().st_size > 0
    assert "d2_01" not in re.sub(r"<[^>]+>", "", page.split("Configuration")[0])  # the training is not reported
    assert f"report written to {(out / 'report' / 'report.html').resolve()}" in proc.text


def test_a_second_run_has_nothing_to_do(table_run):
    _, table, out, _ = table_run
    proc = snakemake("-n", "--config", f"movies={table}", f"out={out}")
    assert "Nothing to be done" in proc.text


def test_a_bad_row_stops_the_run_naming_its_line(table_run, tmp_path):
    root = table_run[0]
    table = tmp_path / "bad.tsv"
    table.write_text(f"name\tinput\tobjects.min_size\nok\t{root}/d2/02\t\nbad\t{root}/d2/03\tmany\n")
    assert_stops_before_any_job(tmp_path, [f"movies={table}"], ["bad.tsv, line 3 (bad)", "objects.min_size"])
