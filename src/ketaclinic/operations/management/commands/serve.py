from __future__ import annotations

import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Serve ketaclinic with gunicorn (static files included). "
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
        bind = f"{options['host']}:{options['port']}"
        self.stdout.write(self.style.SUCCESS(f"ketaclinic is serving on http://{bind}/"))
        self.stdout.write("Press Ctrl+C to stop.")
        self.stdout.flush()
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "ketaclinic.wsgi:application",
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
