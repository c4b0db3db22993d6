"""Configuration: fill defaults from the JSON schema, validate, and say exactly which key is wrong."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import ConfigError


def load_schema(path: str | Path) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def _fill_defaults(config: dict, schema: dict) -> None:
    """Insert schema defaults for absent keys, recursing into objects (including defaulted ones)."""
    for key, sub in schema.get("properties", {}).items():
        if key not in config and "default" in sub:
            config[key] = copy.deepcopy(sub["default"])
        if sub.get("type") == "object" and isinstance(config.get(key), dict):
            _fill_defaults(config[key], sub)


_SCALARS = {"integer": int, "number": (int, float), "boolean": bool}


def _integral(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(f"key {key!r} is given twice{_where(key_node)}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _where(node) -> str:
    return f" (line {node.start_mark.line + 1}, column {node.start_mark.column + 1})" if node.start_mark else ""


def load_yaml_unique(text: str, source: str):
    """Parse YAML text, refusing duplicate keys; errors name ``source``."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def check_command_line(argv: list[str]) -> None:
    """Refuse duplicate keys in YAML values given with --config (demo='{n_frames: 8, n_frames: 2000}') and in
    --configfile files, which Snakemake's own parser accepts, keeping the last."""
    in_config = in_file = False
    for arg in argv:
        if arg.startswith("-"):
            in_config = arg in ("--config", "-C")
            in_file = arg in ("--configfile", "--configfiles")
            continue
        if in_file and Path(arg).is_file():
            try:
                load_yaml_unique(Path(arg).read_text(), f"config file {arg}")
            except yaml.YAMLError:
                pass
        if in_config and "=" in arg:
            key, value = arg.split("=", 1)
            if value.lstrip().startswith("{"):
                try:
                    load_yaml_unique(value, f"config key '{key}' on the command line")
                except yaml.YAMLError:
                    pass  # Snakemake reports malformed YAML itself


def _coerce(value, schema: dict):
    """Turn strings into the schema's scalar types: Snakemake's --config reads nested YAML values as strings."""
    kind = schema.get("type")
    if isinstance(value, str) and "oneOf" in schema:  # e.g. a number or 'auto': the first alternative that parses
        for alt in schema["oneOf"]:
            parsed = _coerce(value, alt)
            if parsed is not value:
                return parsed
        return value
    if isinstance(value, str) and kind in _SCALARS:
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        parsed = _integral(parsed) if kind == "integer" else parsed
        ok = isinstance(parsed, _SCALARS[kind]) and (kind == "boolean" or not isinstance(parsed, bool))
        return parsed if ok else value
    if kind == "integer":  # window_size=6.0 on the command line: 6 (6.5 stays a float and is refused)
        return _integral(value)
    if isinstance(value, str) and kind == "array":
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        value = parsed if isinstance(parsed, list) else value
    if kind == "array" and isinstance(value, list) and "items" in schema:
        return [_coerce(v, schema["items"]) for v in value]
    if kind == "object" and isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: (_coerce(v, props[k]) if k in props else v) for k, v in value.items()}
    return value


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def _describe(error: jsonschema.ValidationError, schema: dict) -> str:
    key = _key_path(error)
    if error.validator == "additionalProperties":
        # jsonschema does not say which key; find it ourselves.
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        where = f" in '{key}'" if error.absolute_path else ""
        return (f"unknown config key{'s' if len(unknown) > 1 else ''} {', '.join(repr(u) for u in unknown)}{where}; "
                f"allowed keys: {', '.join(allowed)}")
    sub = error.schema
    allowed = ""
    if "oneOf" in sub:  # e.g. a number or a word: name every alternative
        alternatives = []
        for alt in sub["oneOf"]:
            fake = jsonschema.ValidationError("", validator="", path=error.path, instance=error.instance, schema=alt)
            alternatives.append(_describe(fake, schema).split("expected ", 1)[1])
        return (f"config key '{key}' has the value {error.instance!r}, which is not allowed: expected "
                + " or ".join(alternatives))
    if "enum" in sub:
        allowed = "one of " + ", ".join(repr(v) for v in sub["enum"])
    else:
        parts = []
        if "type" in sub:
            parts.append(f"type {sub['type']}")
        for bound, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
            if bound in sub:
                parts.append(f"{word} {sub[bound]}")
        if "minItems" in sub or "maxItems" in sub:
            parts.append(f"{sub.get('minItems', 0)} to {sub.get('maxItems', 'any number of')} items")
        if "pattern" in sub:
            parts.append(f"matching {sub['pattern']}")
        allowed = ", ".join(parts) or error.message
    return f"config key '{key}' has the value {error.instance!r}, which is not allowed: expected {allowed}"


def validate_config(config: dict[str, Any], schema: dict) -> dict[str, Any]:
    """Return a validated copy of ``config`` with defaults filled in; raise ConfigError naming the first bad key."""
    cfg = _coerce(copy.deepcopy(config), schema)
    _fill_defaults(cfg, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        # the deepest error of the first branch is the most specific one
        err = errors[0]
        while err.context and err.validator != "oneOf":  # a oneOf is described by all its alternatives
            err = err.context[0]
        raise ConfigError(_describe(err, schema))
    _check_cross_keys(cfg)
    return cfg


def _check_cross_keys(cfg: dict) -> None:
    obj = cfg["objects"]
    if obj["method"] == "hysteresis" and obj["low"] > obj["high"]:
        raise ConfigError(
            f"config keys 'objects.low' ({obj['low']}) and 'objects.high' ({obj['high']}): low must not exceed high")
    if obj["max_size"] and obj["max_size"] < obj["min_size"]:
        raise ConfigError(
            f"config key 'objects.max_size' ({obj['max_size']}) is smaller than 'objects.min_size' ({obj['min_size']})")
    low, high = cfg["qc"]["uncertain_band"]
    if low > high:
        raise ConfigError(f"config key 'qc.uncertain_band' = {[low, high]!r}: the lower bound must not exceed the "
                          "upper bound (e.g. [0.3, 0.7])")
    norm = cfg["pixels"]["normalise"]
    if norm["low"] >= norm["high"]:
        raise ConfigError(f"config keys 'pixels.normalise.low' ({norm['low']}) and 'pixels.normalise.high' "
                          f"({norm['high']}): low must be below high (percentiles)")
    if cfg["dataset"] and not cfg["input"]:
        raise ConfigError("config key 'dataset' is set but 'input' is empty: 'dataset' names a dataset inside an HDF5 input")
    shape = cfg["demo"]["shape"]
    if shape and len(shape) != cfg["demo"]["ndim"]:
        raise ConfigError(
            f"config key 'demo.shape' has {len(shape)} entries but 'demo.ndim' is {cfg['demo']['ndim']}")
