"""One run on this host: its job, lock, state, log, stages, and what it leaves behind."""
