"""Figures for the report: matplotlib to SVG, one style, a colour-blind-safe palette.

Every function takes plain numbers and strings (already chosen by `context.py`) and returns
the SVG text. Output is byte-stable for the same input (fixed hash salt, no date), so golden
tests and signed reports do not drift. Labels are sanitised for drawing: mathtext is off
(a group called `$\\frac{a}{b}$` is drawn literally), characters the font lacks are replaced,
and long labels are shortened; the full text is always in the HTML tables.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import matplotlib
import numpy as np
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.patches import Rectangle
from matplotlib.rcsetup import cycler
from matplotlib.typing import RcKeyType

# Okabe & Ito (2008), "Color Universal Design": distinguishable under common colour blindness.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
)
NULL_COLOUR = "#999999"
THRESHOLD_COLOUR = "#D55E00"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", ":")  # past eight series, colour and marker repeat; the dash does not
MAX_LABEL = 40
FONT_FAMILY = "DejaVu Sans"
PAD_INCHES = 0.1  # white margin around the cropped figure, as matplotlib's tight crop
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
ET.register_namespace("xlink", XLINK_NS)  # `xlink:href`, not `ns0:href`, in the output
# matplotlib's whole style sheet, one rule, which `_lean` turns into inherited attributes of
# the root: every element that sets its own keeps its own, as under the rule.
MATPLOTLIB_SHEET = '<style type="text/css">*{stroke-linejoin: round; stroke-linecap: butt}</style>'
ROOT_STROKE = {"stroke-linejoin": "round", "stroke-linecap": "butt"}

# rcParams values are of many types; matplotlib itself declares them Any.
STYLE: dict[RcKeyType, Any] = {
    "font.family": FONT_FAMILY,
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.titley": 1.0,  # a fixed title position skips matplotlib's slow auto-placement
    "axes.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.5,
    "axes.prop_cycle": cycler(color=OKABE_ITO),
    "legend.fontsize": 7,
    "legend.frameon": False,
    "text.parse_math": False,
    "svg.fonttype": "none",
    "svg.hashsalt": "audit-report",
    "figure.dpi": 100,
    "image.interpolation": "nearest",
}


@dataclass(frozen=True)
class Interval:
    """A labelled estimate with an optional confidence interval."""

    label: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    muted: bool = False  # drawn in grey: a null, a shadow feature


@dataclass(frozen=True)
class Line:
    """A reference line (a policy threshold or a null), drawn dashed and labelled."""

    value: float
    label: str


@dataclass(frozen=True)
class Series:
    """One curve: a perturbation family's metric against level or ε."""

    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    ci_low: tuple[float, ...] | None = None
    ci_high: tuple[float, ...] | None = None


@cache
def _charmap() -> frozenset[int]:
    path = font_manager.findfont(FONT_FAMILY, fallback_to_default=False)
    return frozenset(FT2Font(path).get_charmap())


def plot_label(text: str, limit: int = MAX_LABEL) -> str:
    """Make `text` safe to draw: glyphs the font lacks become '?', long text is shortened."""
    chars = _charmap()
    flat = " ".join(text.split())
    safe = "".join(c if ord(c) in chars else "?" for c in flat)
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"


def _new(width: float, height: float) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()


def _svg(fig: Figure) -> str:
    """Cropped to the drawing plus a margin, drawn once: `bbox_inches="tight"` would draw the
    whole figure a first time only to measure it, while Agg's text metrics measure it without
    drawing. No pyplot: figures are not registered globally, so nothing leaks between renders."""
    box = fig.get_tightbbox(FigureCanvasAgg(fig).get_renderer()).padded(PAD_INCHES)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches=box, metadata={"Date": None})
    return _lean(buf.getvalue())


def _presentation_attributes(element: ET.Element) -> None:
    """`style="fill: #fff; stroke-width: 0.8"` as `fill="#fff" stroke-width="0.8"`."""
    for declaration in element.attrib.pop("style", "").split(";"):
        name, colon, value = declaration.partition(":")
        if colon:
            element.set(name.strip(), value.strip())


def _flatten(parent: ET.Element) -> None:
    """Splice out what draws nothing: matplotlib's `<g id=...>` wrappers (half of all its
    elements, each one cascaded by WeasyPrint), the metadata, the style sheet, empty defs."""
    kept: list[ET.Element] = []
    for child in parent:
        _flatten(child)
        _presentation_attributes(child)
        tag = child.tag = child.tag.removeprefix(f"{{{SVG_NS}}}")
        if tag == "g" and child.keys() in ([], ["id"]):
            kept.extend(child)
        elif tag not in ("metadata", "style") and not (tag == "defs" and len(child) == 0):
            kept.append(child)
    parent[:] = kept


