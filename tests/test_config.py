"""Tests of lineageflow.config with the real schema (config/schema.yaml) and the demo config (config/config.yaml)."""

import copy
from pathlib import Path

import pytest
import yaml

from lineageflow.config import load_schema, validate_config
from lineageflow.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "config" / "schema.yaml"
CONFIG_PATH = ROOT / "config" / "config.yaml"


@pytest.fixture(scope="module")
def schema():
    return load_schema(SCHEMA_PATH)


def _properties(schema, prefix=""):
    """(dotted key, sub-schema) of every property, recursively."""
    for key, sub in schema.get("properties", {}).items():
        yield prefix + key, sub
        if sub.get("type") == "object":
            yield from _properties(sub, prefix + key + ".")


def _expected_defaults(schema):
    """The config an empty config should become: every default, nested objects filled recursively."""
    out = {}
    for key, sub in schema.get("properties", {}).items():
        if sub.get("type") == "object":
            out[key] = {**copy.deepcopy(sub.get("default", {})), **_expected_defaults(sub)}
        else:
            out[key] = copy.deepcopy(sub["default"])
    return out


def _error(schema, config) -> str:
    with pytest.raises(ConfigError) as e:
        validate_config(config, schema)
    return str(e.value)


# --- the schema itself -------------------------------------------------------------------------------------------

def test_schema_is_a_valid_json_schema(schema):
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema.get("additionalProperties") is False


def test_every_key_has_default_and_description(schema):
    keys = list(_properties(schema))
    assert len(keys) > 20
    missing_default = [k for k, sub in keys if "default" not in sub]
    missing_description = [k for k, sub in keys if not str(sub.get("description", "")).strip()]
    assert missing_default == [], f"keys without a default: {missing_default}"
    assert missing_description == [], f"keys without a description: {missing_description}"
    # an unquoted ", " or ": " in a flow-style description silently cuts it into a stray key with no value
    stray = [(k, extra) for k, sub in keys for extra, v in sub.items() if v is None]
    assert stray == [], f"descriptions cut by YAML (quote them): {stray}"


def test_every_object_rejects_unknown_keys(schema):
    open_objects = [k for k, sub in _properties(schema) if sub.get("type") == "object"
                    and sub.get("additionalProperties") is not False]
    assert open_objects == []


def test_every_default_is_valid(schema):
    """The defaults alone validate (i.e. the empty config is the demo)."""
    cfg = validate_config({}, schema)
    assert cfg["input"] == ""


# --- defaults ----------------------------------------------------------------------------------------------------

def test_defaults_filled(schema):
    cfg = validate_config({}, schema)
    assert cfg == _expected_defaults(schema)
    # a few concrete values, so a changed default is noticed
    assert cfg["frames_per_job"] == 25
    assert cfg["objects"]["method"] == "simple"
    assert cfg["demo"]["ndim"] == 2
    assert cfg["pixels"]["n_trees"] == 100
    for key, _ in _properties(schema):
        node = cfg
        for part in key.split("."):
            assert part in node, f"default of {key} not filled"
            node = node[part]


def test_defaults_fill_partial_nested(schema):
    cfg = validate_config({"objects": {"method": "hysteresis"}, "demo": {"ndim": 3}}, schema)
    assert cfg["objects"]["method"] == "hysteresis"
    assert cfg["objects"]["low"] == 0.4 and cfg["objects"]["high"] == 0.7
    assert cfg["demo"]["ndim"] == 3 and cfg["demo"]["n_frames"] == 30
    assert cfg["pixels"]["train_frames"] == 4


def test_input_not_modified_and_defaults_not_shared(schema):
    config = {"objects": {"sigma": [2.0, 2.0]}}
    before = copy.deepcopy(config)
    a = validate_config(config, schema)
    assert config == before
    a["voxel_size"].append(9.0)
    a["demo"]["n_frames"] = 99
    b = validate_config({}, schema)
    assert b["voxel_size"] == [1.0, 1.0, 1.0]
    assert b["demo"]["n_frames"] == 30
    assert schema["properties"]["voxel_size"]["default"] == [1.0, 1.0, 1.0]


def test_demo_config_validates(schema):
    with open(CONFIG_PATH) as fh:
        config = yaml.safe_load(fh)
    cfg = validate_config(config, schema)
    assert cfg["input"] == ""
    assert set(cfg) == set(schema["properties"])


