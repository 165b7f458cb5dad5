"""Bundled demos: real data, small models trained deterministically on first use and cached."""

from __future__ import annotations

from pathlib import Path

from audit.paths import cache_dir

CASES = ("tabular", "image", "text")


def build_demo(case: str, seed: int = 0) -> Path:
    """Return the spec path of a ready-to-run demo audit, building it on first use."""
    cache = cache_dir() / "demo"
    if case == "tabular":
        from audit.demo.adult import build_tabular_demo

        return build_tabular_demo(cache, seed)
    if case == "image":
        from audit.demo.image_files import build_image_files_demo

        return build_image_files_demo(cache, seed)
    if case == "text":
        from audit.demo.text import build_text_demo

        return build_text_demo(cache, seed)
    raise ValueError(f"unknown demo case {case!r}; choose one of {', '.join(CASES)}")
