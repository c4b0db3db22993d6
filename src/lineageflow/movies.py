"""A movies table (config key ``movies``): many movies in one run, one DAG.

The table is a TSV with a header row: required columns ``name`` and ``input``; optional ``gt``, ``train``,
``train_gt``, ``models``, ``voxel_size``, ``dataset``, ``axes``, ``channel``; any other column is a per-movie override
of a config key named by its dotted path (``tracking.solver``, ``objects.min_size``). Each movie becomes a full
config whose ``out`` is OUT/<name>. Movies with the same training movie and the same settings share one training:
the training movie is run (as far as its models) into OUT/training/<name>, and those movies use its models
(config key ``models``), so the training is done once.
"""

from __future__ import annotations

import copy
import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .config import validate_config
from .errors import ConfigError, InputError, LineageflowError

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_RESERVED_NAMES = {"training", "report", "logs", "benchmarks"}
_PATH_COLUMNS = ("input", "gt", "train", "train_gt", "models", "dataset", "axes")
# keys a row may not set: the run's layout is the table's
_FORBIDDEN = ("out", "movies", "movie_of", "report", "demo")
# keys that belong to one movie and do not decide what its training learns
_MOVIE_ONLY = ("input", "gt", "out", "dataset", "axes", "movie_of")


@dataclass(frozen=True)
class MovieRun:
    """One movie of the table (or a shared training): its name, the prefix of its rules, and its whole config."""

    name: str
    rules_prefix: str
    config: dict
    row: int = 0  # line of the table (0 for a training)


def read_table(path: str | Path) -> list[dict]:
    """Rows of the TSV as {column: text}, with ``_line`` (1-based line number); empty cells left out."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"config key 'movies' = {str(path)!r}: no such file (a TSV table of movies)")
    with open(p, newline="") as fh:
        lines = [(i, row) for i, row in enumerate(csv.reader(fh, delimiter="\t"), start=1)
                 if row and any(c.strip() for c in row) and not row[0].startswith("#")]
    if not lines:
        raise InputError(f"{p}: the movies table is empty (expected a header row with columns name and input)")
    header = [c.strip() for c in lines[0][1]]
    for needed in ("name", "input"):
        if needed not in header:
            raise InputError(f"{p}: the movies table has no column {needed!r} (header: {', '.join(header)}); "
                             "columns are separated by tabs")
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice or "" in header:
        raise InputError(f"{p}: the header names {'column ' + repr(twice[0]) + ' twice' if twice else 'an empty column'}")
    rows = []
    for line, cells in lines[1:]:
        if len(cells) > len(header):
            raise InputError(f"{p}, line {line}: {len(cells)} cells but the header has {len(header)} columns")
        row = {col: cell.strip() for col, cell in zip(header, cells) if cell.strip()}
        row["_line"] = line
        rows.append(row)
    if not rows:
        raise InputError(f"{p}: the movies table has a header but no movies")
    return rows


def _schema_node(schema: dict, dotted: str) -> dict | None:
    node = schema
    for part in dotted.split("."):
        node = node.get("properties", {}).get(part)
        if node is None:
            return None
    return node


def _cell_value(column: str, text: str, where: str):
    """A cell's value: paths as text, voxel_size as numbers ('0.5 0.2 0.2', '0.5,0.2,0.2' or '[0.5, 0.2, 0.2]'),
    other overrides as YAML (numbers, true/false, lists)."""
    if column in _PATH_COLUMNS:
        return text
    if column == "voxel_size":
        parts = [x for x in re.split(r"[\s,\[\]]+", text) if x]
        try:
            return [float(x) for x in parts]
        except ValueError:
            raise ConfigError(f"{where}: voxel_size {text!r} is not a list of numbers (e.g. 1.0,0.5,0.5)") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: column {column!r} = {text!r} is not a value: {exc}") from None


def _set(cfg: dict, dotted: str, value) -> None:
    node = cfg
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"config key {dotted!r}: {part!r} is not a section")
    node[last] = value


def _row_overrides(row: dict, schema: dict, where: str) -> dict:
    over: dict = {}
    for column, text in row.items():
        if column in ("_line", "name"):
            continue
        top = column.split(".")[0]
        if top in _FORBIDDEN:
            raise ConfigError(f"{where}: column {column!r} cannot be set per movie (the table decides "
                              f"{'the output folders' if top == 'out' else 'it'})")
        node = _schema_node(schema, column)
        if node is None or node.get("type") == "object":
            raise ConfigError(f"{where}: column {column!r} is not a config key (see config/schema.yaml; nested keys "
                              "are written with dots, e.g. tracking.solver)")
        _set(over, column, _cell_value(column, text, where))
    return over


def _deep_merge(base: dict, over: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def rules_prefix(name: str) -> str:
    """A movie's name as the prefix of its rules' names (Python identifiers)."""
    return "movie_" + re.sub(r"\W", "_", name)


def _training_name(train: str) -> str:
    """A training movie's folder name: a CTC sequence folder 01 of Fluo-N2DH-SIM+ → Fluo-N2DH-SIM+_01."""
    p = Path(train)
    name = p.resolve().name if p.is_dir() else p.stem
    if p.is_dir() and name.isdigit():
        name = f"{p.resolve().parent.name}_{name}"
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "train"