def _lean(svg: str) -> str:
    """The same drawing with about half the elements and no CSS to parse.

    WeasyPrint draws SVG in Python, cascading attributes and a style sheet into every
    element: on the 30-page bench report's 18 figures this cuts its drawing time by about a
    fifth. Browsers draw both forms alike (presentation attributes are plain SVG 1.1). If
    matplotlib's style sheet is not the one this was written against, the SVG stays as it is:
    a sheet's rule outranks presentation attributes, so they could not be rewritten safely.
    """
    if svg.count("<style") != 1 or MATPLOTLIB_SHEET not in svg:
        return svg
    root = ET.fromstring(svg)
    _flatten(root)
    # Tags written unqualified under a plain `xmlns`: ElementTree's `default_namespace`
    # refuses the unqualified attributes every SVG element has.
    root.tag = "svg"
    root.set("xmlns", SVG_NS)
    for name, value in ROOT_STROKE.items():
        root.set(name, value)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _err(items: Sequence[Interval]) -> np.ndarray:
    low = [i.value - (i.ci_low if i.ci_low is not None else i.value) for i in items]
    high = [(i.ci_high if i.ci_high is not None else i.value) - i.value for i in items]
    return np.clip(np.array([low, high], dtype=float), 0.0, None)


def _lines(ax: Axes, lines: Sequence[Line], *, vertical: bool) -> None:
    for k, line in enumerate(lines):
        draw = ax.axvline if vertical else ax.axhline
        draw(
            line.value,
            label=plot_label(line.label, 60),
            color=THRESHOLD_COLOUR,
            linestyle=("--", ":", "-.")[k % 3],
            lw=1.2,
        )


def forest(items: Sequence[Interval], lines: Sequence[Line], *, xlabel: str, title: str) -> str:
    """Point estimates with CIs, one row each, and the policy thresholds as vertical lines."""
    with matplotlib.rc_context(STYLE):
        fig, ax = _new(6.2, 0.45 + 0.32 * max(len(items), 1))
        y = np.arange(len(items))[::-1]
        colours = [NULL_COLOUR if i.muted else OKABE_ITO[0] for i in items]
        err = _err(items)
        for k, colour in enumerate(colours):
            ax.errorbar(
                items[k].value,
                y[k],
                xerr=err[:, k : k + 1],
                fmt="none",
                ecolor=colour,
                capsize=3,
                lw=1.2,
            )
        ax.scatter([i.value for i in items], y, c=colours, zorder=3, s=22, marker="D")
        ax.set_yticks(y, [plot_label(i.label) for i in items])
        _lines(ax, lines, vertical=True)
        ax.set_xlabel(xlabel)
        ax.set_title(plot_label(title, 80), loc="left")
        ax.grid(axis="y", visible=False)
        if lines:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35 if len(items) < 4 else -0.12))
        return _svg(fig)


def bars(items: Sequence[Interval], lines: Sequence[Line], *, ylabel: str, title: str) -> str:
    """Vertical bars with CI whiskers; nulls in grey; reference lines dashed."""
    with matplotlib.rc_context(STYLE):
        fig, ax = _new(max(2.6, 0.55 * len(items) + 1.6), 2.4)
        x = np.arange(len(items))
        colours = [NULL_COLOUR if i.muted else OKABE_ITO[k % 6] for k, i in enumerate(items)]
        ax.bar(x, [i.value for i in items], color=colours, width=0.6)
        ax.errorbar(
            x,
            [i.value for i in items],
            yerr=_err(items),
            fmt="none",
            ecolor="black",
            capsize=3,
            lw=1,
        )
        ax.set_xticks(x, [plot_label(i.label, 18) for i in items], rotation=30, ha="right")
        _lines(ax, lines, vertical=False)
        ax.set_ylabel(ylabel)
        ax.set_title(plot_label(title, 60), loc="left")
        ax.grid(axis="x", visible=False)
        if lines:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _svg(fig)


def hbars(items: Sequence[Interval], lines: Sequence[Line], *, xlabel: str, title: str) -> str:
    """Horizontal bars with CI whiskers, e.g. global feature importance, largest on top."""
    with matplotlib.rc_context(STYLE):
        fig, ax = _new(6.2, 0.5 + 0.26 * max(len(items), 1))
        y = np.arange(len(items))[::-1]
        colours = [NULL_COLOUR if i.muted else OKABE_ITO[0] for i in items]
        ax.barh(y, [i.value for i in items], color=colours, height=0.6)
        ax.errorbar(
            [i.value for i in items],
            y,
            xerr=_err(items),
            fmt="none",
            ecolor="black",
            capsize=2,
            lw=0.8,
        )
        ax.set_yticks(y, [plot_label(i.label) for i in items])
        _lines(ax, lines, vertical=True)
        ax.set_xlabel(xlabel)
        ax.set_title(plot_label(title, 80), loc="left")
        ax.grid(axis="y", visible=False)
        if lines:
            ax.legend(loc="lower right")
        return _svg(fig)


