# Tracking: one conservation-tracking ILP per time window (all in parallel), stitching, mergers, lineage graph.


# not with another run's models (config key models)
if RUN.learn_from != "models":

    rule track_learn:
        input:
            unpack(learn_inputs),
        output:
            MODELS["weights"],
        params:
            out=lambda wildcards: OUT,  # paths inside OUT are recorded relative to it
            source=RUN.learn_from,
            annotation=RUN.learn_gt,
            n_train_frames=RUN.learn_n_frames,
            tracking=config["tracking"],
            window_size=config["window_size"],
            voxel_size=RUN.voxel_size,
            classify=config["classify"],
            channel=config["channel"],
        threads: config["threads"]
        resources:
            mem_mb=lambda wc, attempt: 4000 * attempt,
            runtime=lambda wc, attempt: solve_runtime(attempt) * 2,
            gurobi=gurobi_tokens(),
        log:
            f"{OUT}/logs/track_learn.log",
        benchmark:
            f"{OUT}/benchmarks/track_learn.tsv"
        conda:
            "../envs/lineageflow.yaml"
        script:
            "../scripts/track_learn.py"


rule track_window:
    input:
        tables=window_tables("features"),
        probabilities=window_tables("probabilities"),
        weights=learned_weights(),
    output:
        nodes=f"{OUT}/track/windows/{{window}}/nodes.parquet",
        edges=f"{OUT}/track/windows/{{window}}/edges.parquet",
        summary=f"{OUT}/track/windows/{{window}}/solution.json",
    params:
        tracking=config["tracking"],
        frames=window_range,
        n_frames=RUN.n_frames,
        failed_model=lambda wc: f"{OUT}/logs/track_window/{wc.window}_failed_model.lp",
    threads: config["threads"]
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: solve_runtime(attempt),
        gurobi=gurobi_tokens(),
    log:
        f"{OUT}/logs/track_window/{{window}}.log",
    benchmark:
        f"{OUT}/benchmarks/track_window/{{window}}.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/track_window.py"


rule track_stitch:
    input:
        nodes=window_results("nodes.parquet"),
        edges=window_results("edges.parquet"),
        summaries=window_results("solution.json"),
        weights=learned_weights(),
    output:
        nodes=f"{OUT}/track/solution_nodes.parquet",
        edges=f"{OUT}/track/solution_edges.parquet",
        summary=f"{OUT}/track/solution.json",
    params:
        tracking=config["tracking"],
        windows=WINDOWS,
        n_frames=RUN.n_frames,
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
        gurobi=gurobi_tokens(),
    log:
        f"{OUT}/logs/track_stitch.log",
    benchmark:
        f"{OUT}/benchmarks/track_stitch.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/track_stitch.py"


rule track_mergers:
    input:
        nodes=rules.track_stitch.output.nodes,
        edges=rules.track_stitch.output.edges,
        labels=expand(f"{OUT}/objects/labels/{{chunk}}.h5", chunk=CHUNKS),
        raw=raw_input(),
    output:
        nodes=f"{OUT}/track/nodes.parquet",
        edges=f"{OUT}/track/edges.parquet",
        labels=expand(f"{OUT}/track/labels/{{chunk}}.h5", chunk=CHUNKS),
    params:
        voxel_size=RUN.voxel_size,
        seed=config["classify"]["seed"],
        raw=raw_params(),
    log:
        f"{OUT}/logs/track_mergers.log",
    benchmark:
        f"{OUT}/benchmarks/track_mergers.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/track_mergers.py"


rule track_lineage:
    input:
        nodes=rules.track_mergers.output.nodes,
        edges=rules.track_mergers.output.edges,
    output:
        nodes=f"{OUT}/track/lineage_nodes.parquet",
        tracks=f"{OUT}/track/tracks.csv",
        summary=f"{OUT}/track/lineage.json",
    log:
        f"{OUT}/logs/track_lineage.log",
    benchmark:
        f"{OUT}/benchmarks/track_lineage.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/track_lineage.py"
