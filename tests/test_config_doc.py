"""config/README.md is what lineageflow.config_doc makes from config/schema.yaml (so it cannot drift), and the
generator describes every key of the schema."""

import subprocess
import sys

from conftest import ROOT
from lineageflow.config import load_schema
from lineageflow.config_doc import COMMAND, config_doc, type_text

SCHEMA = ROOT / "config" / "schema.yaml"


def all_keys(schema, prefix=""):
    for name, sub in schema.get("properties", {}).items():
        yield prefix + name
        yield from all_keys(sub, prefix + name + ".")


def test_config_readme_is_generated_from_the_schema():
    made = config_doc(load_schema(SCHEMA))
    committed = (ROOT / "config" / "README.md").read_text()
    assert committed == made, f"config/README.md is out of date with config/schema.yaml: run `{COMMAND}`"


def test_every_key_has_a_row_or_a_section():
    page = config_doc(load_schema(SCHEMA))
    keys = list(all_keys(load_schema(SCHEMA)))
    assert len(keys) > 50 and "tracking.learn.max_iterations" in keys
    for key in keys:
        assert f"| `{key}` |" in page or f"## `{key}`" in page, key


def test_the_module_command_writes_the_page():
    proc = subprocess.run([sys.executable, "-m", "lineageflow.config_doc", str(SCHEMA)], capture_output=True,
                          text=True, check=True)
    assert proc.stdout == config_doc(load_schema(SCHEMA))


def test_rows_types_defaults_and_escaping():
    schema = {"title": "T", "description": "d", "properties": {
        "n": {"type": "integer", "minimum": 1, "default": 25, "description": "jobs | chunks"},
        "mode": {"type": "string", "enum": ["movie", "frame"], "default": "movie", "description": ">\n  two  lines\n"},
        "radius": {"oneOf": [{"type": "number", "minimum": 0}, {"type": "string", "enum": ["auto"]}], "default": "auto"},
        "out": {"type": "string", "default": "", "description": "results/<name>, not `a<b>`"},
        "sec": {"type": "object", "description": "A section.", "properties": {
            "size": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}, "minItems": 2,
                     "maxItems": 3, "default": [1.0, 1.0], "description": "voxel"},
            "crop": {"type": "array", "default": [], "items": {"type": "object", "required": ["frames"], "properties": {
                "frames": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}}}}}},
    }}
    page = config_doc(schema)
    assert "| `n` | integer ≥ 1 | `25` | jobs \\| chunks |" in page
    assert "| `mode` | one of movie, frame | `movie` | > two lines |" in page
    assert "| `radius` | number ≥ 0, or auto | `auto` |  |" in page
    assert "| `out` | string | empty | results/&lt;name>, not `a<b>` |" in page
    assert "## `sec`\n\nA section.\n" in page
    assert "| `sec.size` | list of number > 0 (2–3 items) | `[1.0, 1.0]` | voxel |" in page
    assert "| `sec.crop[].frames` | list of integer (2 items) | — | required |" in page
    assert type_text({"type": "array", "items": {"type": "string"}, "minItems": 1}) == "list of string (not empty)"
