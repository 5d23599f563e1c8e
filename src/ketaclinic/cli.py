"""The `ketaclinic` command: the friendly face of Django's manage.py.

`ketaclinic COMMAND [ARGS]` runs the management command COMMAND, so every Django
command is available too (`ketaclinic check`, `ketaclinic shell`, ...).
"""

from __future__ import annotations

import os
import sys

HELP = """\
usage: ketaclinic COMMAND [options]

ketaclinic runs a ketamine / esketamine treatment program. Commands:

  serve                 serve the clinic on 127.0.0.1:8000 (--port, --host, --workers)
  migrate               create or update the tables, load shipped protocols, ANALYZE
  demo                  seed the fictional demo clinic (--patients N, --if-empty)
  createuser            add a staff or patient account (--role ROLE)
  audit verify          check that the audit log's hash chain is intact
  ledger verify         check every location's controlled-substance ledger chain
  reminders send        email and text the appointment reminders that are due; for cron,
                        safe to run twice (--dry-run lists them; docs/reminders.md)
  score                 score an instrument response (score phq9 2 1 0 ...; --json, --csv)
  dose                  IV ketamine dose, volume and pump rate; esketamine devices (--json)
  pk                    predicted plasma ketamine for an infusion (educational; --json)

Any other Django management command is passed through (check, shell, dbshell,
changepassword, ...). `ketaclinic COMMAND --help` explains one command.
Settings come from the environment; see docs/configuration.md.
"""


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or (args[0] in {"-h", "--help", "help"} and len(args) == 1):
        sys.stdout.write(HELP)
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ketaclinic.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["ketaclinic", *args])


if __name__ == "__main__":
    main()
