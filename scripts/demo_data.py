"""Rule demo_data: generate the embedded synthetic movie with its ground truth."""

import logging

from _helpers import run

from lineageflow.synthetic import SyntheticConfig, generate


def main(smk):
    d = smk.params.demo
    cfg = SyntheticConfig(ndim=d["ndim"], n_frames=d["n_frames"], shape=tuple(d["shape"]) or None,
                          n_cells=d["n_cells"], voxel_size=tuple(d["voxel_size"][-d["ndim"]:]), seed=d["seed"],
                          contrast=d["contrast"], motion=d["motion"], motion_step=d["motion_step"])
    summary = generate(smk.output[0], cfg)
    logging.getLogger("lineageflow").info("demo movie: %s", summary)


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
