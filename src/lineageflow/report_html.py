"""The benchmark report's page: one self-contained HTML document (inline CSS, images as data: URIs, no JavaScript).

Biology first (accuracy, lineages, tracks, TRA across runs, quality control, learnt weights), then the machine
(time and memory, solver), then configuration and software. Table headers are words, not the JSON keys behind them."""

from __future__ import annotations

import base64
import html
import re

import numpy as np

ACCURACY_KEYS = ("TRA", "DET", "LNK", "SEG", "division_precision", "division_recall", "division_f1")
COUNT_KEYS = ("fp_nodes", "fn_nodes")  # CTC detection errors: predicted objects matching no GT object, GT missed
SECTIONS = {
    "accuracy": "Accuracy",
    "lineage": "Lineage trees",
    "tracks": "Tracks over the movie",
    "flow": "Flow fields",  # only for runs with config key flow.enabled (report_flow)
    "history": "TRA across runs",
    "qc": "Quality control (no ground truth)",
    "weights": "Learned tracking weights",
    "time-memory": "Time and memory per rule",
    "solver": "Solver per window",
    "configuration": "Configuration",
    "software": "Software versions",
}
# machine keys (metrics.json, solution.json) as table headers say them
LABELS = {
    "division_precision": "division precision", "division_recall": "division recall", "division_f1": "division F1",
    "fp_nodes": "false objects", "fn_nodes": "missed objects", "ns_nodes": "merged objects",
}
STATUS = {"time_limit": "time limit (best found)", "empty": "no objects"}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f3b57;color:#fff;padding:14px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85}nav{padding:8px 28px;background:#e8eef4;font-size:14px}
header table.runs{margin:8px 0 0;font-size:13px}header table.runs th,header table.runs td{border-color:#4a6580;
background:transparent;color:#fff}
nav a{margin-right:14px;color:#1f3b57}main{padding:0 28px 40px;max-width:1200px}
section{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:10px 18px;margin:18px 0}
h2{font-size:18px;color:#1f3b57}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:right}
th{background:#f0f3f6}td:first-child,th:first-child{text-align:left}
img{max-width:100%;height:auto;border:1px solid #eee}.note{color:#8a4b00}pre{background:#f5f5f5;padding:8px;
overflow:auto;font-size:12px;max-height:420px}
"""


def column_label(key: str) -> str:
    return LABELS.get(key, key)


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _fmt(v, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if isinstance(v, (float, np.floating)):
        return f"{v:.{digits}f}"
    return html.escape(str(v))


def _table(header: list[str], rows: list[list], cls: str = "") -> str:
    """A table; machine keys among the headers are said in words (``LABELS``)."""
    head = "".join(f"<th>{html.escape(column_label(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def duration(seconds: float | None) -> str:
    """'12.3 s', '4 min 05 s', '2 h 03 min'; '–' when unknown."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    s = int(round(seconds))
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def short_reason(reason: str | None) -> str:
    """The solver choice in a few words (the whole sentence stays in track/solution.json)."""
    text = re.sub(r"\s*\(first window; every window's own in 'windows'\)$", "", str(reason or ""))
    if text.endswith("requested by tracking.solver"):
        return "set by tracking.solver"
    if text.startswith("auto:") and "is installed and licensed" in text:
        return "auto: Gurobi, licensed for the model"
    fallback = re.match(r"auto: (.*); using (\w+) \(", text)
    if fallback:
        why = fallback.group(1).split(";")[0]
        return f"auto: {fallback.group(2)} ({why if len(why) <= 48 else why[:47] + '…'})"
    return text if len(text) <= 60 else text[:59] + "…"


# --- sections ---------------------------------------------------------------------------------------------------

def _accuracy(runs) -> str:
    rows, notes = [], []
    for r in runs:
        m = r.metrics
        if m is None:
            rows.append([html.escape(r.name)] + ["no ground truth"] * (len(ACCURACY_KEYS) + len(COUNT_KEYS)) + ["–"])
        else:
            rows.append([html.escape(r.name)] + [_fmt(m.get(k)) for k in ACCURACY_KEYS[:4]]
                        + [_fmt(m.get(k)) for k in COUNT_KEYS] + [_fmt(m.get(k)) for k in ACCURACY_KEYS[4:]]
                        + [f"{m.get('n_pred_divisions', '–')} / {m.get('n_gt_divisions', '–')}"])
        notes += [f"{r.name}: {n}" for n in r.notes]
    header = ["dataset", *ACCURACY_KEYS[:4], *COUNT_KEYS, *ACCURACY_KEYS[4:], "divisions found / in GT"]
    return (_table(header, rows, "accuracy") + "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)
            + "<p>traccuracy's CTC metrics (TRA, DET, LNK) and division metrics (no frame buffer). SEG is the Cell "
              "Tracking Challenge's segmentation measure: the mean Jaccard index of each annotated ground-truth "
              "object (<code>NN_GT/SEG</code>) with the object covering more than half of it (0 when none does). "
              "False objects match no ground-truth object; missed objects are ground-truth objects no result "
              "object matches (the CTC detection test).</p>")


def _time_memory(runs, png: bytes) -> str:
    out = _img(png, "time and memory per rule")
    for r in runs:
        rows = [[html.escape(b.rule), int(b.jobs), _fmt(b.seconds, 1), _fmt(b.max_rss_mb, 0)]
                for b in r.benchmarks.itertuples()]
        total = r.benchmarks["seconds"].sum()
        rows.append(["<b>total</b>", int(r.benchmarks["jobs"].sum()), f"<b>{total:.1f}</b>", ""])
        out += f"<h3>{html.escape(r.name)}</h3>" + _table(["rule", "jobs", "seconds (sum)", "peak MB (max)"], rows)
    return out + ("<p>From Snakemake's <code>benchmark:</code> files: wall-clock seconds summed over a rule's jobs, "
                  "max_rss maximised over them. Jobs that ran in parallel overlap in time.</p>")


def _solver(runs) -> str:
    out = ""
    for r in runs:
        s = r.solution
        rows = [[html.escape(w.window), html.escape(w.frames), html.escape(str(w.solver)),
                 html.escape(STATUS.get(w.status, str(w.status))), _fmt(w.gap, 6), _fmt(w.seconds, 2),
                 _fmt(w.objects), _fmt(w.variables)] for w in r.windows.itertuples()]
        status = STATUS.get(s.get("status"), s.get("status"))
        out += (f"<h3>{html.escape(r.name)}</h3><p>stitched solution: solver {_fmt(s.get('solver'))}"
                f"{' (' + html.escape(short_reason(s['reason'])) + ')' if s.get('reason') else ''}, status "
                f"{_fmt(status)}, gap {_fmt(s.get('gap'), 6)}, objective {_fmt(s.get('objective'), 2)}, "
                f"{len(r.windows)} window(s), {len(s.get('seams') or [])} seam(s)</p>")
        out += _table(["window", "frames", "solver", "status", "gap", "seconds", "objects", "variables"], rows)
    return out + "<p>Why each solver was chosen, in full: <code>track/solution.json</code> (key reason).</p>"


def _history(runs, history: list[dict], png: bytes | None) -> str:
    rows = [[h["run"], html.escape(h.get("config_hash", "")), html.escape(h.get("lineageflow", ""))]
            + [_fmt(h.get("TRA", {}).get(r.name)) for r in runs] for h in history]
    table = _table(["report run", "config hash", "lineageflow", *[r.name for r in runs]], rows)
    if png is None:
        return ("<p>The plot of TRA across runs starts with the second report run that has accuracy "
                f"({len(history)} so far; <code>--forcerun report</code> adds one).</p>" + table)
    return _img(png, "TRA across runs") + table


def _header(runs, provenance: dict) -> str:
    """Date, what made the report (git commit of the workflow, else the package version), and per dataset its
    input and wall time."""
    made = (f"workflow git {provenance['commit']}" if provenance.get("commit")
            else f"lineageflow {provenance.get('version', '?')}")
    rows = [[html.escape(r.name), f"<code>{html.escape(r.movie)}</code>" if r.movie else "–",
             duration(r.wall_seconds)] for r in runs]
    return (f"<header><h1>lineageflow benchmark report</h1>"
            f"<p>{html.escape(provenance.get('date', ''))} · {html.escape(made)}</p>"
            + _table(["dataset", "input", "wall time"], rows, "runs")
            + "<p>wall time: from the run's first job start to its last job end (Snakemake benchmark files)</p>"
            "</header>")


def render_html(runs: list, *, figures: dict, config: dict, versions: dict, history: list[dict],
                provenance: dict | None = None, flows: dict | None = None) -> str:
    """The report page. ``figures``: {"time_memory": png, "history": png or None (no trend yet),
    "lineage": {name: png}, "tracks": {name: png}, "qc": {name: png}, and "flow": {name: png} with ``flows``};
    ``provenance``: {"date", "commit" or None, "version"} for the header; ``flows``: {name: report_flow.FlowReport}
    of the runs that estimated flow (none: no flow section)."""
    import yaml

    from .learn_report import weights_section  # here, not at the top: these modules import lineageflow.report
    from .qc_report import qc_section
    from .report import config_hash

    parts = [("accuracy", _accuracy(runs)),
             ("lineage", "".join(f"<h3>{html.escape(r.name)}</h3>"
                                 + _img(figures["lineage"][r.name], f"lineage tree {r.name}") for r in runs)),
             ("tracks", "".join(f"<h3>{html.escape(r.name)}</h3>" + _img(figures["tracks"][r.name], f"tracks {r.name}")
                                for r in runs)
              + "<p>Track ids as in <code>ctc/res_track.txt</code>; the scale bar's length is in the run's voxel "
                "size units (µm).</p>")]
    if flows:
        from .report_flow import flow_section

        parts.append(("flow", flow_section(flows, figures["flow"])))
    parts += [("history", _history(runs, history, figures.get("history"))),
              ("qc", qc_section(runs, figures["qc"]))]
    learnt = weights_section(runs, {r.name: r.weights for r in runs if r.weights})
    if learnt:
        parts.append(("weights", learnt))
    parts += [("time-memory", _time_memory(runs, figures["time_memory"])), ("solver", _solver(runs))]
    conf = html.escape(yaml.safe_dump(config, sort_keys=True, default_flow_style=None, width=110))
    parts.append(("configuration", f"<p>config hash {config_hash(config)}</p><pre>{conf}</pre>"))
    parts.append(("software", _table(["package", "version"],
                                     [[html.escape(k), html.escape(v)] for k, v in versions.items()])))

    nav = "".join(f'<a href="#{sid}">{html.escape(SECTIONS[sid])}</a>' for sid, _ in parts)
    body = "".join(f'<section id="{sid}"><h2>{html.escape(SECTIONS[sid])}</h2>{content}</section>'
                   for sid, content in parts)
    names = ", ".join(r.name for r in runs)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>lineageflow report: {html.escape(names)}</title><style>{CSS}</style></head><body>"
            f"{_header(runs, provenance or {})}<nav>{nav}</nav><main>{body}</main></body></html>\n")
