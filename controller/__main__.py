"""`python -m controller` runs the fleet CLI."""

from controller.cli.app import main

main()
