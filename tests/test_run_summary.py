"""The end-of-run summary (lineageflow.run_summary) on run folders written by lineageflow's own writers, with parts
missing or broken; the summary of a real run is checked in test_workflow.py (test_run_prints_its_summary)."""

import json
import os

import pandas as pd

from lineageflow import qc
from lineageflow.evaluate import write_metrics
from lineageflow.run_summary import report_command, summarise_run

METRICS = {"TRA": 0.9734, "DET": 0.981, "LNK": 0.95, "division_f1": 0.5, "n_gt_divisions": 2}


def qc_table(flags):
    return pd.DataFrame({"frame": range(len(flags)), "flags": flags, "n_objects": 5.0,
                         "mean_probability_margin": 0.9, "uncertain_fraction": 0.01})


def write_qc(out, flags, bad=()):
    """qc/summary.json as rule qc_summary writes it: qc.summary and qc.input_check_summary."""
    summary = qc.summary(qc_table(flags), {"count_jump": 0.5})
    check = pd.DataFrame({"frame": [b[0] for b in bad], "file": [f"t{b[0]:03d}.tif" for b in bad],
                          "kind": [b[1] for b in bad], "kinds": [b[1] for b in bad], "reason": "test", "note": ""})
    check = pd.concat([check, pd.DataFrame({"frame": [99], "file": "t099.tif", "kind": "ok", "kinds": "",
                                            "reason": "", "note": ""})], ignore_index=True)
    summary["input_check"] = qc.input_check_summary(check, "skip", {b[0] for b in bad})
    (out / "qc").mkdir(parents=True, exist_ok=True)
    (out / "qc" / "summary.json").write_text(json.dumps(summary))


def complete_run(out):
    """A run folder with every file the summary reads."""
    for rel in ("ctc", "mamut", "geff/lineage.zarr"):
        (out / rel).mkdir(parents=True)
    (out / "csv").mkdir()
    (out / "csv" / "objects.csv").write_text("frame\n")
    (out / "track").mkdir()
    (out / "track" / "lineage.json").write_text(json.dumps({"n_objects": 50, "n_tracks": 9, "n_lineages": 7,
                                                            "n_divisions": 2}))
    write_metrics(out / "eval" / "metrics.json", METRICS)
    write_qc(out, [""] * 8)
    return out


def test_complete_run_names_results_exports_accuracy_qc_and_report(tmp_path):
    out = complete_run(tmp_path / "out")
    page = out / "report" / "report.html"
    text = summarise_run(out, exports=["ctc", "mamut", "csv", "geff"], gt="GT",
                         report_command="snakemake report --config out=x", report_page=page)
    lines = text.splitlines()
    assert lines[0] == f"lineageflow: run finished; results in {out.resolve()}"
    assert "exports: CTC ctc/, MaMuT + BigDataViewer mamut/, CSV csv/objects.csv, GEFF geff/lineage.zarr" in text
    assert "lineage: 50 objects, 9 tracks, 7 lineages, 2 divisions" in text
    assert "TRA 0.973, DET 0.981, LNK 0.950, division F1 0.500" in text
    assert "QC: 8 frames, none flagged" in text and "WARNING" not in text
    assert "report: snakemake report --config out=x" in text
    assert f"report page: {page.resolve()} (not made yet)" in text
    assert "missing" not in text
    page.parent.mkdir()
    page.write_text("<html></html>")
    assert f"report page: {page.resolve()} (last written " in summarise_run(out, report_page=page)


def test_qc_warnings_and_bad_frames_are_named(tmp_path):
    out = complete_run(tmp_path / "out")
    flags = [""] * 20
    for t in range(2, 12):
        flags[t] = "object count jump"
    write_qc(out, flags, bad=[(3, "empty"), (7, "saturated")])
    text = summarise_run(out)
    warning = next(line for line in text.splitlines() if "flagged as unreliable" in line)
    assert warning.startswith("  QC WARNING: 10 of 20 frames flagged as unreliable: frame 2 (object count jump)")
    assert "frame 9 (object count jump); and 2 more (see qc/frames.csv)" in warning
    assert "frame 10" not in warning
    assert "2 bad input frame(s): frame 3 empty, skipped; frame 7 saturated, skipped" in text


def test_missing_parts_are_named_without_failing(tmp_path):
    out = tmp_path / "out"
    (out / "ctc").mkdir(parents=True)
    (out / "napari").mkdir()
    text = summarise_run(out, exports=["ctc", "mamut", "csv", "napari", "ilastik"], gt="GT")
    assert "exports: CTC ctc/, napari tracks napari/\n" in text
    assert "missing exports: mamut (mamut/ not found), csv (csv/objects.csv not found), ilastik (ilastik/ not found)" in text
    assert "lineage: missing (track/lineage.json not found)" in text
    assert "accuracy: missing (eval/metrics.json not found)" in text
    assert "QC: missing (qc/summary.json not found)" in text
    # without ground truth, no metrics is expected: said so, not called missing
    assert "accuracy: not measured (no ground truth given: config key 'gt')" in summarise_run(out, gt="")
    # exports not named by the caller: the ones this module knows that were found
    assert "exports: CTC ctc/, napari tracks napari/\n" in summarise_run(out)


def test_broken_files_are_described_not_raised(tmp_path):
    out = complete_run(tmp_path / "out")
    (out / "eval" / "metrics.json").write_text("{not json")
    (out / "qc" / "summary.json").write_text("[1, 2]")
    text = summarise_run(out)
    assert "accuracy: could not be read (JSONDecodeError" in text
    assert "QC: could not be read (ValueError" in text and "does not hold a JSON object" in text
    assert "lineage: 50 objects" in text  # the readable parts are still there


def test_division_f1_undefined_says_why(tmp_path):
    out = complete_run(tmp_path / "out")
    write_metrics(out / "eval" / "metrics.json", {**METRICS, "division_f1": None, "n_gt_divisions": 0})
    assert "division F1 n/a: no divisions in the ground truth" in summarise_run(out)
    write_metrics(out / "eval" / "metrics.json", {"TRA": 0.9})
    text = summarise_run(out)
    assert "TRA 0.900, DET missing, LNK missing, division F1 missing" in text


def test_absent_results_folder(tmp_path):
    text = summarise_run(tmp_path / "never", report_command="snakemake report")
    assert f"nothing was written there: {tmp_path / 'never'} does not exist" in text
    assert text.endswith("  report: snakemake report")


def test_report_command_keeps_config_and_execution_options_only():
    argv = ["/usr/bin/snakemake", "-s", "/w/Snakefile", "--cores", "2", "OUT/mamut", "--forceall",
            "--config", "out=/tmp/o", "demo={n_frames: 8}", "--configfile", "a.yaml", "b.yaml", "-R", "track_window",
            "--workflow-profile", "profiles/slurm", "-c4", "--jobs=10", "--sdm", "conda", "--printshellcmds"]
    assert report_command(argv) == (
        "snakemake report -s /w/Snakefile --cores 2 --config out=/tmp/o 'demo={n_frames: 8}' --configfile a.yaml "
        "b.yaml --workflow-profile profiles/slurm -c4 --jobs=10 --sdm conda")


def test_report_command_cores_without_a_number_takes_no_target():
    assert report_command(["snakemake", "--cores", "all"]) == "snakemake report --cores all"
    assert report_command(["snakemake", "--cores", "OUT/ctc"]) == "snakemake report --cores"
    assert report_command([os.path.join("x", "__main__.py")]) == "snakemake report"
