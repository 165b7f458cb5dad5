"""Smoke run of `bench/image_files.py --quick`: the script runs end to end through the audit's
loaders and prints every figure docs/benchmarks.md records (timings are never asserted)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from audit.checks.robustness.image import CORRUPTIONS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"(\d+(?:\.\d+)?)"


def test_the_quick_run_prints_the_ratio_stages_and_peak_memory(tmp_path: Path) -> None:
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "bench/image_files.py", "--quick", "--cache", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    # throughput: one row per image set, CPU and wall ratios as numbers
    for label in ("256-400 px a side | 288x288", "256x256 | files' own"):
        row = next(line for line in out.splitlines() if line.startswith(f"| {label} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[-2]) > 0 and float(cells[-1]) > 0
    assert re.search(rf"Lowest throughput ratio \(CPU\): {NUMBER}", out)
    # the set's rows: throughput; stages (decode, corrupt, preprocess, network, their sum, the
    # audit path); the network and every corruption family, per image
    rows = [line for line in out.splitlines() if line.startswith("| 256x256 | ")]
    assert [len(r.strip("|").split("|")) for r in rows] == [8, 7, 2 + len(CORRUPTIONS)]
    assert f"| files on disk | network | {' | '.join(CORRUPTIONS)} |" in out
    # memory: one fresh process per set size, every image scored, peak RSS in MB
    memory = dict(re.findall(rf"^\| (\d+) \| {NUMBER} \|", out, flags=re.MULTILINE))
    assert set(memory) == {"16", "48"}
    assert all(100 < float(mb) < 2048 for mb in memory.values())  # torch alone is > 100 MB
    assert re.search(rf"Peak RSS growth: [+-]{NUMBER} MB per 1,000 images \(16 -> 48\)", out)
    # the files are cached: 48 PNGs of the memory set, 8 of each throughput set
    assert len(list((tmp_path / "224").glob("*.png"))) == 48
    assert len(list((tmp_path / "varied-288").glob("*.png"))) == 8
