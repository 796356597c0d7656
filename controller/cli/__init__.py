"""The `fleet` command line: the only package that imports Typer.

app.py holds the Typer app and the entry point; deploy.py (deploy, resume, rollback,
releases), inspect.py (status, plan, report, check), logs.py, outdated.py and secrets.py
register their commands on it, in the order `fleet --help` lists them; boundary.py is
the one error boundary (exit codes, crash log); params.py and common.py hold what the
commands share.
"""

from controller.cli import deploy, inspect, logs, outdated, secrets
from controller.cli.app import app, main

__all__ = ["app", "deploy", "inspect", "logs", "main", "outdated", "secrets"]
