"""Stdlib helpers with no fleet knowledge."""
