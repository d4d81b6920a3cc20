"""Which URLs the twin may call on a user's behalf: notification and context-source endpoints.

Anyone who may create a subscription or a registration chooses a URL the twin will call, so
an endpoint that resolves to a loopback, private, link-local or otherwise non-public address is
refused unless the operator allow-lists it (`notification_allowlist`: host names, addresses or
networks). The check runs when the endpoint is given and again before every call, since DNS
answers change; HTTP calls then go to the address that was checked (the URL's host stays in
the Host header and in TLS SNI), so a second lookup cannot swap it for another.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from civictwin.errors import BadRequestData

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class EndpointRefused(BadRequestData):
    """An endpoint URL the twin will not call."""


@dataclass(frozen=True)
class Pinned:
    """An HTTP request aimed at a checked address: URL with the address, Host, TLS name."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, Any]


@dataclass(frozen=True)
class OutboundPolicy:
    """Hosts, addresses and networks allowed although they are not public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = field(default=())

    @classmethod
    def of(cls, allowlist: Iterable[str]) -> OutboundPolicy:
        """Build the policy from allow-list entries (host names, IP addresses, CIDR networks)."""
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in (e.strip().lower() for e in allowlist):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry)
        return cls(frozenset(hosts), tuple(networks))

    def admit(self, uri: str, where: str) -> None:
        """Refuse an endpoint given in a request (EndpointRefused); unknown names pass for now."""
        host = _host(uri, where)
        if host in self.hosts:
            return
        try:
            self.addresses(uri, where)
        except _Unresolved:
            return  # checked again, and refused if still unknown, before every call

    def addresses(self, uri: str, where: str = "endpoint") -> list[Address]:
        """Return the addresses the endpoint may be called at; raise EndpointRefused if none."""
        host = _host(uri, where)
        found = _resolve(host)
        if host in self.hosts:
            return found
        for address in found:
            if not address.is_global and not any(address in n for n in self.networks):
                raise EndpointRefused(
                    f"{where} {uri!r}: {host} is {_kind(address)} address {address}; the twin "
                    "only calls public addresses unless notification_allowlist names the host")
        return found

    def pin(self, uri: str, where: str = "endpoint") -> Pinned:
        """Return the HTTP request for `uri` aimed at its checked address."""
        # IPv4 first: a host with both often has no IPv6 route, and one address is all we try.
        address = min(self.addresses(uri, where), key=lambda a: a.version)
        parts = urlsplit(uri)
        literal = f"[{address}]" if address.version == 6 else str(address)
        netloc = literal + (f":{parts.port}" if parts.port else "")
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        host_header = parts.netloc.rsplit("@", 1)[-1]
        extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
        return Pinned(url, {"Host": host_header}, extensions)


class _Unresolved(EndpointRefused):
    pass


def _host(uri: str, where: str) -> str:
    host = urlsplit(uri).hostname
    if not host:
        raise EndpointRefused(f"{where} {uri!r} has no host")
    return host.lower()


def _resolve(host: str) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise _Unresolved(f"cannot resolve {host}: {exc}") from None
    found: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise _Unresolved(f"cannot resolve {host}")
    return found


def _kind(address: Address) -> str:
    if address.is_loopback:
        return "a loopback"
    if address.is_link_local:
        return "a link-local"
    if address.is_private:
        return "a private"
    return "a non-public"
