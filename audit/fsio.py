"""Atomic file writes and claimed output folders.

A crash leaves the old file or none, never half a report. An output folder is claimed for
one run (`claim_out_dir`): an exclusive lock on the folder keeps concurrent runs apart, a
non-empty folder is refused unless the caller allows overwriting, and everything the run
writes is tallied so a cancelled run can take it back (`OutputClaim.discard`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
import threading
from pathlib import Path

from audit.errors import ReportError

NOT_EMPTY = "the output folder is not empty ({count} entries, e.g. {example})."
NOT_EMPTY_FIX = "choose a new or empty folder with --out, or pass --overwrite to replace it."
BUSY = "another audit is writing to this output folder right now."
BUSY_FIX = "wait for it to finish, or choose another folder with --out."
UNWRITABLE = "cannot write to the output folder: {reason}."
UNWRITABLE_FIX = "choose a writable folder with --out."


class OutputClaim:
    """One run's hold on its output folder, and the files it has written there so far.

    The lock is `flock` on the folder itself: the kernel drops it when the process dies, so a
    killed run never leaves a stale lock, and no lock file sits among the outputs.
    """

    def __init__(self, folder: Path, fd: int, created: bool) -> None:
        self.folder = folder
        self.created = created
        self.written: set[Path] = set()
        self.in_flight: set[Path] = set()
        self.sealed = False
        self._fd: int | None = fd
        self._lock = threading.Lock()

    def _note(self, path: Path, *, partial: bool, done: bool) -> None:
        with self._lock:
            target = self.in_flight if partial else self.written
            if done:
                target.discard(path)
            else:
                target.add(path)

    def seal(self) -> None:
        """The ledger now points at these outputs: a later cancel must keep them."""
        self.sealed = True

    def discard(self) -> list[Path]:
        """Remove what this run wrote (unless sealed) and every temporary file in flight."""
        with self._lock:
            doomed = [*self.in_flight, *([] if self.sealed else self.written)]
            self.in_flight.clear()
        # the folder is ours (locked): a temporary file not yet tallied is ours too
        doomed += self.folder.glob(".*.partial")
        removed = []
        for path in doomed:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
        if self.created and not self.sealed:
            with contextlib.suppress(OSError):  # not empty: someone else's files stay
                self.folder.rmdir()
        return removed

    def release(self) -> None:
        global _ACTIVE
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if _ACTIVE is self:
            _ACTIVE = None

    def __enter__(self) -> OutputClaim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


_ACTIVE: OutputClaim | None = None


def active_claim() -> OutputClaim | None:
    """The claim of the run in progress in this process, if any."""
    return _ACTIVE


def claim_out_dir(folder: Path, *, overwrite: bool = False) -> OutputClaim:
    """Create (or open) `folder`, lock it for this run, and refuse it if another run holds it
    or, without `overwrite`, if it already has entries (the last writer would silently win)."""
    global _ACTIVE
    folder = Path(folder)
    try:
        created = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise ReportError(
            UNWRITABLE.format(reason=exc.strerror), where=str(folder), fix=UNWRITABLE_FIX
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise ReportError(BUSY, where=str(folder), fix=BUSY_FIX) from None
        raise ReportError(
            UNWRITABLE.format(reason=exc.strerror), where=str(folder), fix=UNWRITABLE_FIX
        ) from None
    try:
        entries = sorted(p.name for p in folder.iterdir())
        if entries and not overwrite:
            raise ReportError(
                NOT_EMPTY.format(count=len(entries), example=entries[0]),
                where=str(folder),
                fix=NOT_EMPTY_FIX,
            )
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        os.close(fd)
        raise ReportError(
            UNWRITABLE.format(reason=exc.strerror), where=str(folder), fix=UNWRITABLE_FIX
        ) from None
    except ReportError:
        os.close(fd)
        raise
    _ACTIVE = OutputClaim(folder, fd, created)
    return _ACTIVE


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
    claim = _ACTIVE
    if claim is not None:
        claim._note(Path(tmp), partial=True, done=False)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        if claim is not None:
            claim._note(path, partial=False, done=False)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ReportError(
            f"writing failed: {exc.strerror}.",
            where=str(path),
            fix="free disk space or choose another output folder.",
        ) from None
    finally:
        if claim is not None:
            claim._note(Path(tmp), partial=True, done=True)
    return path