def test_valid_values_pass(schema):
    cfg = validate_config({
        "input": "data/01", "dataset": "exported_data", "axes": "TZYX", "channel": 1, "voxel_size": [2, 0.5, 0.5],
        "frames_per_job": 1, "threads": 4,
        "demo": {"ndim": 3, "shape": [16, 64, 64]},
        "objects": {"method": "hysteresis", "low": 0.5, "high": 0.5, "min_size": 20, "max_size": 0,
                    "sigma": [0, 1]},
        "pixels": {"features": ["GaussianSmoothing:1.0"], "probabilities_axes": "tyxc"},
    }, schema)
    assert cfg["axes"] == "TZYX"
    assert cfg["objects"]["max_size"] == 0


# --- unknown keys ------------------------------------------------------------------------------------------------

def test_unknown_top_level_key(schema):
    msg = _error(schema, {"inptu": "data/01"})
    assert "'inptu'" in msg
    assert "unknown" in msg
    assert "input" in msg  # the allowed keys are listed


def test_unknown_nested_key(schema):
    msg = _error(schema, {"objects": {"treshold": 0.3}})
    assert "'treshold'" in msg
    assert "objects" in msg
    assert "threshold" in msg  # allowed keys of objects
    msg = _error(schema, {"demo": {"frames": 3}})
    assert "'frames'" in msg and "demo" in msg and "n_frames" in msg
    msg = _error(schema, {"pixels": {"trees": 3}})
    assert "'trees'" in msg and "pixels" in msg and "n_trees" in msg


def test_several_unknown_keys(schema):
    msg = _error(schema, {"foo": 1, "bar": 2})
    assert "'foo'" in msg and "'bar'" in msg


# --- wrong values ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("config, key, value, allowed", [
    ({"objects": {"method": "otsu"}}, "objects.method", "'otsu'", ["'simple'", "'hysteresis'"]),
    ({"demo": {"ndim": 4}}, "demo.ndim", "4", ["2", "3"]),
    ({"frames_per_job": 0}, "frames_per_job", "0", [">= 1"]),
    ({"frames_per_job": "ten"}, "frames_per_job", "'ten'", ["integer"]),
    ({"frames_per_job": 2.5}, "frames_per_job", "2.5", ["integer"]),
    ({"threads": True}, "threads", "True", ["integer"]),
    ({"channel": -1}, "channel", "-1", [">= 0"]),
    ({"out": 5}, "out", "5", ["string"]),
    ({"objects": {"threshold": 1.5}}, "objects.threshold", "1.5", ["<= 1"]),
    ({"objects": {"low": -0.1}}, "objects.low", "-0.1", [">= 0"]),
    ({"objects": {"min_size": -3}}, "objects.min_size", "-3", [">= 0"]),
    ({"objects": {"max_foreground_fraction": 0}}, "objects.max_foreground_fraction", "0", ["> 0"]),
    ({"objects": {"sigma": [1, -1]}}, "objects.sigma.1", "-1", [">= 0"]),
    ({"voxel_size": [1, 0]}, "voxel_size.1", "0", ["> 0"]),
    ({"voxel_size": [1]}, "voxel_size", "[1]", ["2 to 3 items"]),
    ({"voxel_size": [1, 1, 1, 1]}, "voxel_size", "[1, 1, 1, 1]", ["2 to 3 items"]),
    ({"voxel_size": "1,1"}, "voxel_size", "'1,1'", ["array"]),
    ({"demo": {"n_frames": 1}}, "demo.n_frames", "1", [">= 2"]),
    ({"demo": {"shape": [4, 64]}}, "demo.shape.0", "4", [">= 8"]),
    ({"demo": None}, "demo", "None", ["object"]),
    ({"pixels": {"n_trees": 0}}, "pixels.n_trees", "0", [">= 1"]),
    ({"pixels": {"features": [1]}}, "pixels.features.0", "1", ["string"]),
    ({"axes": "tqx"}, "axes", "'tqx'", ["^[tczyxTCZYX]*$"]),
    ({"pixels": {"probabilities_axes": "t y x"}}, "pixels.probabilities_axes", "'t y x'", ["tczyx"]),
])
def test_wrong_values(schema, config, key, value, allowed):
    msg = _error(schema, config)
    assert f"'{key}'" in msg, msg
    assert value in msg, msg
    for a in allowed:
        assert a in msg, msg


def test_error_names_first_bad_key_only(schema):
    msg = _error(schema, {"frames_per_job": 0, "objects": {"method": "otsu"}})
    assert "frames_per_job" in msg


# --- cross-key checks --------------------------------------------------------------------------------------------

