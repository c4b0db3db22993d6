"""The few lines a run prints when it ends (Snakefile ``onsuccess``): where the results are, which exports were
written, the accuracy when ground truth was given, the QC warnings, and the command that makes the report.

Everything is read from the run's own output files, so the summary says what is there and names what is missing;
it never raises (a broken or half-made run folder is described, not an error).
"""

from __future__ import annotations

import json
import shlex
from datetime import datetime
from pathlib import Path

# config key `exports` -> (format, what the export writes under OUT: rules/export.smk)
EXPORT_PATHS = {"ctc": ("CTC", "ctc/"), "mamut": ("MaMuT + BigDataViewer", "mamut/"), "csv": ("CSV", "csv/objects.csv"),
                "geff": ("GEFF", "geff/lineage.zarr"), "napari": ("napari tracks", "napari/"),
                "ilastik": ("ilastik tables", "ilastik/")}
ACCURACY_KEYS = (("TRA", "TRA"), ("DET", "DET"), ("LNK", "LNK"), ("division F1", "division_f1"))
MAX_FRAMES_NAMED = 8  # flagged frames named one by one; the rest are counted

# Snakemake options that decide which run and which config the report is made for: kept in the report command.
# Value: how many values the option takes (None = all that follow, up to the next option).
_KEPT_OPTIONS = {
    "-s": 1, "--snakefile": 1, "-d": 1, "--directory": 1, "--profile": 1, "--workflow-profile": 1,
    "-c": 1, "--cores": 1, "-j": 1, "--jobs": 1, "-e": 1, "--executor": 1, "--use-conda": 0,
    "--sdm": None, "--software-deployment-method": None, "--configfile": None, "--configfiles": None,
    "--config": None, "-C": None,
}
_COUNTS = ("-c", "--cores", "-j", "--jobs")  # their value is optional: only a number (or all) is theirs


def summarise_run(out_dir, *, exports=None, gt=None, report_command: str | None = None,
                  report_page=None) -> str:
    """The end-of-run summary of the run folder ``out_dir``, as text (several lines).

    ``exports``: the export names the run was asked for (config key ``exports``), so that a missing one is named;
    None lists the exports found. ``gt``: the evaluation ground truth (truthy when there is one, '' or False when
    there is none), so a missing metrics file is told apart from a run without ground truth; None = unknown.
    ``report_command``/``report_page``: how the report is made and where it is written.
    """
    out = Path(out_dir)
    lines = [f"lineageflow: run finished; results in {out.resolve()}"]
    if not out.is_dir():
        lines.append(f"  nothing was written there: {out} does not exist")
    else:
        for name, section in (("exports", _exports_line), ("lineage", _lineage_line), ("accuracy", _accuracy_line),
                              ("QC", _qc_lines)):
            lines += _guarded(name, section, out, exports=exports, gt=gt)
    try:
        lines += _report_lines(report_command, report_page)
    except Exception as err:  # noqa: BLE001 - e.g. the page replaced while it is looked at
        lines.append(f"  report: {report_command or ''} ({type(err).__name__}: {err})")
    return "\n".join(lines)


def summarise_movies(movies, *, report_command: str | None = None, report_page=None) -> str:
    """The end-of-run summary of a movies table: each movie's (``movies``: dicts with name, out, exports, gt), then
    one report command and page for them all."""
    parts = []
    for m in movies:
        text = summarise_run(m["out"], exports=m["exports"], gt=m["gt"])
        parts.append(text.replace("lineageflow: run finished;", f"lineageflow: movie {m['name']} finished;", 1))
    return "\n".join([*parts, "lineageflow: the report of all movies", *_report_lines(report_command, report_page)])


def _guarded(name: str, section, out: Path, **kw) -> list[str]:
    """A section's lines, or one line saying why it could not be made (the summary must not fail the run)."""
    try:
        return section(out, **kw)
    except Exception as err:  # noqa: BLE001 - a summary describes a broken file instead of failing on it
        return [f"  {name}: could not be read ({type(err).__name__}: {err})"]


