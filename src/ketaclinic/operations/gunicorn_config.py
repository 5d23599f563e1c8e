"""gunicorn settings that `ketaclinic serve` adds (`--config python:...`): each worker runs
the apps' warm-ups (ketaclinic.plugins) in the background once it has loaded the app, so
that the first person to open, say, the outcomes page does not wait for its cache.

gunicorn reads this module before Django is set up; the hook runs in the worker after it
loaded the WSGI application, when the apps have registered their warm-ups.

The master also starts one `ketaclinic worker` beside the web workers, for background jobs
(FHIR bulk exports), and stops it when it stops; KETACLINIC_BACKGROUND_WORKER=0 leaves it out
(a network running several servers on one database runs one worker of its own).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from django.db import connections

from ketaclinic.plugins import warm_ups


def _warm_up(log: Any) -> None:
    for key, warm_up in warm_ups():
        started = time.perf_counter()
        try:
            said = warm_up()
        except Exception:
            # A warm-up only saves time: the page computes the same when asked.
            log.exception("Warm-up %r failed after %.1f s", key, time.perf_counter() - started)
        else:
            log.info("Warm-up %r: %s", key, said)
        finally:
            connections.close_all()


def post_worker_init(worker: Any) -> threading.Thread:
    """gunicorn's hook (its return value is not used; the thread is, by the tests)."""
    thread = threading.Thread(target=_warm_up, args=(worker.log,), name="warm-up", daemon=True)
    thread.start()
    return thread


def when_ready(server: Any) -> None:
    """gunicorn's hook in the master, once it listens: start the background worker."""
    if os.environ.get("KETACLINIC_BACKGROUND_WORKER", "1") == "0":
        return
    command = [str(Path(sys.executable).parent / "ketaclinic"), "worker"]
    server.ketaclinic_worker = subprocess.Popen(command)  # noqa: S603 - our own command
    server.log.info(
        "Background worker started (pid %s): FHIR bulk exports", server.ketaclinic_worker.pid
    )


def on_exit(server: Any) -> None:
    worker = getattr(server, "ketaclinic_worker", None)
    if worker is not None and worker.poll() is None:
        worker.terminate()
        worker.wait(timeout=10)
