"""One host's session: link, channel, following a run, outcomes, the one guard."""
