# The embedded synthetic demo movie (CTC layout with ground truth), made only when `input` is empty.


rule demo_data:
    output:
        directory(f"{OUT}/demo"),
    params:
        demo=config["demo"],
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    log:
        f"{OUT}/logs/demo_data.log",
    benchmark:
        f"{OUT}/benchmarks/demo_data.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/demo_data.py"
