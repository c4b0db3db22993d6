# Exports of the lineage, one rule each: Cell Tracking Challenge (res_track.txt + maskTTT.tif), MaMuT XML +
# BigDataViewer XML/HDF5 of the raw movie, a CSV table of objects, GEFF with its segmentation, napari's Tracks
# layer (tracks.csv + graph.json + layer.json) and ilastik's tracking and divisions tables.
# Config key `exports` selects which ones rule all makes (export_outputs() in common.smk); any of them can be
# asked for by its output path.
# Config key `export.first_frame_labels` (sparse ground truth): rule export_selection keeps only the lineages of
# the objects of frame 0 that a reference label image marks, and every export (and so the evaluation, which scores
# the CTC export) reads those tables instead of the tracked lineage.


rule export_selection:
    input:
        nodes=rules.track_lineage.output.nodes,
        tracks=rules.track_lineage.output.tracks,
        labels=rules.track_mergers.output.labels,
        reference=FIRST_FRAME_LABELS or [],
    output:
        nodes=f"{OUT}/export/lineage_nodes.parquet",
        tracks=f"{OUT}/export/tracks.csv",
        summary=f"{OUT}/export/selection.json",
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    log:
        f"{OUT}/logs/export_selection.log",
    benchmark:
        f"{OUT}/benchmarks/export_selection.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/export_selection.py"


rule export_ctc:
    input:
        nodes=export_lineage("nodes"),
        tracks=export_lineage("tracks"),
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
        nodes=export_lineage("nodes"),
        tracks=export_lineage("tracks"),
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
        nodes=export_lineage("nodes"),
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
        nodes=export_lineage("nodes"),
        tracks=export_lineage("tracks"),
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
        nodes=export_lineage("nodes"),
        tracks=export_lineage("tracks"),
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
        nodes=export_lineage("nodes"),
        tracks=export_lineage("tracks"),
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
