# Objects: probabilities (ours or ilastik's) or given label images → label chunks → one feature table per chunk.



if RUN.objects_from == "labels":

    rule objects_relabel:
        input:
            labels=config["objects"]["labels"],  # the folder the job lists
            chunk_labels=labels_chunk_input,  # the files it reads
        output:
            f"{OUT}/objects/labels/{{chunk}}.h5",
        params:
            frames=INPUT.chunk_range,
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


for seq in SEQUENCES:
    if seq is INPUT and RUN.objects_from == "labels":
        continue
    external = seq is INPUT and RUN.objects_from == "probabilities"  # ilastik's export, unchecked

    rule:
        name:
            seq.rule("objects_threshold")
        input:
            probabilities=config["pixels"]["probabilities"] if external else seq.path("pixels/probabilities/{chunk}.h5"),
            # our pixel classifier holds the objects.split 'auto' decision
            classifier=[] if external else MODELS["pixel_classifier"],
            # our pixel stage's bad-frame check (input_check)
            check=[] if external else seq.path("pixels/frame_check/{chunk}.parquet"),
        output:
            seq.path("objects/labels/{chunk}.h5"),
        wildcard_constraints:
            chunk=seq.chunk_regex,
        params:
            frames=seq.chunk_range,
            bad_frames=config["input_check"]["bad_frames"],
            skip_abnormal=config["input_check"]["skip_abnormal"],
            external=external,
            axes=config["pixels"]["probabilities_axes"],
            voxel_size=RUN.voxel_size,
            objects=config["objects"],
        resources:
            mem_mb=lambda wc, attempt: 2000 * attempt,
            runtime=lambda wc, attempt: 20 * attempt,
        log:
            seq.log("objects_threshold"),
        benchmark:
            seq.benchmark("objects_threshold")
        conda:
            "../envs/lineageflow.yaml"
        script:
            "../scripts/objects_threshold.py"


for seq in SEQUENCES:

    rule:
        name:
            seq.rule("objects_features")
        input:
            raw=seq.chunk_raw_input,
            labels=seq.path("objects/labels/{chunk}.h5"),
            flow=seq.flow_input,  # config key flow.enabled: each object's displacement to the next frame
        output:
            seq.path("objects/features/{chunk}.parquet"),
        wildcard_constraints:
            chunk=seq.chunk_regex,
        params:
            out=lambda wildcards: OUT,  # paths inside OUT are recorded relative to it
            raw=seq.raw,
            voxel_size=RUN.voxel_size,
        resources:
            mem_mb=lambda wc, attempt: 2000 * attempt,
            runtime=lambda wc, attempt: 20 * attempt,
        log:
            seq.log("objects_features"),
        benchmark:
            seq.benchmark("objects_features")
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
