"""The Docker side of a host: the engine socket, compose argv, configs, images, secrets."""
