"""The fleet stage-runner (runs on each host; standard library only)."""