def out_dir(cfg: dict) -> str:
    """The folder holding one subfolder per movie: config key out, else results/<table name>."""
    return cfg["out"] or f"results/{Path(cfg['movies']).stem}"


def plan(base: dict, schema: dict) -> tuple[list[MovieRun], list[MovieRun]]:
    """The shared trainings and the movies of the table named by config key ``movies``, each with its whole,
    validated config. ``base`` is the run's config (validated); rows override it."""
    table = base["movies"]
    if base["report"]["datasets"]:
        raise ConfigError(f"config key 'report.datasets' cannot be combined with 'movies' = {table!r}: the report "
                          "of a movies table covers its movies")
    for key in ("input", "gt", "dataset", "axes"):
        if base[key]:
            raise ConfigError(f"config key {key!r} = {base[key]!r} cannot be combined with 'movies' = {table!r}: "
                              "each movie's input is a column of the table")
    out = out_dir(base)
    common = {k: v for k, v in base.items() if k not in ("movies", "report")}
    movies, trainings, groups, names = [], [], {}, set()
    for row in read_table(table):
        where = f"{table}, line {row['_line']}"
        name = row.get("name", "")
        if not name:
            raise ConfigError(f"{where}: the movie has no name")
        where = f"{where} ({name})"
        if not _NAME_RE.match(name) or name in _RESERVED_NAMES:
            raise ConfigError(f"{where}: name {name!r} must be letters, digits, '.', '_' or '-' (not starting with "
                              f"'.', '_' or '-') and not one of {', '.join(sorted(_RESERVED_NAMES))}")
        if rules_prefix(name) in names:
            raise ConfigError(f"{where}: another movie has the name {name!r} (or one differing only in '.', '-')")
        names.add(rules_prefix(name))
        cfg = _deep_merge(common, _row_overrides(row, schema, where))
        cfg["out"], cfg["movie_of"] = f"{out}/{name}", where
        if not cfg["input"]:
            raise ConfigError(f"{where}: the input cell is empty")
        cfg = _validated(cfg, schema, where)
        if cfg["train"] and not cfg["models"]:
            key = json.dumps({k: v for k, v in cfg.items() if k not in _MOVIE_ONLY}, sort_keys=True)
            if key not in groups:
                groups[key] = _training(cfg, out, {t.name for t in trainings}, schema, where)
                trainings.append(groups[key])
            cfg = {**cfg, "train": "", "train_gt": "", "models": groups[key].config["out"]}
        movies.append(MovieRun(name, rules_prefix(name), cfg, row["_line"]))
    return trainings, movies


def _training(cfg: dict, out: str, taken: set, schema: dict, where: str) -> MovieRun:
    """The run that learns the models from a training movie: the training movie as input, with its ground truth."""
    name = base_name = _training_name(cfg["train"])
    n = 2
    while name in taken:
        name, n = f"{base_name}-{n}", n + 1
    own = {"input": cfg["train"], "gt": cfg["train_gt"], "train": "", "train_gt": "", "dataset": "", "axes": "",
           "out": f"{out}/training/{name}", "movie_of": f"{where}: training movie {cfg['train']}"}
    return MovieRun(name, "training_" + re.sub(r"\W", "_", name), _validated({**cfg, **own}, schema, where))


def _validated(cfg: dict, schema: dict, where: str) -> dict:
    try:
        return validate_config(cfg, schema)
    except LineageflowError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def check(trainings: list[MovieRun], movies: list[MovieRun]) -> dict:
    """Resolve every run's inputs now (files exist, frames readable, ground truth present), naming the table's line.
    Models a shared training makes are not there yet; models a row names (column models) must be. Returns the
    movies' resolved inputs by name."""
    from .inputs import resolve

    made_here = {t.config["out"] for t in trainings}
    resolved = {}
    for run in [*trainings, *movies]:
        cfg = run.config if run.config["models"] in made_here else {**run.config, "movie_of": ""}
        try:
            resolved[run.name] = resolve(cfg)
        except LineageflowError as exc:
            raise type(exc)(f"{run.config['movie_of']}: {exc}") from None
    return {m.name: resolved[m.name] for m in movies}
