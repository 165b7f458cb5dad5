"""Cancelling a flow run from the Prefect UI stops an in-process `audit run` like SIGTERM.

A flow run started by a deployment is stopped by its runner or worker, which sends the
process SIGTERM. A flow called in-process, as `audit run` does against a shared server
(PREFECT_API_URL), has no runner: Prefect would mark it Cancelling and nothing would happen.
So that flow watches its own state and, once it is Cancelling (or Cancelled), sends its own
process SIGTERM; `audit run` then shuts down exactly as for a signal from outside
(`audit/cli/_cancel.py`: every started process stopped, the outputs taken back).
"""

from __future__ import annotations

import os
import signal
import threading

from prefect import get_client
from prefect.runtime import deployment, flow_run

POLL_S = 2.0


def watch_for_cancel(poll: float = POLL_S) -> threading.Thread | None:
    """Start watching this flow run's state; the watcher ends with the run (a final state)."""
    run_id = flow_run.id
    if run_id is None or deployment.id is not None:
        return None  # not a flow run, or one whose runner delivers the cancel itself

    def watch() -> None:
        with get_client(sync_client=True) as client:
            while True:
                try:
                    state = client.read_flow_run(run_id).state
                except Exception:  # the API is briefly unreachable: look again later
                    state = None
                if state is not None and (state.is_cancelling() or state.is_cancelled()):
                    os.kill(os.getpid(), signal.SIGTERM)
                    return
                if state is not None and state.is_final():
                    return
                threading.Event().wait(poll)

    thread = threading.Thread(target=watch, name="audit-cancel-poll", daemon=True)
    thread.start()
    return thread


__all__ = ["POLL_S", "watch_for_cancel"]
