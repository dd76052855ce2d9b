"""The egress policy's address rules, and that a connection goes to the address that was checked."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import httpcore
import httpx
import pytest

from runwire.server.engine.egress import (
    DestinationRefused,
    EgressPolicy,
    EgressRules,
    address_problem,
    guarded_transport,
)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.8.9.10", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "224.0.0.251", "240.0.0.1", "255.255.255.255",
        "::1", "::", "fd12:3456::1", "fe80::1", "ff02::1",
        "::ffff:127.0.0.1", "::ffff:169.254.169.254", "2002:a00:1::1", "64:ff9b::7f00:1",
    ],
)
def test_non_public_addresses_are_refused_by_default(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address), EgressRules()) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address), EgressRules()) is None


def test_allow_private_admits_private_ranges_but_not_unspecified_or_multicast() -> None:
    rules = EgressRules(allow_private=True)
    assert address_problem(ipaddress.ip_address("10.1.2.3"), rules) is None
    assert address_problem(ipaddress.ip_address("169.254.169.254"), rules) is None
    assert address_problem(ipaddress.ip_address("0.0.0.0"), rules) is not None
    assert address_problem(ipaddress.ip_address("224.0.0.1"), rules) is not None
    listed = EgressPolicy()
    listed.configure(False, ["0.0.0.0/32"])
    assert address_problem(ipaddress.ip_address("0.0.0.0"), listed.rules) is None


class _RecordingBackend:
    def __init__(self) -> None:
        self.hosts: list[str] = []

    async def connect_tcp(self, host: str, port: int, **_: Any) -> Any:
        self.hosts.append(host)
        raise httpcore.ConnectError("recorded")


async def test_the_connection_goes_to_the_vetted_address_not_to_a_second_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["93.184.216.34", "127.0.0.1"])  # a rebinding resolver: public first, loopback afterwards
    loop = asyncio.get_running_loop()

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    transport = guarded_transport(EgressPolicy())
    recorder = _RecordingBackend()
    transport._pool._network_backend._inner = recorder
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://rebinding.example/")
        assert recorder.hosts == ["93.184.216.34"]
        # The second lookup answers loopback: refused before any connection.
        with pytest.raises(DestinationRefused):
            await client.get("http://rebinding.example/")
    assert recorder.hosts == ["93.184.216.34"]
