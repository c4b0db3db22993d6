"""Every export rule on real runs (2D demo, 3D demo, Fluo-N2DH-SIM+/01), checked by independent readers:
lineagetree and pycellin (MaMuT), geff, pycellin, tracksdata and funtracks (GEFF), pycellin (CTC), pandas (CSV,
napari, ilastik); structure against the real MaMuT/BigDataViewer files; reruns are byte-identical; bad input gives
one clear message."""

import json
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from conftest import ROOT, require_shared
from export_checks import (check_bdv_structure, check_csv, check_geff, check_ilastik, check_mamut_positions,
                           check_mamut_readers, check_mamut_structure, check_napari, counts, read_ctc_with_pycellin)
from lineageflow.config import load_schema, validate_config
from lineageflow.errors import ConfigError
from lineageflow.io import read_table
from lineageflow.lineage import Lineage
from workflow_helpers import copy_run, snakemake

EXPORT_TARGETS = ["ctc", "mamut", "csv/objects.csv", "geff/lineage.zarr", "napari", "ilastik"]
EXPORT_RULES = ["export_ctc", "export_mamut", "export_csv", "export_geff", "export_napari", "export_ilastik"]
# seed 1 has a division within 8 frames (seed 3, the other tests' small demo, has none)
DEMO_2D = "demo={n_frames: 8, n_cells: 6, seed: 1}"
DEMO_3D = "demo={ndim: 3, n_frames: 8, n_cells: 6, seed: 1, shape: [8, 64, 64]}"


def run_exports(out, *config):
    snakemake(*(str(out / t) for t in EXPORT_TARGETS), "--config", f"out={out}", *config)
    return out


def lineage_of(out):
    nodes, meta = read_table(out / "track" / "lineage_nodes.parquet")
    return Lineage.from_tables(nodes, pd.read_csv(out / "track" / "tracks.csv")), meta


def check_all_exports(out):
    """All exports of a run agree with its lineage, by their independent readers; returns what they read."""
    lin, meta = lineage_of(out)
    vs, ndim = meta["voxel_size"], len(meta["voxel_size"])
    ours = counts(lin)
    lt, pc, _ = check_mamut_readers(out / "mamut" / "mamut.xml", lin)
    check_mamut_positions(out / "mamut" / "mamut.xml", lin, ndim)
    n_edges = check_mamut_structure(out / "mamut" / "mamut.xml")
    assert n_edges == ours["edges"]
    assert check_bdv_structure(out / "mamut") == meta["n_frames"]
    check_csv(out / "csv" / "objects.csv", lin, ndim)
    _, geff_pc = check_geff(out / "geff" / "lineage.zarr", lin, vs, meta["n_frames"])
    check_napari(out / "napari", lin, vs)
    check_ilastik(out / "ilastik", lin, ndim)
    ctc, n_masks = read_ctc_with_pycellin(out / "ctc")
    assert ctc == {k: ours[k] for k in ctc} and n_masks == meta["n_frames"]
    assert json.loads((out / "track" / "lineage.json").read_text())["n_divisions"] == ours["divisions"]
    for rule in EXPORT_RULES:
        assert (out / "logs" / f"{rule}.log").exists() and (out / "benchmarks" / f"{rule}.tsv").exists()
    report = {"ours": ours, "lineagetree (MaMuT)": lt, "pycellin (MaMuT)": pc, "pycellin (GEFF)": geff_pc,
              "pycellin (CTC)": ctc}
    print(out.name, json.dumps(report))
    return report


@pytest.fixture(scope="module")
def demo2d(tmp_path_factory):
    return run_exports(tmp_path_factory.mktemp("exp2d") / "out", DEMO_2D, "frames_per_job=4", "pixels={n_trees: 30}")


def test_demo_2d_exports_pass_their_readers(demo2d):
    report = check_all_exports(demo2d)
    assert report["ours"]["divisions"] >= 1


def test_demo_2d_rerun_is_byte_identical_and_replaces_folders(demo2d, tmp_path):
    def files(root):
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    def exported(out):
        return {t: files(out / t) if (out / t).is_dir() else (out / t).read_bytes() for t in EXPORT_TARGETS}

    # the rerun replaces the exports of a copy of the run: demo2d stays as its fixture made it for the other tests
    out = copy_run(demo2d, tmp_path)
    proc = snakemake(*(str(out / t) for t in EXPORT_TARGETS), "--config", f"out={out}", DEMO_2D, "frames_per_job=4",
                     "pixels={n_trees: 30}", "--forcerun", *EXPORT_RULES)
    for rule in EXPORT_RULES:
        assert rule in proc.text, rule
    before, after = exported(demo2d), exported(out)
    for t in EXPORT_TARGETS:
        assert after[t] == before[t], t
    leftovers = [p.name for d in (out, out / "csv", out / "geff", out / "napari", out / "ilastik") for p in d.iterdir()
                 if p.name.startswith(".") and p.name.endswith((".tmp", ".old"))]
    assert leftovers == []


