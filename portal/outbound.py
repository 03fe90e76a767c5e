"""Which addresses a tenant may make the platform call (provider and Dify URLs).

A tenant admin chooses these URLs, and the Dify proxy relays what comes
back, so an unchecked URL would let one read the platform's own network.
Hosts listed in OUTBOUND_ALLOWED_HOSTS (names or networks) are always
allowed; any other host must resolve only to public addresses. Cloud
metadata addresses are refused even when listed.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

METADATA_NETWORKS = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
)


class OutboundRefused(ValueError):
    """The URL points somewhere the platform does not call for a tenant."""


def check_outbound_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundRefused("Use an http:// or https:// address with a host name.")
    if parts.query or parts.fragment or "#" in url or "?" in url:
        # The platform appends API paths to the base URL; a query or a
        # fragment would let the URL aim those calls at any other path.
        raise OutboundRefused("Give the base URL without '?' or '#'.")
    host = parts.hostname
    addresses = _addresses_of(host)
    if any(_is_metadata(address) for address in addresses):
        raise OutboundRefused(f"'{host}' is a link-local (cloud metadata) address.")
    if _listed(host, addresses):
        return
    if not all(address.is_global for address in addresses):
        raise OutboundRefused(
            f"'{host}' is a private or local address; the platform operator can "
            "allow it with OUTBOUND_ALLOWED_HOSTS."
        )


def _addresses_of(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise OutboundRefused(f"'{host}' does not resolve to an address.") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def _is_metadata(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(address in network for network in METADATA_NETWORKS)


def _listed(
    host: str, addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address]
) -> bool:
    for entry in settings.OUTBOUND_ALLOWED_HOSTS:
        if entry.lower() == host.lower():
            return True
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if all(address in network for address in addresses):
            return True
    return False
