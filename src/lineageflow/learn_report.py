"""Learned tracking weights in the benchmark report: learned against default weights, the training loss per
cutting-plane iteration, and what the weights were learnt from (OUT/track/weights.json)."""

from __future__ import annotations

import html

import numpy as np

from .report import _fmt, _img, _plt, _table, save_png

NOTE = ("<p>Weights learnt by a structured SVM (rule <code>track_learn</code>, <code>tracking.weights: learned</code>) "
        "whose inference is the tracking MILP. Only the ratios between weights change the solution; the last column "
        "scales the learnt weights so that detection = 10, as in the defaults. The loss is the Hamming loss of the "
        "loss-augmented solution per object and link, the hinge the structured hinge loss; the weights of the "
        "iteration with the lowest primal objective are kept.</p>")


def weights_figure(doc: dict, title: str = "") -> bytes:
    """Structured hinge and loss per iteration (log scale)."""
    plt = _plt()
    hist = doc["history"]
    it = [h["iteration"] for h in hist]
    fig, ax = plt.subplots(figsize=(7, 2.6))
    for key, colour in (("hinge", "#1f3b57"), ("loss", "#d62728")):
        y = np.maximum([h[key] for h in hist], 1e-6)
        ax.semilogy(it, y, "o-", ms=3, lw=1.2, color=colour, label=key)
    ax.axvline(doc["iteration"], color="#999", ls=":", lw=1)
    ax.set_xlabel("cutting-plane iteration")
    ax.set_ylabel("per object and link")
    ax.set_title(f"{title + ': ' if title else ''}training loss ({doc['stopped']})")
    ax.legend(frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return save_png(fig)


def weights_section(runs: list, weights: dict[str, dict]) -> str:
    """One table and one loss plot per run that learnt its weights (``weights``: run name → weights.json)."""
    parts = []
    for r in runs:
        doc = weights.get(r.name)
        if doc is None:
            continue
        w = np.asarray(doc["weights"], float)
        scale = 10.0 / w[1] if w[1] > 0 else float("nan")
        rows = [[html.escape(t), _fmt(d, 4), _fmt(v, 4), _fmt(v * scale, 2)]
                for t, d, v in zip(doc["terms"], doc["default_weights"], w)]
        data = doc.get("data", {})
        rep = data.get("representable", {})
        last = doc["history"][doc["iteration"]]
        m = r.metrics or {}
        facts = (f"learnt from {data.get('source', '?')}: {data.get('n_cells_held', '?')} of {data.get('n_cells', '?')} "
                 f"annotated cells on our objects, {data.get('n_divisions', '?')} divisions, {doc['n_examples']} "
                 f"example(s), {doc['n_entities']} objects and links; not representable: "
                 f"{rep.get('gt_links_not_candidates', 0)} links (no candidate), "
                 f"{rep.get('gt_mergers_above_max_count', 0)} mergers above max_count, "
                 f"{rep.get('gt_divisions_without_variable', 0)} divisions (no division variable). "
                 f"{len(doc['history'])} iterations ({doc['stopped']}), {_fmt(doc['seconds'], 1)} s, solver "
                 f"{doc['solver']}; kept iteration {doc['iteration']}: loss {_fmt(last['loss'], 5)}, hinge "
                 f"{_fmt(last['hinge'], 5)}.")
        keys = ("TRA", "DET", "LNK", "division_f1")
        acc = [["learnt"] + [_fmt(m.get(k)) for k in keys]] if r.metrics else []
        if doc.get("default_metrics"):
            acc.insert(0, ["default"] + [_fmt(doc["default_metrics"].get(k)) for k in keys])
        errs = doc.get("training_errors") or {}
        err_rows = [[name, _fmt(e["loss"], 5), e["states"], e["links"], e["divisions"]] for name, e in errs.items()]
        parts.append(f"<h3>{html.escape(r.name)}</h3>"
                     + _table(["term", "default", "learnt", "learnt (detection = 10)"], rows)
                     + ("<p>On the training data (the tracking optimum under each set of weights against the "
                        "annotation made representable):</p>"
                        + _table(["weights", "loss per object and link", "wrong object states", "wrong links",
                                  "wrong divisions"], err_rows) if err_rows else "")
                     + f"<p>{html.escape(facts)}</p>"
                     + ("<p>This run's objects tracked with each set of weights and scored the same way "
                        "(<code>eval/metrics.json</code>, <code>eval/metrics_default_weights.json</code>):</p>"
                        + _table(["weights", *keys], acc) if acc else "")
                     + _img(weights_figure(doc, r.name), f"training loss {r.name}"))
    return "".join(parts) + NOTE if parts else ""
