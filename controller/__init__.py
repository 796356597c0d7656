"""fleet controller."""
