"""A frame of the input edited in place (issue #11): the jobs of a chunk depend on that chunk's own frame files, so a
bad frame fixed by copying a good one over it reruns its chunk's jobs and what follows them, and nothing else.

The run's frames are chosen so that the edited frame is neither one the pixel classifier trains on nor one the
intensity levels are sampled from (both are frames 0 and 11), which would rightly rerun every chunk."""

import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile

from conftest import ROOT
from lineageflow.config import load_schema, validate_config
from lineageflow.inputs import normalisation_frames, resolve
from lineageflow.io import list_frames
from lineageflow.outlock import LOCK_NAME
from lineageflow.synthetic import SyntheticConfig, generate
from workflow_helpers import snakemake

N_FRAMES, FRAMES_PER_JOB = 12, 4
CHUNKS = ("0000-0003", "0004-0007", "0008-0011")
EDITED, DONOR, CHUNK = 5, 2, "0004-0007"  # frame 5 gets frame 2's pixels; it lies in chunk 0004-0007
# pixel training (train_frames 2) and intensity levels (sample_frames 2) read the first and the last frame only
CONFIG = [f"frames_per_job={FRAMES_PER_JOB}", "pixels={n_trees: 20, train_frames: 2, normalise: {sample_frames: 2}}",
          "classify={n_trees: 20}"]
# only files' modification times (and Snakemake's input checksums) decide what reruns here, not the code or params
# recorded by the run before, so that the test measures the input dependencies alone
MTIME_ONLY = ("--rerun-triggers", "mtime")
# per-chunk rules whose jobs read only their own chunk (its frames, or files made from them), with their outputs
CHUNK_OUTPUTS = {"pixels_predict": "pixels/probabilities/{}.h5", "objects_threshold": "objects/labels/{}.h5",
                 "objects_features": "objects/features/{}.parquet"}

_JOB = re.compile(r"^(?:local)?rule (\w+):$")


def reported_jobs(text: str) -> dict:
    """The jobs Snakemake reports running (or would run, in a dry run): (rule, wildcards) → its indented fields
    (input, reason, ...); wildcards as printed ('chunk=0004-0007'), '' for a job without."""
    jobs, fields, rule = {}, {}, None
    for line in [*text.splitlines(), ""]:
        m = _JOB.match(line)
        if rule and (m or not line.startswith("    ")):
            jobs[(rule, fields.get("wildcards", ""))] = fields
            rule = None
        if m:
            rule, fields = m.group(1), {}
        elif rule:
            key, _, value = line.strip().partition(": ")
            fields[key] = value
    return jobs


def file_times(out: Path) -> dict:
    """Modification time (ns) of every file of a run, but the run lock (rewritten by every run)."""
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns for p in out.rglob("*")
            if p.is_file() and p.name != LOCK_NAME}


def chunk_jobs(rules, chunks) -> set:
    return {(rule, f"chunk={c}") for rule in rules for c in chunks}


@pytest.fixture(scope="module")
def edited(tmp_path_factory):
    """A 12-frame movie run in 3 chunks; then frame 5 overwritten in place with frame 2's pixels and the same command
    run again (dry, then for real); then once more without any change."""
    root = tmp_path_factory.mktemp("input_edits")
    generate(root / "movie", SyntheticConfig(n_frames=N_FRAMES, n_cells=6, seed=5))
    raw, out = root / "movie" / "01", root / "out"
    args = ["--config", f"input={raw}", f"out={out}", *CONFIG]
    first = snakemake(*args)
    before = file_times(out)

    frame, donor = raw / f"t{EDITED:03d}.tif", raw / f"t{DONOR:03d}.tif"
    assert frame.read_bytes() != donor.read_bytes()
    folder_time = raw.stat().st_mtime_ns
    shutil.copyfile(donor, frame)  # rewrites the file in place: the folder's own timestamp stays as it was
    assert raw.stat().st_mtime_ns == folder_time
    newest = max(before.values())
    if frame.stat().st_mtime_ns <= newest:  # a coarse file-system clock: make the edit newer than every result
        os.utime(frame, ns=(newest + 1, newest + 1))

    dry = snakemake("-n", *MTIME_ONLY, *args)
    rerun = snakemake(*MTIME_ONLY, *args)
    after = file_times(out)
    again = snakemake(*MTIME_ONLY, *args)
    return SimpleNamespace(raw=raw, out=out, first=reported_jobs(first.text), dry=reported_jobs(dry.text),
                           rerun=reported_jobs(rerun.text), again=again, before=before, after=after,
                           final=file_times(out))


