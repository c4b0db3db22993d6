# Object classifiers: object count (false detection / single / merger) and division, trained once, applied per chunk.


rule classify_train:
    input:
        tables=expand(f"{OUT}/objects/features/{{chunk}}.parquet", chunk=CHUNKS),
        labels=expand(f"{OUT}/objects/labels/{{chunk}}.h5", chunk=CHUNKS),
        annotations=classify_annotation_inputs(),
        pixel_classifier=classify_pixel_classifier(),
        normalisation=f"{OUT}/pixels/normalisation.json",
    output:
        counts=f"{OUT}/classify/count_classifier.pkl",
        division=f"{OUT}/classify/division_classifier.pkl",
    params:
        source=RUN.classify_from,
        gt=RUN.classify_gt,
        n_frames=RUN.n_frames,
        shape=RUN.spatial_shape,
        classify=config["classify"],
        max_count=config["tracking"]["max_count"],
        max_distance=config["tracking"]["max_distance"],
        train_raw=RUN.train_raw,
        dataset=RUN.raw_dataset if RUN.train_raw == RUN.raw else "",
        axes=RUN.raw_axes if RUN.train_raw == RUN.raw else "",
        voxel_size=RUN.voxel_size,
        objects=config["objects"],
        channel=config["channel"],
    threads: config["threads"]
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
    log:
        f"{OUT}/logs/classify_train.log",
    benchmark:
        f"{OUT}/benchmarks/classify_train.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/classify_train.py"


rule classify_apply:
    input:
        counts=rules.classify_train.output.counts,
        division=rules.classify_train.output.division,
        table=f"{OUT}/objects/features/{{chunk}}.parquet",
        next_table=next_chunk_table,
        normalisation=f"{OUT}/pixels/normalisation.json",
    output:
        f"{OUT}/classify/probabilities/{{chunk}}.parquet",
    params:
        n_frames=RUN.n_frames,
        classify=config["classify"],
        max_count=config["tracking"]["max_count"],
        channel=config["channel"],
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    log:
        f"{OUT}/logs/classify_apply/{{chunk}}.log",
    benchmark:
        f"{OUT}/benchmarks/classify_apply/{{chunk}}.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/classify_apply.py"
