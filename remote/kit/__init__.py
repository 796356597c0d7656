"""Standard-library helpers with no fleet knowledge: JSON, processes, signals, files."""