def test_edited_frame_reruns_its_chunk_and_what_follows(edited):
    others = [c for c in CHUNKS if c != CHUNK]
    first, rerun = set(edited.first), set(edited.rerun)
    assert chunk_jobs([*CHUNK_OUTPUTS, "qc_frames", "classify_apply"], CHUNKS) <= first  # the 3 chunks all ran
    # exactly: every job of the first run but those that read neither the edited frame nor anything made from it
    untouched = (chunk_jobs([*CHUNK_OUTPUTS, "qc_frames"], others)
                 | {("pixels_normalise", ""), ("pixels_train", ""), ("pixels_compile", "")})
    assert rerun == first - untouched
    assert chunk_jobs([*CHUNK_OUTPUTS, "qc_frames"], [CHUNK]) <= rerun
    assert {("classify_train", ""), ("track_stitch", ""), ("export_ctc", "")} <= rerun  # what follows

    for rule, pattern in CHUNK_OUTPUTS.items():
        for c in CHUNKS:
            path = pattern.format(c)
            assert (edited.after[path] != edited.before[path]) == (c == CHUNK), (rule, path)
    for path in ("pixels/normalisation.json", "pixels/classifier.pkl", "pixels/classifier_compiled.so"):
        assert edited.after[path] == edited.before[path], path
    assert edited.after["track/lineage.json"] != edited.before["track/lineage.json"]


def test_dry_run_names_the_edited_frame(edited):
    """The dry run after the edit lists the jobs the run then ran, and says why: the edited frame file."""
    assert set(edited.dry) == set(edited.rerun)
    reason = edited.dry[("pixels_predict", f"chunk={CHUNK}")]["reason"]
    assert f"Updated input files: {edited.raw / f't{EDITED:03d}.tif'}" in reason, reason


def test_rerun_without_change_does_nothing(edited):
    assert "Nothing to be done" in edited.again.text, edited.again.text[-2000:]
    assert edited.final == edited.after


def test_qc_rows_of_other_chunks_are_kept(edited):
    for c in CHUNKS:
        path = f"qc/frames/{c}.parquet"
        assert (edited.after[path] != edited.before[path]) == (c == CHUNK), path


# ---------------------------------------------------------------- what each job depends on, without running it


@pytest.fixture(scope="module")
def schema():
    return load_schema(ROOT / "config" / "schema.yaml")


def test_chunk_frames_training_frames_and_levels_frames(tmp_path, schema):
    generate(tmp_path, SyntheticConfig(n_frames=N_FRAMES, n_cells=4, seed=1))
    raw = tmp_path / "01"
    cfg = validate_config({"input": str(raw), "pixels": {"train_frames": 3, "normalise": {"sample_frames": 2}}},
                          schema)
    run = resolve(cfg)
    assert run.frame_files(range(4, 8)) == [str(raw / f"t{t:03d}.tif") for t in range(4, 8)]
    assert run.frame_files() == [str(raw / f"t{t:03d}.tif") for t in range(N_FRAMES)]
    assert run.train_frames == [0, 6, 11]  # evenly spaced among the frames with ground-truth masks
    assert normalisation_frames(N_FRAMES, cfg["pixels"]["normalise"]) == [0, 11]
    assert normalisation_frames(N_FRAMES, {"mode": "none"}) == []


