"""How bytes reach a host: connectors (ssh, local), file scripts, frames, command lines."""
