# Objects: probabilities (ours or ilastik's) or given label images → label chunks → one feature table per chunk.



if RUN.objects_from == "labels":

    rule objects_relabel:
        input:
            labels=config["objects"]["labels"],  # the folder the job lists
            chunk_labels=labels_chunk_input,  # the files it reads
        output:
            f"{OUT}/objects/labels/{{chunk}}.h5",
        params:
            frames=chunk_range,
            shape=RUN.spatial_shape,
            objects=config["objects"],
        resources:
            mem_mb=lambda wc, attempt: 2000 * attempt,
            runtime=lambda wc, attempt: 20 * attempt,
        log:
            f"{OUT}/logs/objects_relabel/{{chunk}}.log",
        benchmark:
            f"{OUT}/benchmarks/objects_relabel/{{chunk}}.tsv"
        conda:
            "../envs/lineageflow.yaml"
        script:
            "../scripts/objects_relabel.py"

else:

    rule objects_threshold:
        input:
            probabilities=probabilities_input,
            classifier=threshold_classifier(),
            # our pixel stage's bad-frame check (input_check); ilastik's probabilities come unchecked
            check=f"{OUT}/pixels/frame_check/{{chunk}}.parquet" if RUN.objects_from == "pixels" else [],
        output:
            f"{OUT}/objects/labels/{{chunk}}.h5",
        params:
            frames=chunk_range,
            bad_frames=config["input_check"]["bad_frames"],
            skip_abnormal=config["input_check"]["skip_abnormal"],
            external=RUN.objects_from == "probabilities",
            axes=config["pixels"]["probabilities_axes"],
            voxel_size=RUN.voxel_size,
            objects=config["objects"],
        resources:
            mem_mb=lambda wc, attempt: 2000 * attempt,
            runtime=lambda wc, attempt: 20 * attempt,
        log:
            f"{OUT}/logs/objects_threshold/{{chunk}}.log",
        benchmark:
            f"{OUT}/benchmarks/objects_threshold/{{chunk}}.tsv"
        conda:
            "../envs/lineageflow.yaml"
        script:
            "../scripts/objects_threshold.py"


rule objects_features:
    input:
        raw=raw_chunk_input,
        labels=f"{OUT}/objects/labels/{{chunk}}.h5",
    output:
        f"{OUT}/objects/features/{{chunk}}.parquet",
    params:
        out=lambda wildcards: OUT,  # paths inside OUT are recorded relative to it
        raw=raw_params(),
        voxel_size=RUN.voxel_size,
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    log:
        f"{OUT}/logs/objects_features/{{chunk}}.log",
    benchmark:
        f"{OUT}/benchmarks/objects_features/{{chunk}}.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/objects_features.py"


rule objects_evaluate:
    input:
        labels=expand(f"{OUT}/objects/labels/{{chunk}}.h5", chunk=CHUNKS),
        gt=gt_input(RUN.eval_gt) if RUN.eval_gt else [],
    output:
        f"{OUT}/eval/segmentation.json",
    params:
        out=lambda wildcards: OUT,  # paths inside OUT are recorded relative to it
        gt=RUN.eval_gt,
        shape=RUN.spatial_shape,
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    log:
        f"{OUT}/logs/objects_evaluate.log",
    benchmark:
        f"{OUT}/benchmarks/objects_evaluate.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/objects_evaluate.py"
