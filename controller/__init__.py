"""fleet on the controller; its layers and where each command lives: docs/internals.md."""
