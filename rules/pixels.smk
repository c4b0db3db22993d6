# Pixel classification: ilastik's filter bank + Random Forest, trained once, applied per chunk of frames.
# Intensities are normalised first (per movie or per frame), with levels from the movie being processed.


for seq in SEQUENCES:

    rule:
        name:
            seq.rule("pixels_normalise")
        input:
            raw=seq.normalisation_input(),
        output:
            seq.path("pixels/normalisation.json"),
        params:
            out=lambda wildcards: OUT,  # paths inside OUT are recorded relative to it
            raw=seq.raw,
            normalise=config["pixels"]["normalise"],
            # the bad-frame check's thresholds; input_check.bad_frames is read by the object stage only
            input_check={k: v for k, v in config["input_check"].items() if k != "bad_frames"},
        resources:
            mem_mb=lambda wc, attempt: 2000 * attempt,
            runtime=lambda wc, attempt: 20 * attempt,
        log:
            seq.log("pixels_normalise", per_chunk=False),
        benchmark:
            seq.benchmark("pixels_normalise", per_chunk=False)
        conda:
            "../envs/lineageflow.yaml"
        script:
            "../scripts/pixels_normalise.py"


# not with another run's models (config key models)
if RUN.train_from != "models":

    rule pixels_train:
        input:
            unpack(train_inputs),
        output:
            MODELS["pixel_classifier"],
        params:
            train_from=RUN.train_from,
            train_raw=RUN.train_raw,
            train_gt=RUN.train_gt,
            dataset=RUN.raw_dataset if RUN.train_raw == RUN.raw else "",
            axes=RUN.raw_axes if RUN.train_raw == RUN.raw else "",
            voxel_size=RUN.voxel_size,
            pixels={k: v for k, v in config["pixels"].items() if k != "forest"},  # how it predicts, not what
            # the split decision (objects.split auto) thresholds the training frames; 'split' itself is read later,
            # by objects_threshold, so changing it does not retrain the classifier
            objects={k: v for k, v in config["objects"].items() if k != "split"},
        threads: config["threads"]
        resources:
            mem_mb=lambda wc, attempt: 4000 * attempt,
            runtime=lambda wc, attempt: 60 * attempt,
        log:
            f"{OUT}/logs/pixels_train.log",
        benchmark:
            f"{OUT}/benchmarks/pixels_train.tsv"
        conda:
            "../envs/lineageflow.yaml"
        script:
            "../scripts/pixels_train.py"


rule pixels_compile:
    input:
        classifier=MODELS["pixel_classifier"],
    output:
        f"{OUT}/pixels/classifier_compiled.so",  # in this run's folder, also when the classifier is another run's
    threads: config["threads"]
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    log:
        f"{OUT}/logs/pixels_compile.log",
    benchmark:
        f"{OUT}/benchmarks/pixels_compile.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/pixels_compile.py"


for seq in SEQUENCES:

    rule:
        name:
            seq.rule("pixels_predict")
        input:
            raw=seq.chunk_raw_input,
            classifier=MODELS["pixel_classifier"],
            compiled=COMPILED_FOREST,  # config key pixels.forest: [] when the scikit-learn forest predicts
            normalisation=seq.path("pixels/normalisation.json"),
        output:
            seq.path("pixels/probabilities/{chunk}.h5"),
            check=seq.path("pixels/frame_check/{chunk}.parquet"),  # bad frames (objects_threshold skips them)
        wildcard_constraints:
            chunk=seq.chunk_regex,
        params:
            out=lambda wildcards: OUT,  # paths inside OUT are recorded relative to it
            raw=seq.raw,
            frames=seq.chunk_range,
            input_check={k: v for k, v in config["input_check"].items() if k != "bad_frames"},
        threads: config["threads"]
        resources:
            mem_mb=lambda wc, attempt: 4000 * attempt,
            runtime=lambda wc, attempt: 30 * attempt,
        log:
            seq.log("pixels_predict"),
        benchmark:
            seq.benchmark("pixels_predict")
        conda:
            "../envs/lineageflow.yaml"
        script:
            "../scripts/pixels_predict.py"
