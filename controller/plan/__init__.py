"""`fleet plan`: the preview run on one host, its --json and its tables."""
