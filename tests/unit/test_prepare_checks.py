"""Checks' lazy imports happen one after another before the checks run concurrently.

Two checks importing captum's `attr` and `robust` packages in two threads at once were handed a
partially initialised module ("cannot import name 'LayerActivation' from partially initialized
module 'captum.attr'"), and both checks ended in `error`. `prepare_checks` imports them first.
"""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, sys
from audit import pipeline, registry
before = {m for m in sys.modules if m.startswith(("captum", "audit.checks."))}
pipeline.prepare_checks(registry.check_names())
after = {m for m in sys.modules if m.startswith(("captum", "audit.checks."))}
print(json.dumps({"names": list(registry.check_names()), "new": sorted(after - before)}))
"""


def test_prepare_imports_every_checks_implementation_in_the_calling_thread():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=300
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    new = set(got["new"])
    assert {f"audit.checks.{n}.check" for n in got["names"]} <= new
    # the two captum packages the spurious and robustness checks import at module level
    assert {"captum.attr", "captum.robust"} <= new
