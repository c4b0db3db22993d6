# Exports of the lineage, one rule each: Cell Tracking Challenge (res_track.txt + maskTTT.tif), MaMuT XML +
# BigDataViewer XML/HDF5 of the raw movie, a CSV table of objects, GEFF with its segmentation, napari's Tracks
# layer (tracks.csv + graph.json + layer.json) and ilastik's tracking and divisions tables.
# Config key `exports` selects which ones rule all makes (export_outputs() in common.smk); any of them can be
# asked for by its output path.


rule export_ctc:
    input:
        nodes=rules.track_lineage.output.nodes,
        tracks=rules.track_lineage.output.tracks,
        labels=rules.track_mergers.output.labels,
    output:
        directory(f"{OUT}/ctc"),
    params:
        n_frames=RUN.n_frames,
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    log:
        f"{OUT}/logs/export_ctc.log",
    benchmark:
        f"{OUT}/benchmarks/export_ctc.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/export_ctc.py"


rule export_mamut:
    input:
        nodes=rules.track_lineage.output.nodes,
        tracks=rules.track_lineage.output.tracks,
        raw=raw_input(),
    output:
        directory(f"{OUT}/mamut"),
    params:
        n_frames=RUN.n_frames,
        voxel_size=RUN.voxel_size,
        raw=raw_params(),
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
    log:
        f"{OUT}/logs/export_mamut.log",
    benchmark:
        f"{OUT}/benchmarks/export_mamut.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/export_mamut.py"


rule export_csv:
    input:
        nodes=rules.track_lineage.output.nodes,
    output:
        f"{OUT}/csv/objects.csv",
    params:
        ndim=RUN.ndim,
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    log:
        f"{OUT}/logs/export_csv.log",
    benchmark:
        f"{OUT}/benchmarks/export_csv.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/export_csv.py"


rule export_geff:
    input:
        nodes=rules.track_lineage.output.nodes,
        tracks=rules.track_lineage.output.tracks,
        labels=rules.track_mergers.output.labels,
    output:
        directory(f"{OUT}/geff/lineage.zarr"),
    params:
        n_frames=RUN.n_frames,
        voxel_size=RUN.voxel_size,
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    log:
        f"{OUT}/logs/export_geff.log",
    benchmark:
        f"{OUT}/benchmarks/export_geff.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/export_geff.py"


rule export_napari:
    input:
        nodes=rules.track_lineage.output.nodes,
        tracks=rules.track_lineage.output.tracks,
    output:
        directory(f"{OUT}/napari"),
    params:
        voxel_size=RUN.voxel_size,
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    log:
        f"{OUT}/logs/export_napari.log",
    benchmark:
        f"{OUT}/benchmarks/export_napari.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/export_napari.py"


rule export_ilastik:
    input:
        nodes=rules.track_lineage.output.nodes,
        tracks=rules.track_lineage.output.tracks,
    output:
        directory(f"{OUT}/ilastik"),
    params:
        ndim=RUN.ndim,
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    log:
        f"{OUT}/logs/export_ilastik.log",
    benchmark:
        f"{OUT}/benchmarks/export_ilastik.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/export_ilastik.py"
