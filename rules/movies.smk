# A movies table (config key movies): every movie of the table, and each shared training, is this same workflow
# imported as a module with its own config (out = OUT/<name>), so all their chunks and windows are jobs of one DAG
# and `--profile slurm` runs the movies in parallel. A movie's rules are named movie_<name>_<rule>; a shared
# training's training_<name>_<rule>, and only the jobs that make its models run.
import sys

from lineageflow import config as lf_config
from lineageflow import movies as lf_movies
from lineageflow.errors import LineageflowError


def _plan_movies(cfg):
    """Validate the config and the table, and resolve every movie's inputs; stop with one message before any job."""
    try:
        schema = lf_config.load_schema(workflow.source_path("../config/schema.yaml"))
        valid = lf_config.validate_config(cfg, schema)
        trainings, movies = lf_movies.plan(valid, schema)
        resolved = lf_movies.check(trainings, movies)
        return valid, trainings, movies, resolved
    except LineageflowError as exc:
        sys.stderr.write(f"lineageflow: {exc}\n")
        sys.exit(1)


config, TRAININGS, MOVIES, MOVIE_INPUTS = _plan_movies(config)


for _run in [*TRAININGS, *MOVIES]:
    _module = _run.rules_prefix
    _prefix = f"{_run.rules_prefix}_"

    module:
        name:
            _module
        snakefile:
            f"{workflow.basedir}/Snakefile"
        config:
            _run.config

    use rule * from _module as _prefix*


def movie_rule(movie, name):
    """A rule of a movie's module (e.g. movie_rule(m, "all"))."""
    return getattr(rules, f"{movie.rules_prefix}_{name}")


def movies_outputs():
    """What rule all makes: every movie's own rule all's targets (a shared training makes only its models)."""
    return [path for m in MOVIES for path in movie_rule(m, "all").input]


# --- the report over every movie (rules/report.smk, with the names it reads) --------------------------------------
from lineageflow.report import safe_name as _safe_name

OUT = lf_movies.out_dir(config)
REPORT_DIR = f"{config['report']['out'] or OUT}/report"


def report_inputs(wildcards):
    """Every movie's finished run (a shared training is not reported: it is not tracked)."""
    return {"runs": [path for m in MOVIES for path in movie_rule(m, "all").input]}


def _report_flow(m):
    """A movie's flow section reads its flow files when it estimated them (its config key flow.enabled)."""
    return {"frames_per_job": m.config["frames_per_job"]} if m.config["flow"]["enabled"] else None


def report_pngs(kind):
    movies = [m for m in MOVIES if _report_flow(m)] if kind == "flow" else MOVIES  # flow: the movies with flow
    return [f"{REPORT_DIR}/{kind}_{_safe_name(m.name)}.png" for m in movies]


def report_params():
    keys = ("dataset", "axes", "channel")
    return [{"name": _safe_name(m.name), "out": m.config["out"],
             "raw": {"path": m.config["input"], **{k: m.config[k] for k in keys}},
             **({"flow": _report_flow(m)} if _report_flow(m) else {})} for m in MOVIES]


include: "report.smk"


def movies_summary():
    """What the run prints when it ends (Snakefile onsuccess): each movie's results, then the report's command."""
    from lineageflow.run_summary import report_command, summarise_movies

    movies = [{"name": m.name, "out": m.config["out"], "exports": m.config["exports"],
               "gt": MOVIE_INPUTS[m.name].eval_gt} for m in MOVIES]
    return summarise_movies(movies, report_command=report_command(sys.argv), report_page=f"{REPORT_DIR}/report.html")
