"""The `ketaclinic` command: the friendly face of Django's manage.py.

`ketaclinic COMMAND [ARGS]` runs the management command COMMAND, so every Django
command is available too (`ketaclinic check`, `ketaclinic shell`, ...).

Expected conditions (settings that do not parse, a database that is unreachable or was
never migrated, input a service refuses, Ctrl+C) end in one line on stderr and a non-zero
exit status, never a traceback: 1 when the clinic's rules refuse what was asked, 2 when the
command cannot run as set up. A traceback still means a bug.
"""

from __future__ import annotations

import os
import sys

HELP = """\
usage: ketaclinic COMMAND [options]

ketaclinic runs a ketamine / esketamine treatment program. Commands:

  serve                 serve the clinic on 127.0.0.1:8000 (--port, --host, --workers)
  migrate               create or update the tables, load shipped protocols, ANALYZE
  demo                  seed the fictional demo clinic (--patients N, --if-empty); sets
                        up the tables first on a new database; a network at scale
                        with --sessions N --locations N (docs/performance.md)
  createuser            add a staff or patient account (--role ROLE)
  import patients FILE  check a CSV of patients from another system, then register the
                        new ones at once (--by USERNAME, --dry-run; docs/imports.md)
  fhir client add NAME  register a system that reads the FHIR API (--account USERNAME,
                        --scope system/*.read); prints its secret once (docs/fhir.md)
  fhir import BUNDLE    import a FHIR Bundle of patients with their conditions,
                        medications and scores, all or nothing (--by, --location)
  worker                run background jobs (FHIR bulk exports); --once drains the queue
  unlock USERNAME       lift an account's lockout on the server (--address ADDR: let an
                        address that made too many failed sign-ins sign in again)
  backup                write a checksummed archive of the database, safe while the app
                        runs (--to DIR, --keep-days N; docs/backups.md)
  backup verify FILE    restore an archive into a scratch database and check both chains
  restore FILE          restore an archive into the database, after confirmation
  audit verify          check the audit log's hash chain, its append-only triggers and
                        the anchors kept outside the database (docs/audit.md)
  audit anchor          write the audit chain's head to the anchor file; for cron
  ledger verify         check every location's controlled-substance ledger chain
  reminders send        email and text the appointment reminders that are due; for cron,
                        safe to run twice (--dry-run lists them; docs/reminders.md)
  requests purge        delete declined and spam appointment requests past the retention
                        period (KETACLINIC_REQUEST_RETENTION_DAYS); for cron
  score                 score an instrument response (score phq9 2 1 0 ...; --json, --csv)
  dose                  IV ketamine dose, volume and pump rate; esketamine devices (--json)
  pk                    predicted plasma ketamine for an infusion (educational; --json)

Any other Django management command is passed through (check, shell, dbshell,
changepassword, ...). `ketaclinic COMMAND --help` explains one command.
Settings come from the environment; see docs/configuration.md.
Exit status: 0 done, 1 refused or a check failed, 2 cannot run as set up (bad usage,
settings or database).
"""

EXIT_REFUSED = 1
EXIT_CANNOT_RUN = 2
EXIT_INTERRUPTED = 130


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def database_problem(error: BaseException) -> str | None:
    """What to tell the user about a database error that is an expected condition, or None
    for one that is not (a bug, shown with its traceback)."""
    from django.db import DatabaseError, OperationalError

    if not isinstance(error, DatabaseError):
        return None
    text = str(error)
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return "The database has no ketaclinic tables yet: run `ketaclinic migrate` first."
    if isinstance(error, OperationalError):
        return (
            f"Cannot use the database ({_first_line(error)}). Check DATABASE_URL and that the "
            "database server is running (docs/configuration.md)."
        )
    return None


def _fail(command: str, message: str, status: int) -> None:
    sys.stderr.write(f"{' '.join(filter(None, ['ketaclinic', command]))}: {message}\n")
    sys.exit(status)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or (args[0] in {"-h", "--help", "help"} and len(args) == 1):
        sys.stdout.write(HELP)
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ketaclinic.settings")
    command = args[0] if not args[0].startswith("-") else ""
    try:
        from django.core.exceptions import ImproperlyConfigured, ValidationError
        from django.core.management import execute_from_command_line
    except ImportError as error:  # pragma: no cover - a broken install
        _fail(command, f"ketaclinic is not installed completely ({error}).", EXIT_CANNOT_RUN)
        return
    try:
        execute_from_command_line(["ketaclinic", *args])
    except KeyboardInterrupt:
        _fail(command, "interrupted.", EXIT_INTERRUPTED)
    except ImproperlyConfigured as error:
        _fail(command, f"{_first_line(error)} (docs/configuration.md).", EXIT_CANNOT_RUN)
    except ValidationError as error:
        _fail(command, "; ".join(error.messages), EXIT_REFUSED)
    except Exception as error:
        message = database_problem(error)
        if message is None:
            raise
        _fail(command, message, EXIT_CANNOT_RUN)


if __name__ == "__main__":
    main()
