# Tracking: conservation-tracking ILP over the movie, merger resolution, lineage graph.


rule track_solve:
    input:
        tables=expand(f"{OUT}/objects/features/{{chunk}}.parquet", chunk=CHUNKS),
        probabilities=expand(f"{OUT}/classify/probabilities/{{chunk}}.parquet", chunk=CHUNKS),
    output:
        nodes=f"{OUT}/track/solution_nodes.parquet",
        edges=f"{OUT}/track/solution_edges.parquet",
        summary=f"{OUT}/track/solution.json",
    params:
        tracking=config["tracking"],
        n_frames=RUN.n_frames,
        failed_model=f"{OUT}/logs/track_solve_failed_model.lp",
    threads: config["threads"]
    log:
        f"{OUT}/logs/track_solve.log",
    benchmark:
        f"{OUT}/benchmarks/track_solve.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/track_solve.py"


rule track_mergers:
    input:
        nodes=rules.track_solve.output.nodes,
        edges=rules.track_solve.output.edges,
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
