# lineageflow: microscopy time-lapse → objects → classifiers → tracking → CTC export → evaluation
import os

from snakemake.utils import min_version

min_version("9.0")

# envs/lineageflow.post-deploy.sh installs the library of this checkout into the conda environment (--sdm conda)
os.environ.update(LINEAGEFLOW_SOURCE=workflow.basedir)


configfile: f"{workflow.basedir}/config/config.yaml"


# a movies table (config key movies) runs each of its movies as a module of this same workflow, in one DAG
if config.get("movies"):

    include: "rules/movies.smk"


    rule all:
        default_target: True
        input:
            movies_outputs(),

    onsuccess:
        print(movies_summary(), flush=True)

else:

    include: "rules/common.smk"
    include: "rules/demo.smk"
    include: "rules/pixels.smk"
    include: "rules/flow.smk"
    include: "rules/objects.smk"
    include: "rules/qc.smk"
    include: "rules/classify.smk"
    include: "rules/track.smk"
    include: "rules/export.smk"
    include: "rules/evaluate.smk"
    include: "rules/report.smk"
    include: "rules/benchmark.smk"


    rule all:
        default_target: not config["movie_of"]  # a movies table's movie: the table's rule all is
        input:
            all_outputs(),


    # The end-of-run summary on stdout (results, exports, accuracy, QC warnings, the report command); it reads the run's
    # files and names what is missing instead of failing.
    onsuccess:
        from lineageflow.run_summary import report_command, summarise_run

        print(summarise_run(OUT, exports=config["exports"], gt=RUN.eval_gt, report_command=report_command(sys.argv),
                            report_page=f"{REPORT_DIR}/report.html"), flush=True)