def test_demo_3d_exports_pass_their_readers(tmp_path):
    out = run_exports(tmp_path / "out", DEMO_3D, "frames_per_job=4", "pixels={n_trees: 30}")
    lin, meta = lineage_of(out)
    assert meta["voxel_size"] == [2.0, 1.0, 1.0]
    check_all_exports(out)


def test_sim_exports_pass_their_readers(tmp_path):
    """Fluo-N2DH-SIM+/01 with its ground-truth masks as objects (tracking only, like test_accuracy_ctc)."""
    seq = require_shared("Fluo-N2DH-SIM+", "01")
    out = run_exports(tmp_path / "sim", f"input={seq}", f"objects={{labels: {seq.parent / '01_GT' / 'TRA'}, min_size: 0}}",
                      "tracking={keep_all_objects: true}")
    report = check_all_exports(out)
    # every GT object is an object of ours and kept (keep_all_objects); a track of man_track.txt is in every frame
    # from B to E. Only a merger split after tracking could add objects. The divisions are the tracker's.
    man = pd.read_csv(seq.parent / "01_GT" / "TRA" / "man_track.txt", sep=r"\s+", names=["L", "B", "E", "P"])
    assert report["ours"]["spots"] >= int((man["E"] - man["B"] + 1).sum())
    assert report["ours"]["divisions"] >= 20


def _script(name, *args):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], cwd=ROOT, capture_output=True,
                          text=True)


def test_mamut_without_raw_names_the_missing_input_and_config_key(demo2d, tmp_path):
    track = demo2d / "track"
    common = ["--input", f"nodes={track / 'lineage_nodes.parquet'}", f"tracks={track / 'tracks.csv'}",
              "--output", f"out={tmp_path / 'mamut'}"]
    params = {"n_frames": 8, "voxel_size": [1.0, 1.0], "raw": {"path": "", "dataset": "", "axes": "", "channel": 0}}
    proc = _script("export_mamut.py", *common, "--params", json.dumps(params))
    lines = [line for line in proc.stderr.splitlines() if line.startswith("lineageflow error:")]
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert "raw movie is missing" in lines[0] and "config key 'input'" in lines[0] and "'exports'" in lines[0]
    params["raw"]["path"] = str(tmp_path / "no_such_movie")
    proc = _script("export_mamut.py", *common, "--params", json.dumps(params))
    lines = [line for line in proc.stderr.splitlines() if line.startswith("lineageflow error:")]
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert str(tmp_path / "no_such_movie") in lines[0] and "config key 'input'" in lines[0]
    assert not (tmp_path / "mamut").exists()


def test_exports_config_key():
    schema = load_schema(ROOT / "config" / "schema.yaml")
    assert validate_config({}, schema)["exports"] == ["ctc", "mamut", "csv", "geff"]
    assert validate_config({"exports": "[csv, geff]"}, schema)["exports"] == ["csv", "geff"]  # as --config gives it
    assert validate_config({"exports": []}, schema)["exports"] == []
    assert validate_config({"exports": "[napari, ilastik]"}, schema)["exports"] == ["napari", "ilastik"]
    with pytest.raises(ConfigError, match=r"'exports.1' has the value 'mamutt'.*'ctc', 'mamut', 'csv', 'geff', "
                                          r"'napari', 'ilastik'"):
        validate_config({"exports": ["ctc", "mamutt"]}, schema)
    with pytest.raises(ConfigError, match="'exports' has the value 'csv'.*array"):
        validate_config({"exports": "csv"}, schema)


def test_exports_key_selects_the_new_export_rules(demo2d, tmp_path):
    """`exports` decides which export rules rule all runs: on a finished demo run, asking for napari and ilastik
    runs exactly those two exports."""
    out = copy_run(demo2d, tmp_path)
    for name in ("napari", "ilastik", "mamut", "geff"):
        shutil.rmtree(out / name, ignore_errors=True)
    proc = snakemake("-n", "--config", f"out={out}", DEMO_2D, "frames_per_job=4", "pixels={n_trees: 30}",
                     "exports=[ctc, napari, ilastik]")
    planned = set(re.findall(r"^rule (export_\w+):", proc.text, flags=re.M))
    assert planned == {"export_napari", "export_ilastik"}, proc.text[-3000:]
