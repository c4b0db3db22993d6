# Quality control without ground truth: per chunk, one QC row per frame (raw health, probability margin, objects);
# per movie, the table of all frames with unreliable frames flagged, a plot and a summary. Every run makes it.
from pathlib import Path as _Path


rule qc_frames:
    input:
        raw=INPUT.chunk_raw_input,
        probabilities=qc_probabilities,
        labels=f"{OUT}/objects/labels/{{chunk}}.h5",
        normalisation=f"{OUT}/pixels/normalisation.json",  # the movie's reference for the bad-frame check
    output:
        f"{OUT}/qc/frames/{{chunk}}.parquet",
        check=f"{OUT}/qc/frame_check/{{chunk}}.parquet",
    params:
        out=lambda wildcards: OUT,  # paths inside OUT are recorded relative to it
        frames=INPUT.chunk_range,
        raw=raw_params(),
        external=RUN.objects_from == "probabilities",
        axes=config["pixels"]["probabilities_axes"],
        channel=config["objects"]["channel"],
        band=config["qc"]["uncertain_band"],
        input_check={k: v for k, v in config["input_check"].items() if k != "bad_frames"},
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    log:
        f"{OUT}/logs/qc_frames/{{chunk}}.log",
    benchmark:
        f"{OUT}/benchmarks/qc_frames/{{chunk}}.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/qc_frames.py"


rule qc_summary:
    input:
        frames=expand(f"{OUT}/qc/frames/{{chunk}}.parquet", chunk=CHUNKS),
        checks=expand(f"{OUT}/qc/frame_check/{{chunk}}.parquet", chunk=CHUNKS),
    output:
        table=f"{OUT}/qc/frames.csv",
        plot=f"{OUT}/qc/qc.png",
        summary=f"{OUT}/qc/summary.json",
        check=f"{OUT}/qc/frame_check.csv",
    params:
        qc=config["qc"],
        input_check=config["input_check"],
        skips=RUN.objects_from == "pixels",  # bad frames are skipped only where our pixel stage makes the objects
        name=_Path(OUT).name,
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    log:
        f"{OUT}/logs/qc_summary.log",
    benchmark:
        f"{OUT}/benchmarks/qc_summary.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/qc_summary.py"
