"""The connector factory: the right connector for each host (imports asyncssh)."""

from __future__ import annotations

from controller.options import ConnectOptions
from controller.transport.connector import Connector
from controller.transport.local import LocalConnector
from controller.transport.ssh import KeyCache, KnownHostsBook, SshConnector
from inventory import Host


class ConnectorFactoryImpl:
    """Makes the right connector for each host; shares parsed known_hosts and keys."""

    def __init__(self, options: ConnectOptions) -> None:
        self._options = options
        self._book = KnownHostsBook()
        self._keys = KeyCache()

    def __call__(self, host: Host) -> Connector:
        if host.connection == "local":
            return LocalConnector(host)
        return SshConnector(host, self._options, self._book, self._keys)
