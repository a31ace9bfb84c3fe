"""The report's plots, each returned as an inline `data:image/png;base64,...` URI (matplotlib, Agg).

Figures are built with `matplotlib.figure.Figure` directly, so no global pyplot
state and no display are involved.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

KEPT_COLOR, REJECTED_COLOR = "#2a7ab0", "#d0703c"


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def funnel(rows: list[dict]) -> str:
    """Documents entering and leaving each stage."""
    fig = Figure(figsize=(8, 0.45 * len(rows) + 1.2))
    ax = fig.subplots()
    stages = [r["stage"] for r in rows][::-1]
    ax.barh(stages, [r["in"] for r in rows][::-1], color="#cccccc", label="in")
    ax.barh(stages, [r["out"] for r in rows][::-1], color=KEPT_COLOR, label="out")
    ax.set_xlabel("documents")
    ax.legend(loc="lower right")
    return _png(fig)


def bars(counts: dict[str, float], xlabel: str, color: str = REJECTED_COLOR) -> str:
    """Horizontal bars, largest on top (rejections per reason, language mix, PII per type)."""
    items = sorted(counts.items(), key=lambda kv: kv[1])
    fig = Figure(figsize=(8, 0.35 * len(items) + 1.2))
    ax = fig.subplots()
    ax.barh([k for k, _ in items], [v for _, v in items], color=color)
    ax.set_xlabel(xlabel)
    for y, (_, value) in enumerate(items):
        ax.annotate(f"{value:,.0f}", (value, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    return _png(fig)


def kept_vs_rejected(kept: pd.Series, rejected: pd.Series, title: str, log: bool = False, limits: tuple = ()) -> str:
    """Overlaid histograms of one numeric signal for kept and rejected documents (density, shared bins),
    with the configured thresholds (`limits`) as dashed lines."""
    kept, rejected = kept.dropna().astype(float), rejected.dropna().astype(float)
    if log:  # a log axis cannot show zero-length documents
        kept, rejected = kept[kept > 0], rejected[rejected > 0]
    values = pd.concat([kept, rejected])
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    if log:
        low, high = (values.min(), values.max()) if len(values) else (1, 10)
        bins = np.geomspace(low, max(high, low * 1.01), 40)
        ax.set_xscale("log")
    else:
        low, high = (values.min(), values.max()) if len(values) else (0, 1)
        bins = np.linspace(low, high if high > low else low + 1, 40)
    for series, color, label in ((kept, KEPT_COLOR, "kept"), (rejected, REJECTED_COLOR, "rejected")):
        if len(series):
            ax.hist(series, bins=bins, alpha=0.6, color=color, label=f"{label} ({len(series):,})", density=True)
    shown = ax.get_xlim()  # a threshold far outside the data (max_words = 100000) must not squash the plot
    for limit in limits:
        ax.axvline(limit, color="black", linestyle="--", linewidth=1)
    ax.set_xlim(shown)
    ax.set_title(title + (" (dashed: threshold)" if limits else ""))
    ax.set_ylabel("density")
    ax.legend(loc="upper right")
    return _png(fig)


def histogram(values: pd.Series, title: str, xlabel: str) -> str:
    """Counts of integer values (near-duplicate cluster sizes), log-scaled when they span far."""
    values = values.dropna().astype(int)
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    counts = values.value_counts().sort_index()
    ax.bar(counts.index.astype(str), counts.values, color=KEPT_COLOR)
    if len(counts) and counts.max() > 50 * max(counts.min(), 1):
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("documents")
    return _png(fig)
