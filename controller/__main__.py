"""`python -m controller` runs the fleet CLI."""

from controller.cli import main

main()
