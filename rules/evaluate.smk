# Evaluation against ground truth with traccuracy (CTC TRA/DET/LNK, division precision/recall/F1).
# With config key export.first_frame_labels the CTC export holds only the selected lineages, so both scores are of
# those lineages (sparse ground truth follows only them).


rule evaluate_tracking:
    input:
        ctc=rules.export_ctc.output[0],
        gt=gt_input(RUN.eval_gt) if RUN.eval_gt else [],
    output:
        f"{OUT}/eval/metrics.json",
    params:
        out=lambda wildcards: OUT,  # paths inside OUT are recorded relative to it
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


# With learnt tracking weights: the same objects tracked with the default weights and scored the same way, so the
# report shows what learning changed (tracking.learn.compare).
rule evaluate_default_weights:
    input:
        tables=expand(f"{OUT}/objects/features/{{chunk}}.parquet", chunk=CHUNKS),
        probabilities=expand(f"{OUT}/classify/probabilities/{{chunk}}.parquet", chunk=CHUNKS),
        labels=expand(f"{OUT}/objects/labels/{{chunk}}.h5", chunk=CHUNKS),
        raw=raw_input(),
        gt=gt_input(RUN.eval_gt) if RUN.eval_gt else [],
        reference=FIRST_FRAME_LABELS or [],
    output:
        ctc=directory(f"{OUT}/compare/default_weights/ctc"),
        metrics=f"{OUT}/eval/metrics_default_weights.json",
    params:
        out=lambda wildcards: OUT,  # paths inside OUT are recorded relative to it
        tracking=config["tracking"],
        window_size=config["window_size"],
        overlap=config["overlap"],
        n_frames=RUN.n_frames,
        voxel_size=RUN.voxel_size,
        seed=config["classify"]["seed"],
        raw=raw_params(),
        gt=RUN.eval_gt,
        first_frame_labels=FIRST_FRAME_LABELS,  # scored on the same selected lineages as the run (export.smk)
    threads: config["threads"]
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: solve_runtime(attempt) * 2,
        gurobi=gurobi_tokens(),
    log:
        f"{OUT}/logs/evaluate_default_weights.log",
    benchmark:
        f"{OUT}/benchmarks/evaluate_default_weights.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/evaluate_default_weights.py"
