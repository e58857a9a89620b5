"""Where a URL leads: loopback, this network, or the internet, whatever way its host is spelled.

A host may name an address in many spellings (`127.0.0.1`, `0x7f000001`, `2130706433`, `017700000001`, `127.1`,
`[::1]`, `[::ffff:127.0.0.1]`): the C resolver accepts all of them, so every check here reads a host the way the
resolver will. Names are checked again after DNS resolution, by whoever connects (see adapters/web/webhooks.py).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".localdomain")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known NAT64 prefix: the last 32 bits are an IPv4 address
_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated IPv4-compatible IPv6 addresses (`::127.0.0.1`)


def address_of(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any spelling the C resolver takes (hex, octal, one number, short forms);
    None when it is a name."""
    text = host.strip().strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if text and all(ch in "0123456789abcdefxABCDEFX." for ch in text):
        try:  # inet_aton is what getaddrinfo uses for numbers: 0x7f000001, 2130706433, 017700000001, 127.1
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def _embedded(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or (ip in _COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def why_private(ip: IPAddress) -> str | None:
    """Why ``ip`` is not an address on the internet (loopback, private, link-local, …), or None when it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded(ip)
        if inner is not None and (reason := why_private(inner)) is not None:
            return reason
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local address"
    if ip.is_private or ip.is_reserved or not ip.is_global:
        return "a private address"
    return None


def why_host_private(host: str) -> str | None:
    """Why the URL host ``host`` is not on the internet, when that can be told without DNS; None otherwise."""
    name = host.strip().strip("[]").rstrip(".").lower()
    ip = address_of(name)
    if ip is not None:
        return why_private(ip)
    if name in LOCAL_NAMES or name.endswith(_LOCAL_SUFFIXES) or "." not in name:
        return "a name for this machine or this network"
    return None


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine: `localhost` or a loopback address, in any spelling."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    name = host.rstrip(".").lower()
    if name in LOCAL_NAMES or name.endswith(".localhost"):
        return True
    ip = address_of(name)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip is not None and ip.is_loopback
