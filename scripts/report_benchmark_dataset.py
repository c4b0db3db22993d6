"""Rule benchmark_dataset: run this workflow on one benchmark dataset (config key report.datasets) into its folder."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import yaml
from _helpers import run

from lineageflow.atomic import atomic_path
from lineageflow.errors import LineageflowError

log = logging.getLogger("lineageflow")


def main(smk):
    cfg = smk.params.config
    out = Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "benchmark_config.yaml"
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=True))
    targets = [f"{out}/eval/metrics.json", f"{out}/track/lineage.json", f"{out}/ctc", f"{out}/qc/summary.json"]
    # --nolock: the child writes only under its own output folder, which no job of the parent run writes to
    # targets first: --configfile takes several values and would swallow them
    cmd = [sys.executable, "-m", "snakemake", *targets, "-s", smk.params.snakefile, "--cores", str(smk.threads),
           "--nolock", "--rerun-incomplete", "--configfile", str(config_path)]
    log.info("running: %s", " ".join(cmd))
    log_path = Path(smk.log[0]).with_suffix(".snakemake.log")
    with open(log_path, "w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise LineageflowError(f"benchmark dataset {cfg['input']} failed (Snakemake exit {proc.returncode}); "
                               f"see {log_path}")
    log.info("finished %s into %s", cfg["input"], out)
    with atomic_path(smk.output[0]) as tmp:
        tmp.write_text(json.dumps({"input": cfg["input"], "out": str(out), "config": str(config_path)}, indent=1))


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
