"""The job a run sends each host: its settings and, for a push host, its source manifest."""
