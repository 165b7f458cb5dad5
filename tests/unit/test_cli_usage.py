"""Command-line usage errors: exit 2 with click's usage hint, never an 'internal error'."""

from __future__ import annotations

import pytest

from audit.cli import main


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["run", "spec.yaml", "--fail-on", "bogus"], "Invalid value for '--fail-on'"),
        (["run", "a.yaml", "b.yaml"], "Got unexpected extra argument(s) (b.yaml)"),
        (["no-such-command"], "No such command 'no-such-command'"),
    ],
)
def test_usage_error_exits_2_with_usage_hint(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert "Usage:" in err
    assert "internal error" not in err and "Traceback" not in err