def curves(
    series: Sequence[Series],
    lines: Sequence[Line],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    xticks: Sequence[float] | None = None,
) -> str:
    """One line per family (colour and marker both differ; from the ninth, the dash too), CI
    bands, thresholds dashed."""
    with matplotlib.rc_context(STYLE):
        fig, ax = _new(6.2, 2.8)
        for k, s in enumerate(series):
            colour = OKABE_ITO[k % len(OKABE_ITO)]
            ax.plot(
                s.x,
                s.y,
                marker=MARKERS[k % len(MARKERS)],
                linestyle=LINESTYLES[k // len(OKABE_ITO) % len(LINESTYLES)],
                color=colour,
                lw=1.3,
                ms=4,
                label=plot_label(s.label, 24),
            )
            if s.ci_low is not None and s.ci_high is not None:
                ax.fill_between(s.x, s.ci_low, s.ci_high, color=colour, alpha=0.15, lw=0)
        _lines(ax, lines, vertical=False)
        if xticks is not None:
            ax.set_xticks(list(xticks))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(plot_label(title, 80), loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _svg(fig)


def heatmap(
    grid: np.ndarray, *, title: str, xlabel: str, ylabel: str, colorbar: str, center: float = 0.0
) -> str:
    """A rows x columns grid of values (NaN: blank), each cell printed, on a diverging colour
    scale centred on `center` (the attention-head check's layer x head maps)."""
    rows, cols = grid.shape
    fig, ax = _new(max(3.0, 0.6 * cols + 1.6), max(1.6, 0.45 * rows + 1.0))
    finite = grid[np.isfinite(grid)]
    span = float(np.max(np.abs(finite - center))) if finite.size else 1.0
    span = span or 1.0
    im = ax.imshow(
        grid,
        cmap="RdBu_r",
        vmin=center - span,
        vmax=center + span,
        aspect="auto",
        interpolation="nearest",
    )
    for r in range(rows):
        for c in range(cols):
            if np.isfinite(grid[r, c]):
                strong = abs(grid[r, c] - center) > 0.6 * span  # white on the darkest cells
                color = "white" if strong else "black"
                ax.text(
                    c, r, f"{grid[r, c]:.2f}", ha="center", va="center", fontsize=7, color=color
                )
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(plot_label(title))
    fig.colorbar(im, ax=ax, label=colorbar, fraction=0.05)
    return _svg(fig)


def _show(ax: Axes, image: np.ndarray, *, cmap: str = "gray") -> None:
    arr = np.asarray(image, dtype=float)
    if arr.ndim == 3 and arr.shape[0] in (1, 3):
        arr = arr[0] if arr.shape[0] == 1 else np.transpose(arr, (1, 2, 0))
    if arr.ndim == 3:
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
        ax.imshow(arr)
    else:
        ax.imshow(arr, cmap=cmap)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


@dataclass(frozen=True)
class ImagePair:
    """Two images shown side by side, with captions and an optional outlined region."""

    left: np.ndarray
    right: np.ndarray
    left_caption: str
    right_caption: str
    region: tuple[int, int, int, int] | None = None  # [row, col, height, width]
    right_is_attribution: bool = False


def image_grid(pairs: Sequence[ImagePair], *, per_row: int = 3) -> str:
    """A grid of (left | right) pairs: originals beside attributions or perturbed copies."""
    rows = max(1, -(-len(pairs) // per_row))
    cols = 2 * min(per_row, max(len(pairs), 1))
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(1.1 * cols, 1.3 * rows))
        axes = fig.subplots(rows, cols, squeeze=False)
        for ax in axes.flat:
            ax.set_axis_off()
        for k, pair in enumerate(pairs):
            r, c = divmod(k, per_row)
            for j, (img, cap) in enumerate(
                ((pair.left, pair.left_caption), (pair.right, pair.right_caption))
            ):
                ax = axes[r][2 * c + j]
                ax.set_axis_on()
                attribution = j == 1 and pair.right_is_attribution
                cmap = "magma" if attribution else "gray"
                _show(ax, np.abs(img) if attribution else img, cmap=cmap)
                ax.set_title(plot_label(cap, 20), fontsize=5.5)
                if pair.region is not None:
                    row, col, h, w = pair.region
                    ax.add_patch(
                        Rectangle(
                            (col - 0.5, row - 0.5), w, h, fill=False, edgecolor=OKABE_ITO[4], lw=1.5
                        )
                    )
        return _svg(fig)


def group_thumbnails(groups: Sequence[tuple[str, np.ndarray]], *, title: str) -> str:
    """One row of example images per group: (label, (k, h, w, 3) uint8 thumbnails) each."""
    cols = max((len(images) for _, images in groups), default=1)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(0.9 * cols + 1.2, 0.95 * max(1, len(groups)) + 0.3))
        axes = fig.subplots(max(1, len(groups)), cols, squeeze=False)
        for row, (label, images) in zip(axes, groups, strict=False):
            for k, ax in enumerate(row):
                ax.set_axis_off()
                if k < len(images):
                    ax.imshow(images[k], interpolation="nearest")
            row[0].set_axis_on()
            row[0].set_xticks([])
            row[0].set_yticks([])
            row[0].set_ylabel(
                plot_label(label, 18), fontsize=6, rotation=0, ha="right", va="center"
            )
        fig.suptitle(plot_label(title), fontsize=7)
        return _svg(fig)
