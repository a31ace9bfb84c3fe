"""`report/index.html`: one self-contained page (inline CSS and PNG plots, no scripts, no fetches)."""

from __future__ import annotations

import html
import json

import pandas as pd

from quality.report import plots
from quality.report.dataset import DatasetView
from quality.report.suite import Outcome, Plan

SAMPLES_PER_REASON = 3
SAMPLE_CHARS = 500
# Numeric columns that are not quality signals: they get their own sections or none.
NOT_SIGNALS = {"n_chars", "dup_cluster_size", "offset"}

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{margin-bottom:.2em} h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em} td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2} td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#17702f;font-weight:bold} .fail{color:#b3261e;font-weight:bold} .warn{color:#a86200;font-weight:bold}
.banner{padding:.8em 1em;border-radius:6px;margin:1em 0;font-size:1.1em} .banner.pass{background:#e3f4e6} .banner.fail{background:#fbe4e2}
.grid{display:flex;flex-wrap:wrap;gap:1em} .grid figure{margin:0} img{max-width:100%}
pre{white-space:pre-wrap;background:#f7f7f7;padding:.5em;border-radius:4px;font-size:.85em;max-height:14em;overflow:auto}
.muted{color:#666;font-size:.9em} .wide{overflow-x:auto;max-width:100%}
"""


def esc(value) -> str:
    return html.escape(str(value))


def table(header: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td class=num>{esc(_fmt(c))}</td>" if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _flat(record: dict) -> dict:
    """One level of nesting flattened: {"share": {"age": 1}} -> {"share.age": 1}."""
    out = {}
    for key, value in record.items():
        if isinstance(value, dict) and value and not any(isinstance(v, (dict, list)) for v in value.values()):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def render_value(value) -> str:
    """Any JSON value from the manifest as HTML: a dict of records (e.g. per-rule audit rows) or a list of
    records as one table with a row each, other dicts as key/value tables."""
    records = list(value.values()) if isinstance(value, dict) else []
    if len(records) > 1 and all(isinstance(r, dict) and r and r.keys() == records[0].keys() for r in records):
        records = {k: _flat(v) for k, v in value.items()}
        keys = list(dict.fromkeys(k for r in records.values() for k in r))
        rows = [[esc(name), *(render_value(r.get(k, "")) for k in keys)] for name, r in records.items()]
        return f'<div class=wide>{table(["", *keys], rows)}</div>'
    if isinstance(value, dict):
        return table(["key", "value"], [[esc(k), render_value(v)] for k, v in value.items()])
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        keys = list(dict.fromkeys(k for v in value for k in v))
        return table(keys, [[render_value(v.get(k, "")) for k in keys] for v in value])
    if isinstance(value, list):
        return esc(", ".join(_fmt(v) for v in value))
    return esc(_fmt(value))


def img(uri: str, alt: str) -> str:
    return f'<figure><img src="{uri}" alt="{esc(alt)}"></figure>'


def stage_of(reason: str) -> str:
    return reason.split(":", 1)[0]


def funnel_rows(view: DatasetView) -> list[list]:
    """Funnel rows with documents from the manifest and text bytes from the shards."""
    funnel = view.manifest["counts"].get("funnel") or []
    stages = [r["stage"] for r in funnel]
    rejected_bytes = {s: 0 for s in stages}
    for reason, n in view.rejected_bytes_by_reason.items():
        rejected_bytes[stage_of(reason)] = rejected_bytes.get(stage_of(reason), 0) + n
    rows, later = [], 0
    out_bytes = {}
    for stage in reversed(stages):
        out_bytes[stage] = view.kept_bytes + later
        later += rejected_bytes.get(stage, 0)
    for r in funnel:
        stage = r["stage"]
        rows.append([esc(stage), r.get("in"), r.get("out"), r.get("rejected"), r.get("errors", ""),
                     out_bytes[stage] + rejected_bytes.get(stage, 0), out_bytes[stage]])
    return rows


def _numeric_signals(view: DatasetView) -> list[str]:
    names = []
    for column in view.kept.columns:
        if column in NOT_SIGNALS or column.startswith("pii_") or column.startswith("_"):
            continue
        series = view.kept[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series) and series.notna().any():
            names.append(column)
    return names


def _length(frame: pd.DataFrame) -> pd.Series:
    if "n_chars" in frame:
        return frame["n_chars"]
    return frame["text"].str.len() if "text" in frame else pd.Series(dtype=float)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(dtype=float)


def line_dedup_section(view: DatasetView, redact) -> str:
    """The manifest's `line_dedup` counts and most repeated units, and before/after for the pages that lost the most.

    Before: the units removed (from the manifest, already redacted); after: the start of the text as stored.
    """
    section = view.manifest["line_dedup"]
    counts = {k: v for k, v in section.items() if k not in ("top_units", "samples")}
    parts = ["<h2>Line dedup</h2>", f"<div class=wide>{render_value(counts)}</div>"]
    if section.get("top_units"):
        parts.append("<h3>Most repeated units</h3>")
        parts.append(table(["documents", "unit (redacted, cut)"], [[u["docs"], esc(u["text"])] for u in section["top_units"]], {0}))
    stored = {}
    for frame in (view.kept, view.rejected):
        if len(frame) and "id" in frame:
            stored.update(zip(frame["id"], frame["text"]))
    for sample in section.get("samples", []):
        parts.append(f"<h3>{esc(sample['id'])}</h3><p class=muted>{sample['bytes_before']:,} -> {sample['bytes_after']:,} bytes, "
                     f"{sample['units_removed']:,} units removed; the first {len(sample['removed'])}:</p>")
        parts.append("<pre>" + "\n".join(f"- {esc(unit)}" for unit in sample["removed"]) + "</pre>")
        after = stored.get(sample["id"])
        note = "stored text begins" if after is not None else "not in the rows loaded (sample mode)"
        parts.append(f"<p class=muted>{note}:</p>" + (f"<pre>{esc(redact(str(after)[:SAMPLE_CHARS]))}</pre>" if after is not None else ""))
    return "".join(parts)


def checks_section(plan: Plan, outcomes: list[Outcome], docs_link: str) -> str:
    failed = [o for o in outcomes if not o.success and o.check.severity == "critical"]
    status = "pass" if not failed else "fail"
    verdict = "all critical expectations hold" if not failed else f"{len(failed)} critical expectation(s) failed"
    rows = []
    for o in outcomes:
        css = "pass" if o.success else ("fail" if o.check.severity == "critical" else "warn")
        rows.append([f'<span class="{css}">{"pass" if o.success else "FAIL"}</span>', esc(o.check.severity), esc(o.check.table),
                     esc(o.check.summary), esc(o.observed)])
    notes = "".join(f"<li>{esc(n)}</li>" for n in plan.notes)
    return (
        f'<div class="banner {status}">Gate: <b>{status.upper()}</b>, {verdict}.</div>'
        f"<h2>Expectations (Great Expectations)</h2>"
        f'<p class=muted>Derived from the run\'s config and manifest. Full results: <a href="validation_results.json">validation_results.json</a>;'
        f' GX Data Docs: <a href="{esc(docs_link)}">{esc(docs_link)}</a></p>'
        + table(["result", "severity", "table", "expectation", "observed"], rows)
        + (f"<ul class=muted>{notes}</ul>" if notes else "")
    )


def render(view: DatasetView, plan: Plan, outcomes: list[Outcome], docs_link: str, redact) -> str:
    m, counts = view.manifest, view.manifest["counts"]
    sampled = " (sample)" if view.mode == "sample" else ""
    parts = [
        f"<h1>gristmill dataset report</h1><p class=muted>{esc(view.root)} · created {esc(m.get('created_at', '?'))} · "
        f"gristmill {esc(m.get('gristmill_version', '?'))} · config {esc(str(m.get('config_hash', '?'))[:12])}</p>",
        f"<p><b>Validation mode: {esc(view.mode)}.</b> {esc(view.mode_note)}</p>",
        table(["input", "kept", "rejected", "errors"], [[counts.get(k) for k in ("input", "kept", "rejected", "errors")]], {0, 1, 2, 3}),
        checks_section(plan, outcomes, docs_link),
    ]

    funnel = counts.get("funnel") or []
    parts.append("<h2>Funnel</h2><p class=muted>Documents from the manifest; bytes are UTF-8 bytes of the stored text "
                 "(kept text after redaction, rejected text as rejected); parse errors carry no text.</p>")
    parts.append(table(["stage", "docs in", "docs out", "rejected", "errors", "bytes in", "bytes out"], funnel_rows(view), {1, 2, 3, 4, 5, 6}))
    if funnel:
        parts.append(img(plots.funnel(funnel), "funnel"))
    by_reason = counts.get("rejected_by_reason") or {}
    if by_reason:
        parts.append("<h2>Rejections per stage:rule</h2>")
        parts.append(table(["reason", "documents", "text bytes"],
                           [[esc(r), n, view.rejected_bytes_by_reason.get(r, 0)] for r, n in by_reason.items()], {1, 2}))
        parts.append(img(plots.bars(by_reason, "documents rejected"), "rejections per reason"))

    parts.append(f"<h2>Distributions{sampled}</h2><div class=grid>")
    limits: dict[str, list] = {}
    for check in plan.checks:
        if check.expectation == "ExpectColumnValuesToBeBetween":
            limits.setdefault(check.kwargs["column"], []).extend(v for k, v in check.kwargs.items() if k in ("min_value", "max_value"))
    kept_len, rejected_len = _length(view.kept), _length(view.rejected)
    if kept_len.notna().any() or rejected_len.notna().any():
        parts.append(img(plots.kept_vs_rejected(kept_len, rejected_len, "document length (chars)", log=True), "length histogram"))
    for signal in _numeric_signals(view):
        parts.append(img(plots.kept_vs_rejected(view.kept[signal], _column(view.rejected, signal), signal,
                                                limits=tuple(limits.get(signal, ()))), f"{signal} kept vs rejected"))
    parts.append("</div>")

    if "lang" in view.kept and view.kept["lang"].notna().any():
        mix = view.kept["lang"].value_counts().head(20)
        parts.append(f"<h2>Language mix (kept){sampled}</h2>")
        parts.append(img(plots.bars(mix.to_dict(), "kept documents", plots.KEPT_COLOR), "language mix"))

    sizes = pd.concat([_column(view.kept, "dup_cluster_size"), _column(view.rejected, "dup_cluster_size")])
    if sizes.notna().any() or "near_dup" in m:
        parts.append("<h2>Near-duplicate clusters</h2>")
        if sizes.notna().any():
            parts.append(img(plots.histogram(sizes, f"cluster size per document{sampled}", "cluster size"), "cluster sizes"))
        if "near_dup" in m:
            parts.append(f"<div class=wide>{render_value(m['near_dup'])}</div>")

    if "line_dedup" in m:
        parts.append(line_dedup_section(view, redact))

    pii_columns = [c for c in view.kept.columns if c.startswith("pii_")]
    if pii_columns or "pii" in m:
        parts.append(f"<h2>PII found, per type{sampled}</h2>")
        if pii_columns:
            totals = {c[4:]: int(pd.concat([view.kept[c], _column(view.rejected, c)]).fillna(0).sum()) for c in pii_columns}
            parts.append(table(["type", "occurrences"], [[esc(k), v] for k, v in totals.items()], {1}))
            parts.append(img(plots.bars(totals, "occurrences"), "PII per type"))
        if "pii" in m:
            parts.append(f"<div class=wide>{render_value(m['pii'])}</div>")

    if "bias" in m:
        parts.append(f"<h2>Bias audit</h2><div class=wide>{render_value(m['bias'])}</div>")

    if len(view.rejected) and "reason" in view.rejected:
        parts.append(f"<h2>Sample rejected documents{sampled}</h2><p class=muted>Up to {SAMPLES_PER_REASON} per reason, "
                     f"first {SAMPLE_CHARS} characters, PII masked.</p>")
        for reason, group in view.rejected.sort_values("id").groupby("reason", sort=True):
            parts.append(f"<h3>{esc(reason)}</h3>")
            for _, row in group.head(SAMPLES_PER_REASON).iterrows():
                text = redact(str(row.get("text") or "")[:SAMPLE_CHARS])
                parts.append(f"<p class=muted>id {esc(row['id'])} · source {esc(row.get('source'))} · detail {esc(row.get('detail'))}</p><pre>{esc(text)}</pre>")
    if view.errors:
        parts.append(f"<h2>Parse errors</h2><p class=muted>{len(view.errors)} record(s); the first 10:</p>")
        parts.append(table(["source_path", "offset", "message"],
                           [[esc(e.get("source_path")), esc(e.get("offset")), esc(redact(str(e.get("message"))))] for e in view.errors[:10]]))
    parts.append(f"<h2>Config</h2><pre>{esc(json.dumps(view.config, indent=2, sort_keys=True))}</pre>")
    body = "\n".join(parts)
    return f"<!doctype html><html lang=en><head><meta charset=utf-8><title>gristmill report: {esc(view.root.name)}</title><style>{CSS}</style></head><body>{body}</body></html>\n"
