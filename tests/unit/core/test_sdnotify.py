"""The sd_notify protocol as systemd receives it: datagrams on the socket named by NOTIFY_SOCKET."""

import asyncio
import itertools
import os
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core import sdnotify


class Listener:
    """The receiving end systemd holds: a datagram socket, read one message at a time."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.address = address

    def receive(self, timeout: float = 2.0) -> str | None:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096).decode()
        except (TimeoutError, BlockingIOError):  # nothing came in time; nothing yet
            return None

    def receive_all(self) -> list[str]:
        messages = []
        while (message := self.receive(timeout=0)) is not None:
            messages.append(message)
        return messages

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Listener]:
    listener = Listener(str(tmp_path / "notify"))
    monkeypatch.setenv("NOTIFY_SOCKET", listener.address)
    yield listener
    listener.close()


def test_a_message_arrives_as_one_datagram_of_lines(systemd: Listener) -> None:
    assert sdnotify.notify("READY=1", "STATUS=serving 2 rooms")
    assert systemd.receive() == "READY=1\nSTATUS=serving 2 rooms"


def test_an_abstract_socket_address_starting_with_at_is_reached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listener = Listener(f"@opsbot-test-{secrets.token_hex(4)}")
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", listener.address)
        assert sdnotify.status("logging in")
        assert listener.receive() == "STATUS=logging in"
    finally:
        listener.close()


def test_without_notify_socket_nothing_is_sent_and_nothing_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify("READY=1") is False


def test_a_socket_that_is_gone_costs_a_status_line_not_the_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert sdnotify.notify("STATUS=still here") is False


def test_the_watchdog_interval_comes_from_watchdog_usec() -> None:
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert sdnotify.watchdog_interval({}) is None


def test_a_watchdog_meant_for_another_process_is_not_ours() -> None:
    mine = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    other = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert sdnotify.watchdog_interval(mine) == 2.0
    assert sdnotify.watchdog_interval(other) is None


async def test_watchdog_pings_arrive_every_half_interval(systemd: Listener) -> None:
    pings = asyncio.ensure_future(sdnotify.watchdog(0.4))
    try:
        arrivals = []
        for _ in range(4):
            message = await asyncio.to_thread(systemd.receive)
            assert message == "WATCHDOG=1"
            arrivals.append(time.monotonic())
    finally:
        pings.cancel()
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert all(0.15 < gap < 0.35 for gap in gaps), gaps


async def test_a_blocked_event_loop_stops_the_pings(systemd: Listener) -> None:
    pings = asyncio.ensure_future(sdnotify.watchdog(0.2))
    try:
        await asyncio.sleep(0.35)  # a few pings while the loop is free
        assert systemd.receive_all().count("WATCHDOG=1") >= 2
        time.sleep(1.0)  # a stuck loop: a blocking call where a coroutine should await
        # The one ping due at once when the loop comes back is the only one of that second.
        await asyncio.sleep(0)
        assert systemd.receive_all().count("WATCHDOG=1") <= 1
    finally:
        pings.cancel()
