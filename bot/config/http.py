"""[http]: the HTTP listener that serves the features' routes and pages, the signed webhooks
and the state repo read-only. Without this section nothing listens."""

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config.problems import Get, Problem

DEFAULT_LISTEN = "127.0.0.1:8088"
HTTP_KEYS = frozenset({"listen", "token_file", "max_body_bytes", "webhooks_per_minute"})


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 8088  # 0: any free port (tests)
    token_file: Path | None = None  # without it, /state.git is not served
    max_body_bytes: int = 1024 * 1024
    webhooks_per_minute: int = 60  # per source and client address


def parse_http(data: dict[str, Any], problem: Problem, get: Get) -> HttpConfig | None:
    if not isinstance(data.get("http"), dict):
        return None
    table = data["http"]
    host, port = HttpConfig.host, HttpConfig.port
    listen = get("http", "listen") or DEFAULT_LISTEN
    parsed = _host_port(listen)
    if parsed is None:
        problem("http", "listen", f"{listen!r} is not host:port, like {DEFAULT_LISTEN!r}")
    else:
        host, port = parsed
    token = get("http", "token_file")
    numbers = {}
    for key, default, least in (
        ("max_body_bytes", HttpConfig.max_body_bytes, 1024),
        ("webhooks_per_minute", HttpConfig.webhooks_per_minute, 1),
    ):
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            problem("http", key, f"must be a whole number >= {least}")
            value = default
        numbers[key] = value
    return HttpConfig(
        host=host,
        port=port,
        token_file=Path(token) if token else None,
        max_body_bytes=numbers["max_body_bytes"],
        webhooks_per_minute=numbers["webhooks_per_minute"],
    )


def loopback(host: str) -> bool:
    """True for an address only this host can reach (an address, not a name that may resolve
    to something else)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_port(listen: str) -> tuple[str, int] | None:
    host, colon, port = listen.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # [::1]:8088
    if not colon or not host or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not re.fullmatch(r"[A-Za-z0-9.-]+", host):
            return None
    return host, int(port)
