"""Rule report_render: read the finished run(s), draw the figures and write one self-contained HTML page (to a
staging file that rule report then moves onto report.html, so a failed render keeps the previous report)."""

import logging

from _helpers import run

from lineageflow.report import make_report

log = logging.getLogger("lineageflow")


def main(smk):
    runs = make_report(smk.params.datasets, config=smk.params.config, html_path=smk.output.html,
                       time_memory_png=smk.output.time_memory, history_png=smk.output.history,
                       lineage_pngs=list(smk.output.lineage), tracks_pngs=list(smk.output.tracks),
                       qc_pngs=list(smk.output.qc), history_path=smk.params.history,
                       n_frames_shown=smk.params.frames)
    for r in runs:
        log.info("%s: TRA %s, %d rule(s) timed, %d window(s), QC: %s", r.name, (r.metrics or {}).get("TRA"),
                 len(r.benchmarks), len(r.windows),
                 f"{r.qc['n_flagged']} of {r.qc['n_frames']} frames flagged" if r.qc else "missing")
    log.info("report rendered to %s (rule report moves it onto report.html)", smk.output.html)


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
