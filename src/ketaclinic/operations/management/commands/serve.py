from __future__ import annotations

import os
import socket
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ketaclinic.operations.maintenance import database_unmigrated


def _check_free(host: str, port: int) -> None:
    """Refuse early, in one line, when the address cannot be listened on (gunicorn would
    retry for several seconds and then exit with its own log lines)."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host.strip("[]"), port))
    except OSError as error:
        raise CommandError(
            f"Cannot listen on {host}:{port} ({error.strerror or error}): another server may be "
            "using the port; choose another with --port or PORT=."
        ) from error


class Command(BaseCommand):
    help = (
        "Serve ketaclinic with gunicorn (static files included). Each worker runs the apps' "
        "warm-ups in the background as it starts (the outcomes cache). "
        "Put a TLS-terminating proxy in front of it in production."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("PORT", "8000")),
            help="Port to listen on (default 8000, or $PORT).",
        )
        parser.add_argument("--workers", type=int, default=2, help="Worker processes.")
        parser.add_argument("--threads", type=int, default=4, help="Threads per worker.")

    def handle(self, *args: Any, **options: Any) -> None:
        if database_unmigrated():
            raise CommandError(
                "The database is not set up or not up to date: run `ketaclinic migrate` first."
            )
        if not 0 < options["port"] < 65536:
            raise CommandError(f"--port must be from 1 to 65535, not {options['port']}.")
        if options["workers"] < 1 or options["threads"] < 1:
            raise CommandError("--workers and --threads must be at least 1.")
        _check_free(options["host"], options["port"])
        bind = f"{options['host']}:{options['port']}"
        self.stdout.write(self.style.SUCCESS(f"ketaclinic is serving on http://{bind}/"))
        self.stdout.write("Press Ctrl+C to stop.")
        self.stdout.flush()
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "ketaclinic.wsgi:application",
            "--config",
            "python:ketaclinic.operations.gunicorn_config",
            "--bind",
            bind,
            "--workers",
            str(options["workers"]),
            "--threads",
            str(options["threads"]),
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "5",
        ]
        os.execv(sys.executable, argv)  # noqa: S606 - replaces this process with gunicorn