def _read_json(path: Path) -> dict:
    value = json.loads(path.read_text())
    if not isinstance(value, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return value


def _export_path(name: str) -> tuple[str, str]:
    """(format, path under OUT) of an export; an export this module does not know writes the folder NAME/."""
    return EXPORT_PATHS.get(name, (name, f"{name}/"))


def _exports_line(out: Path, exports=None, **_) -> list[str]:
    names = list(EXPORT_PATHS) if exports is None else list(exports)
    found = [n for n in names if (out / _export_path(n)[1]).exists()]
    missing = [n for n in names if n not in found]
    text = ", ".join(" ".join(_export_path(n)) for n in found) or "none found"
    lines = [f"  exports: {text}"]
    if missing and exports is not None:
        lines.append("  missing exports: " + ", ".join(f"{n} ({_export_path(n)[1]} not found)" for n in missing))
    return lines


def _lineage_line(out: Path, **_) -> list[str]:
    path = out / "track" / "lineage.json"
    if not path.is_file():
        return [f"  lineage: missing ({path.relative_to(out)} not found)"]
    d = _read_json(path)
    parts = [f"{d[k]} {w}" for k, w in (("n_objects", "objects"), ("n_tracks", "tracks"),
                                        ("n_lineages", "lineages"), ("n_divisions", "divisions")) if k in d]
    return [f"  lineage: {', '.join(parts) or 'no counts in ' + str(path.relative_to(out))}"]


def _number(value) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"


def _accuracy_line(out: Path, gt=None, **_) -> list[str]:
    path = out / "eval" / "metrics.json"
    if not path.is_file():
        if gt is not None and not gt:
            return ["  accuracy: not measured (no ground truth given: config key 'gt')"]
        return [f"  accuracy: missing ({path.relative_to(out)} not found)"]
    m = _read_json(path)
    parts = []
    for label, key in ACCURACY_KEYS:
        if key not in m:
            parts.append(f"{label} missing")
            continue
        text = f"{label} {_number(m[key])}"
        if key == "division_f1" and m[key] is None and m.get("n_gt_divisions") == 0:
            text += ": no divisions in the ground truth"
        parts.append(text)
    return [f"  accuracy ({path.relative_to(out)}): {', '.join(parts)}"]


def _frames_named(frames: list[dict], what) -> str:
    named = "; ".join(what(f) for f in frames[:MAX_FRAMES_NAMED])
    more = len(frames) - MAX_FRAMES_NAMED
    return named + (f"; and {more} more" if more > 0 else "")


def _qc_lines(out: Path, **_) -> list[str]:
    path = out / "qc" / "summary.json"
    if not path.is_file():
        return [f"  QC: missing ({path.relative_to(out)} not found)"]
    s = _read_json(path)
    flagged = s.get("flagged") or []
    lines = []
    if flagged:
        lines.append(f"  QC WARNING: {len(flagged)} of {s.get('n_frames', '?')} frames flagged as unreliable: "
                     + _frames_named(flagged, lambda f: f"frame {f['frame']} ({f['flags']})")
                     + f" (see {Path('qc', 'frames.csv')})")
    else:
        lines.append(f"  QC: {s.get('n_frames', '?')} frames, none flagged")
    bad = (s.get("input_check") or {}).get("frames") or []
    if bad:
        lines.append(f"  QC WARNING: {len(bad)} bad input frame(s): "
                     + _frames_named(bad, lambda f: f"frame {f['frame']} {f['kind']}, {f['action']}")
                     + f" (see {Path('qc', 'frame_check.csv')})")
    return lines


def _report_lines(command: str | None, page) -> list[str]:
    lines = []
    if command:
        lines.append(f"  report: {command}")
    if page:
        page = Path(page)
        if page.is_file():
            when = datetime.fromtimestamp(page.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            lines.append(f"  report page: {page.resolve()} (last written {when})")
        else:
            lines.append(f"  report page: {page.resolve()} (not made yet)")
    return lines


def report_command(argv: list[str]) -> str:
    """The command that makes the report of the run started by ``argv`` (Snakemake's command line): ``snakemake``,
    the options that choose the workflow, its config and how jobs run (``--config``, ``--configfile``, ``-s``,
    ``--cores``, profiles, ...), and the target ``report``; targets and the other options are left out."""
    kept = []
    args = list(argv[1:])
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        name, joined = _option(token)
        if name is None:
            continue
        kept.append(token)
        count = 0 if joined else _KEPT_OPTIONS[name]
        taken = 0
        while (i < len(args) and not args[i].startswith("-") and (count is None or taken < count)
               and (name not in _COUNTS or args[i].isdigit() or args[i] in ("all", "unlimited"))):
            kept.append(args[i])
            i, taken = i + 1, taken + 1
    # the target first: after --config, a word would be read as one more config value
    return shlex.join(["snakemake", "report", *kept])


def _option(token: str) -> tuple[str | None, bool]:
    """(the kept option ``token`` is, whether its value is joined to it: ``--cores=2``, ``-c2``), or (None, False)."""
    if not token.startswith("-"):
        return None, False
    name, eq, _ = token.partition("=")
    if name in _KEPT_OPTIONS:
        return name, bool(eq)
    if not token.startswith("--") and token[:2] in _KEPT_OPTIONS and _KEPT_OPTIONS[token[:2]] != 0:
        return token[:2], True
    return None, False
