"""Clean cancellation of `audit run`: SIGTERM or SIGINT stops every process the run started.

Why not just let the signal kill us: the temporary Prefect API server (a uvicorn subprocess)
is stopped by an `atexit` hook that a default SIGTERM never runs, so every cancelled CI job
leaked one; a Dask LocalCluster's workers are children too. And a plain exception is not
enough either: Prefect swaps in its own SIGTERM handler during a flow run, and the check
threads a cancelled run leaves behind keep the interpreter from exiting until they finish.

So a signal is seen twice. A Python handler turns it into `RunCancelled`, which unwinds the
flow in the main thread (Prefect then records the run as crashed). A watcher thread reads the
same signal from `signal.set_wakeup_fd`, which the C-level handler writes whichever Python
handler is installed; it gives the main thread `GRACE_S` to finish, then does the shutdown
itself. The shutdown, done once by whichever side gets there first: SIGTERM to every
descendant process (a snapshot of the tree), SIGKILL to those still alive after
`TERM_WAIT_S`, take back this run's outputs (`OutputClaim.discard`), exit 128 + signal.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator

import psutil

from audit.fsio import OutputClaim

GRACE_S = 2.0
TERM_WAIT_S = 3.0
KILL_WAIT_S = 2.0
SWEEPS = 3
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
SIGNALS = (signal.SIGTERM, signal.SIGINT)
CANCELLED = "audit cancelled by {name}: stopped {procs} process(es) it started; {files}.\n"


class RunCancelled(BaseException):
    """A signal asked the run to stop (BaseException: no `except Exception` may swallow it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def become_subreaper() -> bool:
    """Adopt this run's orphans (Linux `PR_SET_CHILD_SUBREAPER`): a process whose parent dies
    while the run is being stopped re-parents to us instead of to init, so a later sweep still
    finds it. False where the call is not available (the sweeps alone must do)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def descendants() -> list[psutil.Process]:
    return psutil.Process().children(recursive=True)


def stop_descendants(
    spare: frozenset[int] = frozenset(), term_wait: float = TERM_WAIT_S
) -> list[psutil.Process]:
    """SIGTERM every process below this one but `spare`, then SIGKILL those that outlive
    `term_wait`; repeated (up to SWEEPS times) while new ones turn up.

    The tree is read before anything is signalled: a child that dies first would otherwise
    orphan its own children out of the tree. A process being started as the signal arrives
    (a server spawning its worker) is not in that snapshot, hence the sweeps. Returns every
    process that was found.
    """
    found: dict[int, psutil.Process] = {}
    for _ in range(SWEEPS):
        procs = [p for p in descendants() if p.pid not in spare and p.pid not in found]
        if not procs:
            break
        found.update((p.pid, p) for p in procs)
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        _, alive = psutil.wait_procs(procs, timeout=term_wait)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(alive, timeout=KILL_WAIT_S)
    return list(found.values())


class _Guard:
    def __init__(self, claim: OutputClaim | None) -> None:
        self.claim = claim
        self.signum: int | None = None
        self.spare = frozenset(p.pid for p in descendants())  # not ours: started before
        self._raised = False
        self._once = threading.Lock()
        self._stop = threading.Event()
        self._read, self._write = socket.socketpair()
        self._write.setblocking(False)
        self._previous: dict[int, object] = {}
        self._previous_fd = -1

    # -- installed in the main thread -------------------------------------------------------
    def install(self) -> None:
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_signal)
        self._previous_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        threading.Thread(target=self._watch, name="audit-cancel-watch", daemon=True).start()

    def uninstall(self) -> None:
        self._stop.set()
        signal.set_wakeup_fd(self._previous_fd)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        with contextlib.suppress(OSError):
            self._write.send(b"\0")  # wake the watcher so it ends
        self._write.close()

    def _on_signal(self, signum: int, frame: object) -> None:
        self.signum = self.signum or signum
        if not self._raised:
            self._raised = True
            raise RunCancelled(signum)
        # a second signal while shutting down: the shutdown is already under way

    # -- the watcher thread -----------------------------------------------------------------
    def _watch(self) -> None:
        with self._read:
            self._watch_signals()

    def _watch_signals(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._read.recv(64)
            except OSError:
                return
            if not data:  # the writing end was closed: the run is over
                return
            for signum in data:
                if signum in SIGNALS and not self._stop.is_set():
                    self.signum = self.signum or signum
                    # the main thread may finish the shutdown itself (it then never returns)
                    self._stop.wait(GRACE_S)
                    if not self._stop.is_set():
                        self.shutdown(signum)

    # -- either side --------------------------------------------------------------------------
    def shutdown(self, signum: int) -> None:
        """Stop the run's processes, take back its outputs, and leave at once (never returns).

        `os._exit`: interpreter shutdown would join the abandoned check threads, and Prefect's
        exit hooks would talk to the server that was just stopped.
        """
        self._once.acquire()  # a second caller waits here until the first has exited
        procs = stop_descendants(self.spare)
        removed = self.claim.discard() if self.claim is not None else []
        kept = self.claim is not None and self.claim.sealed
        files = (
            "kept its outputs (already recorded in the ledger)"
            if kept
            else f"removed {len(removed)} output file(s)"
        )
        message = CANCELLED.format(name=signal.Signals(signum).name, procs=len(procs), files=files)
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
            os.write(2, message.encode())
        os._exit(128 + signum)


_SPARE_AT_EXIT: list[frozenset[int]] = []


def _reap_leftovers() -> None:
    """Last resort at a normal exit: anything a run started that is still below us (Prefect's
    own exit hook, which runs before this one, has stopped its server by then)."""
    stop_descendants(_SPARE_AT_EXIT[0])


@contextlib.contextmanager
def cancellable(claim: OutputClaim | None) -> Iterator[None]:
    """Run the body so that SIGTERM/SIGINT (and a crash) leave no process and no partial output.

    Must be entered in the main thread, before Prefect starts its server: `atexit` runs hooks
    last-registered first, so the leftover reaper registered here runs after Prefect's.
    """
    become_subreaper()
    guard = _Guard(claim)
    if not _SPARE_AT_EXIT:
        _SPARE_AT_EXIT.append(guard.spare)
        atexit.register(_reap_leftovers)
    guard.install()
    try:
        yield
    except (RunCancelled, KeyboardInterrupt) as exc:
        guard.shutdown(getattr(exc, "signum", None) or guard.signum or signal.SIGINT)
    except BaseException:
        if guard.signum is not None:  # Prefect re-raised our signal as its own exception
            guard.shutdown(guard.signum)
        raise
    finally:
        guard.uninstall()
