"""The one egress policy for outgoing requests that users can aim.

A user chooses the URL of an agent's model server (`model.base_url`) and of an
HTTP MCP server; without a policy the server would connect wherever it is told:
its own loopback services, the cloud metadata address, the private network.
Every such request goes through `EgressPolicy`:

- at create and update time, `literal_problem` refuses a URL whose host is an
  address (or `localhost`) that the policy refuses, so the caller learns at once;
- at every connection, `guarded_transport` resolves the host, checks every
  address it resolves to, and connects to the address it checked, so a DNS
  answer that changes between the check and the connection (rebinding) cannot
  lead elsewhere. Redirects are not followed by these clients; a redirect
  another layer follows opens a new connection, checked the same way.

Requests to endpoints an admin configured (`providers.openai`) are trusted and
do not go through the policy.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import urlsplit

from runwire.server.config import IPNetwork, parse_allowed_destinations
from runwire.server.core.errors import ErrorReasonName

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# NAT64 (RFC 6052) embeds an IPv4 address in the last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class DestinationRefused(Exception):
    """A request would reach an address the egress policy refuses."""

    reason: ErrorReasonName = "DESTINATION_NOT_ALLOWED"

    def __init__(self, host: str, problem: str) -> None:
        super().__init__(f"destination {host!r} is not allowed: {problem}")
        self.host = host
        self.problem = problem


@dataclass(frozen=True)
class EgressRules:
    # Allow loopback, private (RFC 1918, fc00::/7), shared (100.64/10) and link-local addresses.
    allow_private: bool = False
    # Host names (exact, case-insensitive) and networks (CIDR or single address) always allowed.
    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = ()


def address_problem(address: IPAddress, rules: EgressRules) -> str | None:
    """Why the policy refuses `address`, or None when it may be reached."""
    if any(address in network for network in rules.allowed_networks if network.version == address.version):
        return None
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        # An IPv6 form of an IPv4 address is judged as that address.
        problem = address_problem(embedded, rules)
        return f"{problem} (as {address})" if problem else None
    if address.is_unspecified:
        return "it is the unspecified address"
    if address.is_multicast:
        return "it is a multicast address"
    private = _private_kind(address)
    if private is not None:
        return None if rules.allow_private else f"it is a {private} address"
    if address.is_reserved or not address.is_global:
        return "it is a reserved address"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _private_kind(address: IPAddress) -> str | None:
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if isinstance(address, ipaddress.IPv4Address) and address in ipaddress.IPv4Network("100.64.0.0/10"):
        return "shared (carrier-grade NAT)"
    if address.is_private:
        if address.is_reserved:
            return None
        if isinstance(address, ipaddress.IPv6Address) and address not in ipaddress.IPv6Network("fc00::/7"):
            return None  # documentation and other special IPv6 ranges: reserved, not private
        return "private"
    return None


def _is_localhost(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


class EgressPolicy:
    """The rules in force; `configure` replaces them when the configuration changes."""

    def __init__(self, rules: EgressRules | None = None) -> None:
        self.rules = rules or EgressRules()

    def configure(self, allow_private: bool, allowed_destinations: Iterable[str]) -> None:
        hosts, networks = parse_allowed_destinations(allowed_destinations)
        self.rules = EgressRules(allow_private=allow_private, allowed_hosts=hosts, allowed_networks=networks)

    def literal_problem(self, url: str) -> str | None:
        """Why `url` is refused without resolving anything (an address or `localhost` as host), else None."""
        try:
            host = (urlsplit(url).hostname or "").lower().rstrip(".")
        except ValueError:
            return None  # the URL's own checks report it
        if not host or host in self.rules.allowed_hosts:
            return None
        if _is_localhost(host):
            return address_problem(ipaddress.IPv4Address("127.0.0.1"), self.rules) and "it is a loopback host name"
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        return address_problem(address, self.rules)

    async def vetted_addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for `host`, in resolver order: every address it resolves to must be allowed."""
        rules = self.rules
        name = host.lower().rstrip(".")
        try:
            literal: IPAddress | None = ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            problem = address_problem(literal, rules)
            if problem:
                raise DestinationRefused(host, problem)
            return [str(literal)]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            log.info("cannot resolve %r: %s", host, exc.strerror)
            raise OSError(f"cannot resolve {host!r}") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        if not addresses:
            raise OSError(f"cannot resolve {host!r}")
        if name not in rules.allowed_hosts:
            for address in addresses:
                problem = address_problem(address, rules)
                if problem:
                    raise DestinationRefused(host, f"it resolves to {address}, and {problem}")
        return list(dict.fromkeys(str(a) for a in addresses))


class _GuardedBackend:
    """An httpcore network backend that connects only to addresses the policy allows, and to those it checked."""

    def __init__(self, policy: EgressPolicy, inner: Any, connect_error: type[Exception]) -> None:
        self._policy = policy
        self._inner = inner
        # The httpcore flavour's ConnectError, which its httpx maps to a transport error.
        self._connect_error = connect_error

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None, socket_options: Any = None) -> Any:
        # TLS still verifies and sends SNI for `host`: httpcore starts it with the origin's host name.
        try:
            addresses = await self._policy.vetted_addresses(host, port)
        except DestinationRefused:
            raise
        except OSError as exc:
            raise self._connect_error(str(exc)) from None
        for index, address in enumerate(addresses):
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except Exception:
                if index == len(addresses) - 1:
                    raise
        raise self._connect_error(f"cannot connect to {host!r}")  # unreachable: vetted_addresses never returns an empty list

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        raise DestinationRefused("unix socket", "outgoing requests use TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(policy: EgressPolicy, *, httpx_module: Any = None, httpcore_module: Any = None) -> Any:
    """An httpx transport whose every connection goes through `policy`. Environment proxies are not used:
    a proxy would resolve and reach the destination itself, out of the policy's sight.

    `httpx_module`/`httpcore_module` select the httpx flavour (the MCP client uses its own fork)."""
    if httpx_module is None:
        import httpcore
        import httpx

        httpx_module, httpcore_module = httpx, httpcore
    transport = httpx_module.AsyncHTTPTransport(trust_env=False)
    # The transport keeps its request mapping; only the pool under it changes, to one on the guarded backend.
    limits = httpx_module.Limits()
    transport._pool = httpcore_module.AsyncConnectionPool(
        ssl_context=transport._pool._ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=_GuardedBackend(policy, httpcore_module.AnyIOBackend(), httpcore_module.ConnectError),
    )
    return transport


def find_refusal(error: BaseException) -> DestinationRefused | None:
    """The DestinationRefused behind `error`, through causes, contexts and exception groups."""
    seen: set[int] = set()
    stack: list[BaseException] = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, DestinationRefused):
            return current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)
    return None