def test_single_file_movie_is_the_dependency_of_every_chunk(tmp_path, schema):
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, np.zeros((N_FRAMES, 16, 20), np.uint16), metadata={"axes": "TYX"})
    run = resolve(validate_config({"input": str(path), "pixels": {"labels": _sparse_labels(tmp_path)}}, schema))
    assert run.frame_files(range(4, 8)) == [str(path)] and run.frame_files() == [str(path)]
    assert run.frame_files([]) == []
    assert run.train_frames == [3]  # the one frame with sparse labels


def _sparse_labels(tmp_path: Path) -> str:
    folder = tmp_path / "labels"
    folder.mkdir()
    tifffile.imwrite(folder / "t003.tif", np.ones((16, 20), np.uint8))
    return str(folder)


def test_jobs_list_their_frame_files_and_the_training_sequence(tmp_path):
    """Dry run with train=: pixel training depends on every frame file of the training sequence, a chunk's jobs on
    the chunk's frame files; the training sequence is segmented in chunks by the same rules, and the object
    classifiers learn from those chunks' objects (not from the input's)."""
    generate(tmp_path / "a", SyntheticConfig(n_frames=8, n_cells=4, seed=2))
    generate(tmp_path / "b", SyntheticConfig(n_frames=6, n_cells=4, seed=3))
    raw, train = tmp_path / "a" / "01", tmp_path / "b" / "01"
    jobs = reported_jobs(snakemake("-n", "--config", f"input={raw}", f"train={train}", f"out={tmp_path / 'out'}",
                                   "frames_per_job=4").text)
    train_inputs = jobs[("pixels_train", "")]["input"].split(", ")
    assert [p for p in train_inputs if p.startswith(f"{train}/")] == [str(train / f"t{t:03d}.tif") for t in range(6)]
    for rule in ("pixels_predict", "objects_features"):
        inputs = jobs[(rule, "chunk=0004-0007")]["input"].split(", ")
        assert [p for p in inputs if p.startswith(f"{raw}/")] == [str(raw / f"t{t:03d}.tif") for t in range(4, 8)]
    # the training sequence's objects come from the same per-chunk rules (cached, parallel), its own chunks
    for rule in ("pixels_predict_train", "objects_threshold_train", "objects_features_train"):
        assert {w for r, w in jobs if r == rule} == {"chunk=0000-0002", "chunk=0003-0005"}
    for rule in ("pixels_predict_train", "objects_features_train"):
        inputs = jobs[(rule, "chunk=0003-0005")]["input"].split(", ")
        assert [p for p in inputs if p.startswith(f"{train}/")] == [str(train / f"t{t:03d}.tif") for t in (3, 4, 5)]
    learnt = [p for p in jobs[("classify_train", "")]["input"].split(", ") if "/objects/" in p]
    assert sorted(learnt) == [str(tmp_path / "out" / "train" / "objects" / kind / f"{c}.{ext}")
                              for kind, ext in (("features", "parquet"), ("labels", "h5"))
                              for c in ("0000-0002", "0003-0005")]


def test_label_images_of_a_chunk_are_its_dependency(tmp_path):
    """objects.labels: a chunk's relabelling job depends on the chunk's own label image files."""
    generate(tmp_path, SyntheticConfig(n_frames=8, n_cells=4, seed=2))
    seg = tmp_path / "01_GT" / "SEG"
    jobs = reported_jobs(snakemake("-n", "--config", f"input={tmp_path / '01'}", f"out={tmp_path / 'out'}",
                                   "frames_per_job=4", f"objects={{labels: {seg}, min_size: 0}}").text)
    inputs = jobs[("objects_relabel", "chunk=0004-0007")]["input"].split(", ")
    assert [p for p in inputs if p.startswith(f"{seg}/")] == [str(f) for f in list_frames(seg)[4:8]]
