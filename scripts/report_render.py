"""Rule report_render: read the finished run(s), draw the figures and write one self-contained HTML page (to a
staging file that rule report then moves onto report.html, so a failed render keeps the previous report)."""

import logging
from pathlib import Path

from _helpers import run

from lineageflow.report import make_report

log = logging.getLogger("lineageflow")


def main(smk):
    runs = make_report(smk.params.datasets, config=smk.params.config, html_path=smk.output.html,
                       time_memory_png=smk.output.time_memory, history_png=smk.output.history,
                       lineage_pngs=list(smk.output.lineage), tracks_pngs=list(smk.output.tracks),
                       qc_pngs=list(smk.output.qc), history_path=smk.params.history,
                       flow_pngs=list(smk.output.get("flow", [])),  # runs with config key flow.enabled only
                       n_frames_shown=smk.params.frames,
                       workflow_dir=Path(smk.scriptdir).parent)  # for the workflow's git commit in the header
    for r in runs:
        m = r.metrics or {}
        log.info("%s: TRA %s, SEG %s, %d rule(s) timed, %d window(s), QC: %s", r.name, m.get("TRA"), m.get("SEG"),
                 len(r.benchmarks), len(r.windows),
                 f"{r.qc['n_flagged']} of {r.qc['n_frames']} frames flagged" if r.qc else "missing")
    log.info("report rendered to %s (rule report moves it onto report.html)", smk.output.html)


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
