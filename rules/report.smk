# The benchmark report: one self-contained HTML page (accuracy, time and memory per rule, solver per window,
# lineage trees, tracks over the movie, per-frame quality control, TRA across runs, configuration, software
# versions) and its figures, which are also report() outputs, so `snakemake --report report.html` (Snakemake's own
# report) shows them with captions.
# `snakemake --cores 2 report` reports the current run (the demo by default); with config key report.datasets
# (config/benchmark.yaml) every dataset is first run by this same workflow into its own folder.
# The page is rendered by rule report_render into a staging file and moved onto report.html by rule report only once
# it is complete: Snakemake deletes a job's outputs before the job runs, so a render that fails (a full disk, a
# broken run) keeps the previous report.html.
import os


report: "../report/workflow.rst"


rule report_render:
    input:
        unpack(report_inputs),
    output:
        html=temp(f"{REPORT_DIR}/.report.html.new"),
        time_memory=report(f"{REPORT_DIR}/time_memory.png", caption="../report/time_memory.rst",
                           category="Time and memory"),
        history=report(f"{REPORT_DIR}/tra_history.png", caption="../report/tra_history.rst", category="Accuracy"),
        lineage=report(report_pngs("lineage"), caption="../report/lineage.rst", category="Lineage trees"),
        tracks=report(report_pngs("tracks"), caption="../report/tracks.rst", category="Tracks over the movie"),
        qc=report(report_pngs("qc"), caption="../report/qc.rst", category="Quality control"),
        # runs with config key flow.enabled only: without flow the rule is as it was
        **({"flow": report(report_pngs("flow"), caption="../report/flow.rst", category="Flow fields")}
           if report_pngs("flow") else {}),
    params:
        datasets=report_params(),
        config=config,
        history=f"{REPORT_DIR}/history.json",
        frames=config["report"]["frames"],
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    log:
        f"{REPORT_DIR}/logs/report_render.log",
    benchmark:
        f"{REPORT_DIR}/benchmarks/report_render.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/report_render.py"


# The target `report`: the complete new page replaces report.html in one rename (same folder).
rule report:
    input:
        html=rules.report_render.output.html,
    output:
        report(f"{REPORT_DIR}/report.html", caption="../report/report.rst", category="Benchmark report"),
    log:
        f"{REPORT_DIR}/logs/report.log",
    localrule: True
    run:
        os.replace(input.html, output[0])
        shell("echo report written to {output:q} > {log:q}")
        print(f"lineageflow: report written to {os.path.abspath(output[0])}", flush=True)
