# Object classifiers: object count (false detection / single / merger) and division, trained once, applied per chunk.


# the objects the classifiers learn from: the training sequence's (config key train), else the input's
LEARNT_OBJECTS = TRAIN if RUN.classify_from == "train" else INPUT


# not with another run's models (config key models)
if RUN.classify_from != "models":

    rule classify_train:
        input:
            tables=LEARNT_OBJECTS.chunk_paths("objects/features/{chunk}.parquet"),
            labels=LEARNT_OBJECTS.chunk_paths("objects/labels/{chunk}.h5"),
            annotations=classify_annotation_inputs(),
            pixel_classifier=classify_pixel_classifier(),
            normalisation=LEARNT_OBJECTS.path("pixels/normalisation.json"),
        output:
            counts=MODELS["counts"],
            division=MODELS["division"],
        params:
            source=RUN.classify_from,
            gt=RUN.classify_gt,
            n_frames=LEARNT_OBJECTS.n_frames,
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


for seq in SEQUENCES if RUN.learn_from == "train" else [INPUT]:  # the weights learn on the train's classes

    rule:
        name:
            seq.rule("classify_apply")
        input:
            counts=MODELS["counts"],
            division=MODELS["division"],
            table=seq.path("objects/features/{chunk}.parquet"),
            next_table=seq.next_chunk_table,
            normalisation=seq.path("pixels/normalisation.json"),
        output:
            seq.path("classify/probabilities/{chunk}.parquet"),
        wildcard_constraints:
            chunk=seq.chunk_regex,
        params:
            n_frames=seq.n_frames,
            classify=config["classify"],
            max_count=config["tracking"]["max_count"],
            channel=config["channel"],
        resources:
            mem_mb=lambda wc, attempt: 2000 * attempt,
            runtime=lambda wc, attempt: 20 * attempt,
        log:
            seq.log("classify_apply"),
        benchmark:
            seq.benchmark("classify_apply")
        conda:
            "../envs/lineageflow.yaml"
        script:
            "../scripts/classify_apply.py"
