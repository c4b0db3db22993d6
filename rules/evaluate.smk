# Evaluation against ground truth with traccuracy (CTC TRA/DET/LNK, division precision/recall/F1).


rule evaluate_tracking:
    input:
        ctc=rules.export_ctc.output[0],
        gt=gt_input(RUN.eval_gt) if RUN.eval_gt else [],
    output:
        f"{OUT}/eval/metrics.json",
    params:
        gt=RUN.eval_gt,
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
    log:
        f"{OUT}/logs/evaluate_tracking.log",
    benchmark:
        f"{OUT}/benchmarks/evaluate_tracking.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/evaluate_tracking.py"
