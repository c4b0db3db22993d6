"""The demo through profiles/slurm on a real single-node SLURM cluster (slurmctld + slurmd + munged on this machine).

Skipped when SLURM/munge are not installed (or not root); under CI that is a failure instead (.ci/run installs
them). Every job must go through sbatch, and the CTC export must equal, byte for byte, a local run with the same
config (profiles/local).
"""

import re
import shutil
import subprocess
import sys
import time

import pytest

from conftest import ROOT, skip_or_fail
from slurm_cluster import PARTITIONS, SlurmCluster, unavailable_reason

pytestmark = pytest.mark.slow

CONFIG = ["demo={n_frames: 8, n_cells: 6, seed: 3}", "frames_per_job=4"]


def require_slurm() -> None:
    """Skip when no SLURM test cluster can run here; fail under CI (CI installs slurm-wlm and munge)."""
    reason = unavailable_reason()
    if reason:
        skip_or_fail(reason)


@pytest.fixture(scope="module")
def cluster():
    require_slurm()
    with SlurmCluster(cpus=2) as c:
        yield c


def snakemake_cmd(*args):
    return [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), *args]


def test_demo_on_slurm_equals_local_run(cluster, tmp_path):
    env = cluster.env
    for name in ("LINEAGEFLOW_SLURM_ACCOUNT", "LINEAGEFLOW_SLURM_QOS", "LINEAGEFLOW_SLURM_JOBS",
                 "LINEAGEFLOW_GUROBI_LICENSES", "SNAKEMAKE_PROFILE"):
        env.pop(name, None)  # unset account/QoS must not break submission
    # a non-default partition through the environment, as a cluster user would set it
    env["LINEAGEFLOW_SLURM_PARTITION"] = PARTITIONS[1]
    slurm_dir, local_dir = tmp_path / "slurm", tmp_path / "local"
    slurm_dir.mkdir()
    local_dir.mkdir()
    slurm_cmd = snakemake_cmd(
        "--workflow-profile", str(ROOT / "profiles" / "slurm"),
        # test-only speed-ups and evidence: first status check after 3 s (then the plugin's own back-off),
        # keep the SLURM log of every successful job
        "--slurm-init-seconds-before-status-checks", "3", "--slurm-keep-successful-logs",
        "--config", f"out={slurm_dir / 'out'}", *CONFIG)
    local_cmd = snakemake_cmd("--workflow-profile", str(ROOT / "profiles" / "local"),
                              "--config", f"out={local_dir / 'out'}", *CONFIG)
    start = time.monotonic()
    # the SLURM run mostly waits for status checks: run the local reference at the same time
    with open(slurm_dir / "snakemake.log", "w") as log:
        slurm = subprocess.Popen(slurm_cmd, cwd=slurm_dir, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            local = subprocess.run(local_cmd, cwd=local_dir, capture_output=True, text=True, timeout=900)
            slurm.wait(timeout=900)
        finally:
            if slurm.poll() is None:
                slurm.kill()
                slurm.wait()
    elapsed = time.monotonic() - start
    slurm_log = (slurm_dir / "snakemake.log").read_text()
    assert local.returncode == 0, f"local run failed:\n{local.stdout[-3000:]}\n{local.stderr[-5000:]}"
    assert slurm.returncode == 0, f"SLURM run failed:\n{slurm_log[-8000:]}\n{cluster.logs()}"
    print(f"SLURM run + local run: {elapsed:.0f} s")

    # every job went through sbatch: Snakemake reports a SLURM job id per job ...
    submissions = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", slurm_log)
    submitted = dict(submissions)  # Snakemake job -> its last SLURM job (a retried job is submitted again)
    local_jobs = re.findall(r"^localrule (\w+):", slurm_log, re.M)
    assert set(local_jobs) <= {"all"}, local_jobs  # only the target pseudo-rule runs in the Snakemake process
    rules_run = re.findall(r"^rule (\w+):", slurm_log, re.M)
    assert len(submissions) == len(rules_run) and len(submitted) >= 12, (submissions, rules_run)
    for rule in ("demo_data", "pixels_train", "pixels_predict", "objects_features", "classify_apply", "export_ctc",
                 "evaluate_tracking"):
        assert rule in rules_run
    # ... slurmctld knows each of them as a completed job of this run, in the partition from the environment ...
    jobs = cluster.jobs()
    run_ids = {jobs[j]["name"] for j in submitted.values()}
    assert len(run_ids) == 1, run_ids  # the plugin names every job after its run id
    for jid in submitted.values():
        assert jobs[jid]["state"] == "COMPLETED", (jid, jobs[jid])
        assert jobs[jid]["partition"] == PARTITIONS[1], (jid, jobs[jid])
        assert jobs[jid]["comment"].startswith("rule_"), jobs[jid]
    assert sorted({jobs[j]["comment"].split("_wildcards_")[0][len("rule_"):] for j in submitted.values()}) == \
        sorted(set(rules_run))
    # ... and each job's output is in its SLURM log
    slurm_logs = {p.stem for p in (slurm_dir / ".snakemake" / "slurm_logs").rglob("*.log")}
    assert set(submitted.values()) <= slurm_logs
    # the rules' attempt-scaled memory reached sbatch (attempt 1: demo_data asks for 2000 MB)
    demo_id = next(j for j in submitted.values() if jobs[j]["comment"] == "rule_demo_data")
    job_info = cluster.run("scontrol", "show", "job", demo_id).stdout
    assert re.search(r"MinMemoryNode=2000M|mem=2000M", job_info), job_info

    # same results as the local run, byte for byte
    ctc_slurm, ctc_local = slurm_dir / "out" / "ctc", local_dir / "out" / "ctc"
    names = sorted(p.name for p in ctc_local.iterdir())
    assert "res_track.txt" in names and any(n.startswith("mask") and n.endswith(".tif") for n in names), names
    assert sorted(p.name for p in ctc_slurm.iterdir()) == names
    for name in names:
        assert (ctc_slurm / name).read_bytes() == (ctc_local / name).read_bytes(), name


def test_profile_found_by_name(cluster, tmp_path):
    """README: a copy of profiles/slurm named `slurm` in a profile directory is found by `snakemake --profile slurm`
    (the working directory is one of the places Snakemake looks, like ~/.config/snakemake)."""
    shutil.copytree(ROOT / "profiles" / "slurm", tmp_path / "slurm")
    env = cluster.env
    env.pop("SNAKEMAKE_PROFILE", None)
    env["LINEAGEFLOW_GUROBI_LICENSES"] = "1"
    proc = subprocess.run(snakemake_cmd("--profile", "slurm", "-n", "--config", f"out={tmp_path / 'out'}", *CONFIG),
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    # Snakemake says "Using profile slurm ..." or, with the workflow's profiles/default too, "Using profiles slurm and ..."
    assert re.search(r"Using profiles? slurm\b", text) or str(tmp_path / "slurm") in text, text[:3000]
    assert "demo_data" in text
