"""Host names in URLs and image references. Pure."""

from __future__ import annotations

import ipaddress


def is_loopback(host_port: str) -> bool:
    """True for a loopback host (`localhost`, 127/8, ::1), with or without a port: `host`,
    `host:port`, `[v6]`, `[v6]:port` or a bare v6 address. Plain HTTP is allowed only there,
    for registries and for the recipes API alike."""
    host = host_port
    if host.startswith("["):
        host = host[1:].split("]")[0]
    elif host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
