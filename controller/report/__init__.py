"""What a run produces: results, problems and their advice, events, records, views."""
