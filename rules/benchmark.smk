# One benchmark dataset (config key report.datasets) run by this same workflow in a child Snakemake, into its own
# folder. --nolock is safe: the child writes only under that folder, which no other job of this run writes to
# (this job's own output, benchmark_run.json, is written after the child has finished).
rule benchmark_dataset:
    output:
        f"{config['report']['out'] or 'results/benchmark'}/{{name}}/benchmark_run.json",
    params:
        config=benchmark_dataset_config,
        snakefile=f"{workflow.basedir}/Snakefile",
    wildcard_constraints:
        name=benchmark_dataset_names(),
    threads: benchmark_threads()
    resources:
        mem_mb=lambda wc, attempt: 16000 * attempt,
        runtime=lambda wc, attempt: 24 * 60 * attempt,
    log:
        f"{config['report']['out'] or 'results/benchmark'}/logs/benchmark_dataset/{{name}}.log",
    benchmark:
        f"{config['report']['out'] or 'results/benchmark'}/benchmarks/benchmark_dataset/{{name}}.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/report_benchmark_dataset.py"
