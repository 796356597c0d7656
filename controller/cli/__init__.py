"""The `fleet` command line (the only package that imports Typer)."""

from controller.cli.app import app, main

__all__ = ["app", "main"]
