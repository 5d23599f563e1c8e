"""The request's client address, carried to services without threading it through calls."""

from __future__ import annotations

import ipaddress
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from django.conf import settings

current_ip_address: ContextVar[str | None] = ContextVar("current_ip_address", default=None)
current_path: ContextVar[str] = ContextVar("current_path", default="")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=8)
def _networks(
    proxies: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _address(text: str) -> IPAddress | None:
    """A parsed address (an IPv4-mapped IPv6 address as its IPv4 one), or None."""
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "198.51.100.7:443"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted_proxy(address: IPAddress | None) -> bool:
    if address is None:
        return False
    networks = _networks(tuple(settings.KETACLINIC_TRUSTED_PROXIES))
    return any(address.version == network.version and address in network for network in networks)


def client_address(request: Any) -> str:
    """The visitor's network address.

    The connection's address (REMOTE_ADDR), unless the connection comes from one of
    KETACLINIC_TRUSTED_PROXIES and KETACLINIC_CLIENT_ADDRESS_HEADER (e.g. X-Forwarded-For)
    is set: then the header is read from its end, skipping our own proxies, and the first
    address that is not one of them is the visitor's. Whatever a visitor writes into the
    header themselves sits before that and is never believed; from anyone but a trusted
    proxy the header is ignored altogether."""
    remote = str(request.META.get("REMOTE_ADDR") or "")
    header = settings.KETACLINIC_CLIENT_ADDRESS_HEADER
    hop = _address(remote)
    if not header or not is_trusted_proxy(hop):
        return str(hop) if hop is not None else remote
    forwarded = str(request.META.get("HTTP_" + header.upper().replace("-", "_"), ""))
    for entry in reversed([part for part in forwarded.split(",") if part.strip()]):
        address = _address(entry)
        if address is None:  # not an address: what came before it cannot be trusted
            break
        hop = address
        if not is_trusted_proxy(address):
            break
    return str(hop) if hop is not None else remote


def address_network(address: str) -> str:
    """The unit a rate limit counts: the address itself for IPv4, its /64 network for IPv6
    (one household or device is usually given a whole /64)."""
    parsed = _address(address)
    if parsed is None:
        return address.strip()
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)
