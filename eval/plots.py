"""PNG plots of a report: base vs adapter per metric, and the cross-specialist matrix as a heat map.

matplotlib's object API on an Agg canvas (no pyplot): nothing opens a window, and no global backend is changed.
"""
from __future__ import annotations

import math
import os
import uuid
from pathlib import Path
from typing import Any


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> None:
    tmp = path.parent / f".{path.name}-{uuid.uuid4().hex[:8]}.png"
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)


def _err(value: float, ci: list[float] | None) -> list[float]:
    if not ci or value is None:
        return [0.0, 0.0]
    return [max(0.0, value - ci[0]), max(0.0, ci[1] - value)]


def label_at(x: float, value: float, err: list[float]) -> tuple[float, float]:
    """Where a bar's value label goes: above the top of its error bar (the bar's top when it has none)."""
    return x, value + err[1]


def metrics_png(r: dict[str, Any], path: Path) -> None:
    """Base vs adapter: loss and bits per byte (with 95% intervals), and each next-action accuracy with its counts."""
    from .actions import METRICS

    na = r.get("next_action")
    if na and not any(na[side]["metrics"][key]["total"] for side in ("base", "adapter") for key, _, _ in METRICS):
        na = None  # every count is 0: no panel of empty bars (eval.md says why there is nothing to show)
    fig = _figure(12 if na else 6, 4.2)
    axes = fig.subplots(1, 3 if na else 2, gridspec_kw={"width_ratios": [1, 1, 3] if na else [1, 1]})
    colours = {"base": "#9e9e9e", "adapter": "#1f77b4"}
    for ax, key, label in ((axes[0], "loss", "assistant-token loss"), (axes[1], "bits_per_byte", "bits per byte")):
        for x, side in enumerate(("base", "adapter")):
            v = r[side][key]
            ci = r[side].get("loss_ci95") if key == "loss" else None
            e = _err(v, ci)
            ax.bar(x, v, color=colours[side], yerr=[[e[0]], [e[1]]], capsize=4)
            ax.annotate(f"{v:.3f}", label_at(x, v, e), ha="center", va="bottom", fontsize=8, xytext=(0, 3),
                        textcoords="offset points")  # above the error bar's cap, not across it
        ax.margins(y=0.15)  # room above the error bars for the labels
        ax.set_xticks([0, 1], ["base", "adapter"])
        ax.set_title(f"{label}\n(lower is better)", fontsize=9)
    if na:
        ax = axes[2]
        width = 0.38
        for k, side in enumerate(("base", "adapter")):
            for x, (key, label, _) in enumerate(METRICS):
                m = na[side]["metrics"][key]
                v = m["rate"] if m["rate"] is not None else 0.0
                e = _err(v, m.get("ci95")) if m["rate"] is not None else [0.0, 0.0]
                ax.bar(x + (k - 0.5) * width, v, width, color=colours[side], yerr=[[e[0]], [e[1]]], capsize=3,
                       label=side if x == 0 else None)
                ax.annotate(f"{m['correct']}/{m['total']}" if m["total"] else "n/a",
                            label_at(x + (k - 0.5) * width, v, e), ha="center", va="bottom", fontsize=7,
                            xytext=(0, 2), textcoords="offset points")
        if not any(na[side]["metrics"][key]["correct"] for side in ("base", "adapter") for key, _, _ in METRICS):
            ax.text(0.5, 0.5, f"every count is 0: neither base nor adapter got any of the {na['turns']} turns right",
                    transform=ax.transAxes, ha="center", va="center", fontsize=9, wrap=True)
        ax.set_xticks(range(len(METRICS)), [label for _, label, _ in METRICS], fontsize=8)
        ax.set_ylim(0, 1.2)
        ax.set_title(f"next action on {na['turns']} held-out turns (higher is better; bars: 95% intervals)",
                     fontsize=9)
        ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(f"{r['specialist']} ({r['language']}): base vs adapter on held-out sessions", fontsize=10)
    _save(fig, path)


def matrix_png(m: dict[str, Any], path: Path) -> None:
    """Heat maps: held-out loss (and next-action accuracy when measured) of each model on each test split."""
    import numpy as np

    panels = [("loss", "held-out assistant-token loss (lower is better)", "viridis_r")]
    if m.get("next_action"):
        panels.append(("next_action", "next-action accuracy (higher is better)", "viridis"))
    rows, cols = m["rows"], m["columns"]
    fig = _figure(max(5.0, 1.1 * len(cols) + 2.5) * len(panels), max(3.2, 0.55 * len(rows) + 1.8))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (key, title, cmap) in zip(axes, panels):
        data = np.array([[math.nan if v is None else v for v in row] for row in m[key]], dtype=float)
        im = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, aspect="auto")
        fig.colorbar(im, ax=ax, shrink=0.8)
        ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(rows)), [r if r == "base" else f"{r} adapter" for r in rows], fontsize=8)
        ax.set_xlabel("test split", fontsize=8)
        finite = data[np.isfinite(data)]
        mid = (finite.min() + finite.max()) / 2 if finite.size else 0
        for i in range(len(rows)):
            for j in range(len(cols)):
                v = data[i, j]
                if math.isnan(v):
                    continue
                dark = (v > mid) if cmap == "viridis_r" else (v < mid)
                ax.text(j, i, f"{v:.3f}" if key == "loss" else f"{v:.0%}", ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")
                if rows[i] == cols[j]:  # the diagonal: each specialist on its own language
                    ax.add_patch(_box(j, i))
        ax.set_title(title, fontsize=9)
    fig.suptitle("cross-specialist matrix (boxed: each specialist on its own test split)", fontsize=10)
    _save(fig, path)


def _box(x: float, y: float):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2)
