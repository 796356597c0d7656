"""The Docker side: engine socket, compose, images, secrets."""
