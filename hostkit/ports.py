"""A TCP port on 127.0.0.1 that nothing listens on, for a test or benchmark server."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port the OS just handed out and released. Another process could take it before the caller binds
    it; on a test machine that race is rare enough, and the caller's bind error says so if it happens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
