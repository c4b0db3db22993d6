# Exports of the lineage: Cell Tracking Challenge format (res_track.txt + maskTTT.tif).


rule export_ctc:
    input:
        nodes=rules.track_lineage.output.nodes,
        tracks=rules.track_lineage.output.tracks,
        labels=rules.track_mergers.output.labels,
    output:
        directory(f"{OUT}/ctc"),
    params:
        n_frames=RUN.n_frames,
    log:
        f"{OUT}/logs/export_ctc.log",
    benchmark:
        f"{OUT}/benchmarks/export_ctc.tsv"
    conda:
        "../envs/lineageflow.yaml"
    script:
        "../scripts/export_ctc.py"
