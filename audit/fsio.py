"""Atomic file writes: a crash leaves the old file or none, never half a report."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from audit.errors import ReportError


def write_atomic(path: Path, data: bytes | str, *, mode: int | None = None) -> Path:
    """Write to a temporary file beside `path`, fsync it, then rename it into place."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    except OSError as exc:
        raise ReportError(
            f"cannot write here: {exc.strerror}.",
            where=str(path.parent),
            fix="choose a writable output folder (--out).",
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ReportError(
            f"writing failed: {exc.strerror}.",
            where=str(path),
            fix="free disk space or choose another output folder.",
        ) from None
    return path
