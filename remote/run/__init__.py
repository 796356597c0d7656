"""One run on this host."""
