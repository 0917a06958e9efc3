"""Server-rendered SVG charts: no script, no inline style (colours come from metrics.css)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 14, 30
MAX_X_LABELS = 7


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    css: str


def _nice_max(value: float) -> float:
    """A top for the y axis whose quarter gridlines fall on round numbers."""
    if value <= 4:
        return 4 if value > 1 else 1
    quarter = value / 4
    magnitude = 10 ** math.floor(math.log10(quarter))
    step = next(m * magnitude for m in (1, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * magnitude >= quarter)
    return 4 * step


def _frame(y_max: float, y_label: Callable[[float], str], labels: Sequence[str],
           x_of: Callable[[int], float], title: str) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
    ]
    for step in range(5):
        value = y_max * step / 4
        y = TOP + plot_h - plot_h * step / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{escape(y_label(value))}</text>')
    if labels:
        every = max(1, -(-len(labels) // MAX_X_LABELS))
        for index in range(0, len(labels), every):
            parts.append(f'<text class="axis" x="{x_of(index):.1f}" y="{HEIGHT - 10}" '
                         f'text-anchor="middle">{escape(labels[index])}</text>')
    return parts


def _legend(series: Sequence[Series]) -> str:
    items = "".join(
        f'<li><span class="swatch {escape(s.css)}" aria-hidden="true"></span>{escape(s.label)}</li>'
        for s in series
    )
    return f'<ul class="chart-legend">{items}</ul>'


@dataclass(frozen=True)
class Basis:
    """What each point of a rate is computed from: shown under it, and a point from fewer
    than `minimum` is drawn grey and left out of the line (2 chats make 0% or 100%)."""
    counts: Sequence[int]
    minimum: int
    noun: str


def line_chart(labels: Sequence[str], values: Mapping[str, Sequence[float | None]],
               series: Sequence[Series], *, title: str, y_max: float | None = None,
               y_label: Callable[[float], str] = lambda v: f"{v:,.0f}",
               point_label: Callable[[float], str] = lambda v: f"{v:,.0f}",
               basis: Basis | None = None) -> Markup:
    """Lines over buckets; a missing value (no data) breaks the line instead of dropping to 0."""
    present = [v for key in values for v in values[key] if v is not None]
    top = y_max if y_max is not None else _nice_max(max(present, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = len(labels)

    def x_of(index: int) -> float:
        return LEFT + (plot_w / 2 if count <= 1 else plot_w * index / (count - 1))

    def y_of(value: float) -> float:
        return TOP + plot_h - plot_h * min(value, top) / top

    parts = _frame(top, y_label, labels, x_of, title)
    if basis is not None:
        for index, base in enumerate(basis.counts):
            parts.append(f'<text class="basis{" few" if base < basis.minimum else ""}" '
                         f'x="{x_of(index):.1f}" y="{TOP + plot_h - 4}" text-anchor="middle">'
                         f'{base}</text>')
    for line in series:
        runs: list[list[tuple[float, float]]] = [[]]
        for index, value in enumerate(values.get(line.key, ())):
            if value is None:
                runs.append([])
                continue
            shown = f"{escape(line.label)} {escape(point_label(value))}"
            few = basis is not None and basis.counts[index] < basis.minimum
            if basis is not None:
                shown += f" of {basis.counts[index]} {escape(basis.noun)}"
            if few:
                runs.append([])
                shown += " (too few to read)"
            else:
                runs[-1].append((x_of(index), y_of(value)))
            parts.append(
                f'<circle class="dot {"few" if few else escape(line.css)}" '
                f'cx="{x_of(index):.1f}" cy="{y_of(value):.1f}" r="3"><title>'
                f"{escape(labels[index])}: {shown}</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(f'<polyline class="line {escape(line.css)}" points="{points}"/>')
    parts.append("</svg>")
    legend = _legend(series)
    if basis is not None:
        legend += (f'<p class="chart-basis hint">Numbers along the bottom: {escape(basis.noun)} '
                   f"per point. Grey points come from fewer than {basis.minimum} "
                   f"{escape(basis.noun)} and are left out of the lines.</p>")
    return Markup("".join(parts) + legend)  # noqa: S704 - every value escaped above


def stacked_bars(labels: Sequence[str], values: Mapping[str, Sequence[int]],
                 series: Sequence[Series], *, title: str) -> Markup:
    totals = [sum(values[s.key][i] for s in series) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(labels), 1)
    bar = max(min(slot * 0.7, 28), 1.5)

    def x_of(index: int) -> float:
        return LEFT + slot * index + slot / 2

    parts = _frame(top, lambda v: f"{v:,.0f}", labels, x_of, title)
    for index, label in enumerate(labels):
        base: float = TOP + plot_h
        for s in series:
            value = values[s.key][index]
            if not value:
                continue
            height = plot_h * value / top
            base -= height
            parts.append(
                f'<rect class="bar {escape(s.css)}" x="{x_of(index) - bar / 2:.1f}" '
                f'y="{base:.1f}" width="{bar:.1f}" height="{height:.1f}"><title>'
                f'{escape(label)}: {escape(s.label)} {value:,}</title></rect>'
            )
    parts.append("</svg>")
    return Markup("".join(parts) + _legend(series))  # noqa: S704 - every value escaped above


def funnel_chart(steps: Sequence[tuple[str, int, str]], *, title: str) -> Markup:
    """Bars per step; each step's third item is the text beside its count (a share of the
    step before, or what it counts)."""
    row_h, gap, label_w = 34, 8, 130
    height = len(steps) * (row_h + gap) + gap
    widest = max((n for _, n, _ in steps), default=0) or 1
    plot_w = WIDTH - label_w - 150
    parts = [
        f'<svg class="chart funnel" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
    ]
    for index, (label, n, beside) in enumerate(steps):
        y = gap + index * (row_h + gap)
        width = max(plot_w * n / widest, 2 if n else 0)
        x = label_w + (plot_w - width) / 2
        share = f" · {beside}" if beside else ""
        parts.append(f'<text class="funnel-label" x="{label_w - 10}" y="{y + row_h / 2 + 5}" '
                     f'text-anchor="end">{escape(label)}</text>')
        parts.append(
            f'<rect class="bar step-{index}" x="{x:.1f}" y="{y}" width="{width:.1f}" '
            f'height="{row_h}" rx="4"><title>{escape(label)}: {n:,}{escape(share)}</title></rect>'
        )
        parts.append(f'<text class="funnel-value" x="{label_w + plot_w + 10}" '
                     f'y="{y + row_h / 2 + 5}">{n:,}{escape(share)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value escaped above
