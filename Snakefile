# lineageflow: microscopy time-lapse → objects → (tracking, evaluation: later stages)
from snakemake.utils import min_version

min_version("9.0")


configfile: f"{workflow.basedir}/config/config.yaml"


include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/pixels.smk"
include: "rules/objects.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
