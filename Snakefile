# lineageflow: microscopy time-lapse → objects → classifiers → tracking → CTC export → evaluation
from snakemake.utils import min_version

min_version("9.0")


configfile: f"{workflow.basedir}/config/config.yaml"


include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/pixels.smk"
include: "rules/objects.smk"
include: "rules/qc.smk"
include: "rules/classify.smk"
include: "rules/track.smk"
include: "rules/export.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
