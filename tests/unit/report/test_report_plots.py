"""The figures: byte-stable SVG, safe labels, one palette."""

from __future__ import annotations

import numpy as np

from audit.presentation import plots

SERIES = [
    plots.Series(
        "gaussian_noise", (1, 2, 3), (0.9, 0.8, 0.7), (0.85, 0.75, 0.65), (0.95, 0.85, 0.75)
    ),
    plots.Series("blur", (1, 2, 3), (0.9, 0.85, 0.8)),
]


def test_svg_is_byte_stable():
    a = plots.curves(SERIES, [plots.Line(0.8, "policy")], xlabel="s", ylabel="a", title="t")
    b = plots.curves(SERIES, [plots.Line(0.8, "policy")], xlabel="s", ylabel="a", title="t")
    assert a == b
    assert a.startswith("<?xml") and "<svg" in a and "Date" not in a


def test_palette_is_okabe_ito_and_threshold_is_drawn():
    svg = plots.curves(SERIES, [plots.Line(0.8, "policy")], xlabel="s", ylabel="a", title="t")
    assert "#0072b2" in svg.lower() and "#e69f00" in svg.lower()
    assert plots.THRESHOLD_COLOUR.lower() in svg.lower()


def test_latex_is_drawn_literally_not_parsed():
    svg = plots.forest([plots.Interval(r"$\frac{1}{0}$", 0.5, 0.4, 0.6)], [], xlabel="x", title="t")
    assert r"$\frac{1}{0}$" in svg  # mathtext would have turned this into glyph paths


def test_label_replaces_missing_glyphs_and_shortens():
    assert plots.plot_label("group 🚀") == "group ?"
    assert plots.plot_label("x" * 100) == "x" * 39 + "…"
    assert plots.plot_label("a\nb\tc") == "a b c"


def test_markup_in_labels_is_escaped_in_svg():
    svg = plots.bars(
        [plots.Interval("<script>x</script>", 0.2, 0.1, 0.3)], [], ylabel="y", title="t"
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_image_grid_accepts_chw_hw_and_rgb():
    rng = np.random.default_rng(0)
    pairs = [
        plots.ImagePair(
            rng.random((1, 8, 8)),
            rng.random((8, 8)),
            "a",
            "b",
            region=(0, 0, 2, 2),
            right_is_attribution=True,
        ),
        plots.ImagePair(rng.random((3, 8, 8)), rng.random((3, 8, 8)), "c", "d"),
        plots.ImagePair(rng.random((8, 8)), np.zeros((8, 8)), "e", "f"),
    ]
    svg = plots.image_grid(pairs, per_row=2)
    assert svg.count("<image") == 6


def test_ninth_series_differs_from_the_first_by_its_dash():
    series = [plots.Series(f"family{k}", (1, 2), (0.9, 0.8)) for k in range(9)]
    svg = plots.curves(series, [], xlabel="s", ylabel="a", title="t")
    # matplotlib writes a dash pattern only for non-solid lines: the ninth line's "--".
    assert svg.count("stroke-dasharray") == 2  # the ninth line and its legend sample


def test_lean_svg_keeps_what_draws_and_drops_wrappers_and_css():
    raw = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<svg xmlns:xlink="http://www.w3.org/1999/xlink" xmlns="http://www.w3.org/2000/svg">'
        "<metadata><title>Matplotlib</title></metadata>"
        '<defs><style type="text/css">*{stroke-linejoin: round; stroke-linecap: butt}</style>'
        "</defs>"
        '<g id="figure_1"><g id="patch_1"><path d="M 0 0" style="fill: #ffffff"/></g>'
        '<defs><path id="m1" d="M 0 1"/></defs>'
        '<g clip-path="url(#p1)"><use xlink:href="#m1" x="2" y="3"/>'
        "<text style=\"font-size: 8px; font-family: 'DejaVu Sans'\">a</text></g></g></svg>"
    )
    assert plots._lean(raw) == (
        "<?xml version='1.0' encoding='utf-8'?>\n"
        '<svg xmlns:xlink="http://www.w3.org/1999/xlink" xmlns="http://www.w3.org/2000/svg"'
        ' stroke-linejoin="round" stroke-linecap="butt">'
        '<path d="M 0 0" fill="#ffffff" />'
        '<defs><path id="m1" d="M 0 1" /></defs>'
        '<g clip-path="url(#p1)"><use xlink:href="#m1" x="2" y="3" />'
        '<text font-size="8px" font-family="\'DejaVu Sans\'">a</text></g></svg>'
    )


def test_figures_have_no_wrapper_groups_or_style_attributes():
    svg = plots.curves(SERIES, [plots.Line(0.8, "policy")], xlabel="s", ylabel="a", title="t")
    assert "<g id=" not in svg and "style=" not in svg and "<metadata" not in svg
    assert svg.count("<text") >= 8 and "<use " in svg  # labels and tick marks are still drawn


def test_lean_svg_leaves_an_unknown_style_sheet_alone():
    raw = '<svg xmlns="http://www.w3.org/2000/svg"><style>*{fill: red}</style><g id="a"/></svg>'
    assert plots._lean(raw) == raw
