"""`fleet check`: the probe, its verdicts, one host's check, the compose cache, the table."""
