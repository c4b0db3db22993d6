"""Snakemake itself killed (SIGKILL to its whole process group: Snakemake and the jobs it runs) at 10 points spread
over the stages of a run, then the same command run again: every resumed run ends like an uninterrupted one, with
byte-identical exports (issue #11, extending the killed-window-job test of #4 in test_windows_workflow.py).

Kill points are events, not times: a trial watches its Snakemake log and kills as soon as the first job of a given
rule is seen running (its script has opened the job's log file, so the kill lands mid-job) or has finished (the kill
lands between jobs, or while the next ones start). What each kill hit is read from the log of the killed run
(jobs started and not finished). The trials run a few at a time; each has its own OUT and its own working directory,
so that Snakemake's lock (.snakemake/locks) and records of one trial never meet another's, nor the checkout's."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

# The smallest movie with several frame chunks and several tracking windows: 6 frames in chunks of 3 (2 chunks of
# every per-frame rule) and windows of 4 frames overlapping by 1 (2 window jobs and a seam to stitch). Small forests:
# the trials test resuming, not accuracy. 25 jobs (and rule all).
MOVIE = {"n_frames": 6, "n_cells": 6, "seed": 3, "shape": (96, 96)}
CONFIG = ["frames_per_job=3", "window_size=4", "overlap=1", "pixels={n_trees: 10}", "classify={n_trees: 10}"]

# Kill as soon as the first job of the rule is "running" (its script has opened its log file) or has "finished".
KILL_POINTS = [
    ("finished", "pixels_normalise"),
    ("running", "pixels_predict"),
    ("running", "objects_features"),
    ("running", "classify_train"),
    ("running", "track_window"),
    ("finished", "track_window"),
    ("running", "track_stitch"),
    ("running", "track_mergers"),
    ("running", "export_ctc"),
    ("running", "evaluate_tracking"),
]
TRIALS_AT_ONCE = 3  # a run is mostly job start-up, one after the other: a few runs at once keep 2 cores busy
WAIT = 900  # seconds: only a bound on a run that hangs, never a timing assumption

STAGES = {
    "pixels_normalise": "pixels", "pixels_train": "pixels", "pixels_predict": "pixels",
    "objects_threshold": "objects", "objects_features": "objects",
    "qc_frames": "qc", "qc_summary": "qc",
    "classify_train": "classify", "classify_apply": "classify",
    "track_window": "track windows", "track_stitch": "stitch",
    "track_mergers": "lineage", "track_lineage": "lineage",
    "export_ctc": "exports", "export_mamut": "exports", "export_csv": "exports", "export_geff": "exports",
    "objects_evaluate": "evaluation", "evaluate_tracking": "evaluation",
    "all": "end",
}


def default_exports() -> list[str]:
    """The exports a run makes by default (config/schema.yaml `exports`); each writes the folder OUT/<name>."""
    from lineageflow.config import load_schema, validate_config

    return validate_config({}, load_schema(ROOT / "config" / "schema.yaml"))["exports"]


COMPARED = [*default_exports(), "eval"]  # the exports, and the evaluation of the CTC export


@dataclass
class Jobs:
    """Jobs of one Snakemake run, from its log: jobid → (rule, log file) when started, jobids when finished."""

    started: dict[int, tuple[str, str]] = field(default_factory=dict)
    finished: list[int] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> "Jobs":
        jobs, rule, log = cls(), None, ""
        for line in text[: text.rfind("\n") + 1].splitlines():  # whole lines only: the log may be mid-write
            if m := re.match(r"(?:local)?rule (\w+):$", line):
                rule, log = m.group(1), ""
            elif rule and (m := re.match(r"    log: (.+)$", line)):
                log = m.group(1).split(", ")[0]
            elif rule and (m := re.match(r"    jobid: (\d+)$", line)):
                jobs.started[int(m.group(1))] = (rule, log)
            elif m := re.match(r"Finished jobid: (\d+) ", line):
                jobs.finished.append(int(m.group(1)))
            elif not line.startswith("    "):
                rule = None
        return jobs

    def finished_rules(self) -> list[str]:
        return [self.started[j][0] for j in self.finished if j in self.started]

    def running_rules(self) -> list[str]:
        return sorted(rule for j, (rule, _) in self.started.items() if j not in self.finished)

    def reached(self, when: str, rule: str) -> bool:
        if rule in self.finished_rules():
            return True
        return when == "running" and any(r == rule and log and Path(log).exists() for r, log in self.started.values())


def command(movie: Path, out: Path) -> list[str]:
    """The one command of every run: the reference, each killed run and its resumption (only OUT differs)."""
    return [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "2",
            "--config", f"input={movie}", f"out={out}", *CONFIG]


def run(cmd: list[str], cwd: Path, log: Path) -> int:
    with open(log, "w") as fh:
        return subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, timeout=WAIT).returncode


def tail(path: Path, n=3000) -> str:
    return path.read_text()[-n:] if path.exists() else "(no log)"


@dataclass
class Trial:
    when: str
    rule: str
    out: Path
    killed_rc: int | None = None
    finished_at_kill: int = 0
    running_at_kill: list[str] = field(default_factory=list)
    last_finished: str = ""
    resume_rc: int | None = None
    resumed_jobs: list[str] = field(default_factory=list)
    resume_log: Path | None = None

    @property
    def hit(self) -> set[str]:
        """The stages the kill hit: those of the jobs it cut short, else (between jobs) the last one finished."""
        return {STAGES.get(r, r) for r in self.running_at_kill or [self.last_finished]}

    def describe(self) -> str:
        return (f"kill when {self.rule} {self.when}: {self.finished_at_kill} jobs done, running "
                f"{self.running_at_kill or '-'} (stage hit: {'+'.join(sorted(self.hit))}); "
                f"resume exit {self.resume_rc}, {len(self.resumed_jobs)} jobs")


def kill_and_resume(trial: Trial, movie: Path) -> Trial:
    work = trial.out.parent
    cwd = work / "workdir"  # Snakemake's lock and records of this trial only
    cwd.mkdir(parents=True)
    cmd = command(movie, trial.out)
    killed_log = work / "killed.log"
    with open(killed_log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + WAIT
        while not Jobs.parse(killed_log.read_text()).reached(trial.when, trial.rule):
            assert proc.poll() is None, (f"snakemake ended ({proc.returncode}) before the first {trial.rule} job was "
                                         f"{trial.when}:\n{tail(killed_log)}")
            assert time.monotonic() < deadline, f"no {trial.rule} job {trial.when} within {WAIT} s"
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):  # Snakemake and every job it runs (its process group)
            os.killpg(proc.pid, signal.SIGKILL)
        trial.killed_rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:  # a failed assertion above: end the run this trial started, and its jobs
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    jobs = Jobs.parse(killed_log.read_text())
    trial.finished_at_kill = len(jobs.finished)
    trial.running_at_kill = jobs.running_rules()
    trial.last_finished = (jobs.finished_rules() or [""])[-1]
    # resume: the same command, nothing before it (the default workflow profile already sets rerun-incomplete).
    # Deliberately no `--unlock` first: the kill leaves Snakemake's lock in workdir/.snakemake/locks, and a killed
    # run must not need a manual step (lineageflow's own OUT lock is released by the kernel with its holder).
    trial.resume_log = work / "resumed.log"
    trial.resume_rc = run(cmd, cwd, trial.resume_log)
    trial.resumed_jobs = Jobs.parse(trial.resume_log.read_text()).finished_rules()
    return trial


def files_of(out: Path) -> dict[str, bytes]:
    """Every file of the compared folders of a run, by path relative to OUT."""
    return {str(p.relative_to(out)): p.read_bytes()
            for name in COMPARED for p in sorted((out / name).rglob("*")) if p.is_file()}


def test_snakemake_killed_at_any_stage_resumes_to_byte_identical_exports(tmp_path):
    from lineageflow.synthetic import SyntheticConfig, generate

    generate(tmp_path / "movie", SyntheticConfig(**MOVIE))  # one movie (01, with 01_GT beside it) for every run
    movie = tmp_path / "movie" / "01"
    reference = tmp_path / "reference" / "out"
    (tmp_path / "reference" / "workdir").mkdir(parents=True)
    trials = [Trial(when, rule, tmp_path / f"trial{i:02d}" / "out") for i, (when, rule) in enumerate(KILL_POINTS)]

    with ThreadPoolExecutor(TRIALS_AT_ONCE) as pool:
        ref_rc = pool.submit(run, command(movie, reference), tmp_path / "reference" / "workdir",
                             tmp_path / "reference" / "run.log")
        futures = [pool.submit(kill_and_resume, t, movie) for t in trials]
        assert ref_rc.result() == 0, tail(tmp_path / "reference" / "run.log")
        for f in futures:
            f.result()

    summary = "\n".join(f"{i}: {t.describe()}" for i, t in enumerate(trials))
    print(summary)
    expected = files_of(reference)
    for name in COMPARED:
        assert any(p.split(os.sep)[0] == name for p in expected), f"the reference run wrote no {name}/"

    for i, t in enumerate(trials):
        assert t.killed_rc == -signal.SIGKILL, (i, t.describe())
        assert t.resume_rc == 0, f"trial {i} ({t.describe()}) did not resume:\n{tail(t.resume_log)}\n\n{summary}"
        # the kill cut the run short: the resumed run had jobs to do besides rule all
        assert set(t.resumed_jobs) - {"all"}, (i, t.describe())
        got = files_of(t.out)
        assert sorted(got) == sorted(expected), (i, t.describe(), sorted(set(got) ^ set(expected)))
        differ = [p for p in expected if got[p] != expected[p]]
        assert not differ, f"trial {i} ({t.describe()}): files differ from the uninterrupted run: {differ}"

    hit = set().union(*(t.hit for t in trials))
    assert len(hit) >= 5, f"stages hit: {sorted(hit)}\n{summary}"
