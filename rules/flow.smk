# Flow fields for highly motile cells (config key flow): one displacement field per frame pair t → t+1, per chunk of
# frames; objects_features samples it at each object, and linking follows it.


if config["flow"]["enabled"]:

    for seq in SEQUENCES:

        rule:
            name:
                seq.rule("flow_estimate")
            input:
                raw=seq.chunk_raw_input_and_next,
            output:
                seq.path("flow/{chunk}.h5"),
            wildcard_constraints:
                chunk=seq.chunk_regex,
            params:
                raw=seq.raw,
                frames=seq.chunk_range,
                n_frames=seq.n_frames,
                voxel_size=RUN.voxel_size,
                flow=config["flow"],
            resources:
                mem_mb=lambda wc, attempt: 2000 * attempt,
                runtime=lambda wc, attempt: 20 * attempt,
            log:
                seq.log("flow_estimate"),
            benchmark:
                seq.benchmark("flow_estimate")
            conda:
                "../envs/lineageflow.yaml"
            script:
                "../scripts/flow_estimate.py"