def test_hysteresis_low_above_high(schema):
    msg = _error(schema, {"objects": {"method": "hysteresis", "low": 0.8, "high": 0.5}})
    assert "objects.low" in msg and "objects.high" in msg
    assert "0.8" in msg and "0.5" in msg
    # only checked for the hysteresis method
    validate_config({"objects": {"method": "simple", "low": 0.8, "high": 0.5}}, schema)


def test_max_size_below_min_size(schema):
    msg = _error(schema, {"objects": {"min_size": 20, "max_size": 5}})
    assert "objects.max_size" in msg and "objects.min_size" in msg
    assert "5" in msg and "20" in msg
    validate_config({"objects": {"min_size": 20, "max_size": 0}}, schema)  # 0 = no limit
    validate_config({"objects": {"min_size": 20, "max_size": 20}}, schema)


def test_demo_shape_length(schema):
    msg = _error(schema, {"demo": {"shape": [64, 64, 64]}})
    assert "demo.shape" in msg and "demo.ndim" in msg
    msg = _error(schema, {"demo": {"ndim": 3, "shape": [64, 64]}})
    assert "demo.shape" in msg and "3" in msg
    validate_config({"demo": {"ndim": 3, "shape": [16, 64, 64]}}, schema)
    validate_config({"demo": {"ndim": 3, "shape": []}}, schema)


def test_dataset_without_input(schema):
    msg = _error(schema, {"dataset": "exported_data"})
    assert "'dataset'" in msg and "'input'" in msg
    validate_config({"dataset": "exported_data", "input": "movie.h5"}, schema)


def test_command_line_strings_are_coerced_to_schema_types():
    """Snakemake's --config reads nested YAML scalars as strings ('6'); the schema's types win."""
    from lineageflow.config import load_schema, validate_config

    schema = load_schema(Path(__file__).resolve().parents[1] / "config" / "schema.yaml")
    cfg = validate_config({"demo": {"n_cells": "6", "ndim": "3"}, "voxel_size": ["2.0", "0.5", "0.5"],
                           "objects": {"threshold": "0.3", "sigma": ["1", "1"]}}, schema)
    assert cfg["demo"]["n_cells"] == 6 and cfg["demo"]["ndim"] == 3
    assert cfg["voxel_size"] == [2.0, 0.5, 0.5] and cfg["objects"]["threshold"] == 0.3
    with pytest.raises(ConfigError, match="demo.n_cells"):
        validate_config({"demo": {"n_cells": "six"}}, schema)


def test_number_or_word_keys_accept_command_line_strings():
    """objects.split is a number or 'auto'; Snakemake hands nested --config values over as strings."""
    schema = load_schema(ROOT / "config" / "schema.yaml")
    assert validate_config({}, schema)["objects"]["split"] == "auto"
    for given, expected in (("0", 0), ("0.4", 0.4), ("auto", "auto"), (0.3, 0.3)):
        assert validate_config({"objects": {"split": given}}, schema)["objects"]["split"] == expected
    for bad in ("1.5", "yes", -0.1):
        with pytest.raises(ConfigError, match=r"objects\.split.*number.*'auto'"):
            validate_config({"objects": {"split": bad}}, schema)


def test_integral_floats_become_integers(schema):
    """window_size=6.0 / frames_per_job='4.0' on the command line are the integers they name; 6.5 is refused."""
    cfg = validate_config({"window_size": 6.0, "frames_per_job": "4.0", "demo": {"n_frames": 8.0}}, schema)
    assert (cfg["window_size"], cfg["frames_per_job"], cfg["demo"]["n_frames"]) == (6, 4, 8)
    assert all(type(v) is int for v in (cfg["window_size"], cfg["frames_per_job"], cfg["demo"]["n_frames"]))
    with pytest.raises(ConfigError, match=r"'window_size' has the value 6.5.*integer"):
        validate_config({"window_size": 6.5}, schema)


def test_duplicate_keys_on_the_command_line_and_in_config_files(tmp_path):
    from lineageflow.config import check_command_line

    with pytest.raises(ConfigError, match=r"config key 'demo' on the command line: key 'n_frames' is given twice"):
        check_command_line(["snakemake", "--cores", "2", "--config", "out=x", "demo={n_frames: 8, n_frames: 2000}"])
    check_command_line(["snakemake", "--config", "demo={n_frames: 8, seed: 2}", "out=x", "-n"])
    f = tmp_path / "c.yaml"
    f.write_text("window_size: 10\noverlap: 2\nwindow_size: 20\n")
    with pytest.raises(ConfigError, match=r"c.yaml: key 'window_size' is given twice \(line 3"):
        check_command_line(["snakemake", "--configfile", str(f)])
