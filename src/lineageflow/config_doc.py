"""config/README.md, every configuration key with its type, default and description, made from config/schema.yaml
(the one place defaults live), so the page cannot drift from the schema: ``python -m lineageflow.config_doc >
config/README.md`` writes it, and tests/test_config_doc.py fails when the committed page differs.

A section per object of the schema (``pixels``, ``pixels.normalise``, ...), a table row per other key.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lineageflow.config import load_schema

SCHEMA = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"
COMMAND = "python -m lineageflow.config_doc > config/README.md"


def config_doc(schema: dict) -> str:
    """The Markdown page for ``schema`` (a JSON schema of objects, as config/schema.yaml)."""
    lines = [
        f"# {schema.get('title', 'Configuration')}",
        "",
        f"<!-- generated from config/schema.yaml by `{COMMAND}`: edit the schema, not this page -->",
        "",
        _cell(_text(schema.get("description", ""))),
        "",
        "Set keys in a config file (`--configfile FILE`, see `config/config.yaml`) or on the command line "
        "(`--config key=value`, nested keys as `section={key: value}`). A key's default applies when it is not given.",
        "",
    ]
    lines += _section("Top-level keys", "", schema, "")
    return "\n".join(lines).rstrip() + "\n"


def _section(title: str, description: str, schema: dict, prefix: str) -> list[str]:
    props = schema.get("properties", {})
    rows = [(name, sub) for name, sub in props.items() if not _is_object(sub)]
    lines = [f"## {title}", ""]
    if description:
        lines += [_cell(_text(description)), ""]
    if rows:
        lines += ["| key | type | default | description |", "|---|---|---|---|"]
        for name, sub in rows:
            lines += _rows(prefix + name, sub)
        lines.append("")
    for name, sub in props.items():
        if _is_object(sub):
            key = prefix + name
            lines += _section(f"`{key}`", sub.get("description", ""), sub, key + ".")
    return lines


def _is_object(sub: dict) -> bool:
    return sub.get("type") == "object" and "properties" in sub


def _rows(key: str, sub: dict) -> list[str]:
    """The key's row, and one row per field when it is a list of objects (``key[].field``)."""
    default = _default(sub["default"]) if "default" in sub else "—"
    rows = [f"| `{key}` | {_cell(type_text(sub))} | {_cell(default)} | {_cell(_text(sub.get('description', '')))} |"]
    items = sub.get("items", {})
    if isinstance(items, dict) and _is_object(items):
        required = set(items.get("required", []))
        for name, field in items["properties"].items():
            field = dict(field, description=field.get("description", "required" if name in required else "optional"))
            rows += _rows(f"{key}[].{name}", field)
    return rows


def type_text(sub: dict) -> str:
    """A short reading of a key's type and limits: ``integer ≥ 1``, ``one of movie, frame, none``, ``list of number
    > 0 (2–3 items)``, ``number ≥ 0, or auto``."""
    if "oneOf" in sub:
        return ", or ".join(type_text(alt) for alt in sub["oneOf"])
    if "enum" in sub:
        values = [str(v) for v in sub["enum"]]
        return values[0] if len(values) == 1 else "one of " + ", ".join(values)
    kind = sub.get("type", "any")
    if kind == "array":
        items = sub.get("items", {})
        inner = "object" if _is_object(items) else type_text(items) if items else "any"
        text = f"list of {inner}"
        lo, hi = sub.get("minItems"), sub.get("maxItems")
        if lo is not None and hi is not None:
            text += f" ({lo} items)" if lo == hi else f" ({lo}–{hi} items)"
        elif lo is not None:
            text += " (not empty)" if lo == 1 else f" (at least {lo} items)"
        return text
    limits = [f"{sign} {_number(sub[k])}" for k, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"),
                                                          ("maximum", "≤"), ("exclusiveMaximum", "<")) if k in sub]
    text = kind + (" " + ", ".join(limits) if limits else "")
    if "pattern" in sub:
        text += f" matching `{sub['pattern']}`"
    return text


def _number(value) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _default(value) -> str:
    if value == "":
        return "empty"
    if isinstance(value, str):
        return f"`{value}`"
    return f"`{json.dumps(value)}`"


def _text(description) -> str:
    """A description folded onto one line (YAML's `>` keeps its last newline)."""
    return " ".join(str(description).split())


def _cell(text: str) -> str:
    """Safe in a Markdown table cell: pipes escaped, and ``<`` outside code spans (``results/<name>`` would be read as
    an HTML tag and vanish)."""
    parts = text.replace("|", "\\|").split("`")
    for i in range(0, len(parts), 2):  # outside the code spans
        parts[i] = parts[i].replace("<", "&lt;")
    return "`".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write config/README.md (Markdown, to stdout) from config/schema.yaml.")
    ap.add_argument("schema", nargs="?", default=str(SCHEMA), help="schema file (default: the checkout's)")
    a = ap.parse_args(argv)
    sys.stdout.write(config_doc(load_schema(a.schema)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
