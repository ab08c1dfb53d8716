"""[alerts]: `POST /alertmanager` is served only when the host config has this section, which
guards it: the bearer token Alertmanager must send, how often it may, and the room alerts go to.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config.http import HttpConfig, loopback
from bot.config.problems import Get, Problem
from bot.config.section import ConfigSection
from bot.core.ids import ROOM_ID

KEYS = frozenset({"room", "token_file", "unauthenticated", "requests_per_minute"})


@dataclass(frozen=True)
class AlertsConfig:
    room: str | None = None  # None: the announcement rooms of policy.toml
    token_file: Path | None = None  # bearer token Alertmanager must send (http_config)
    # No token, by choice: only with a loopback [http] listen, where only this host can send.
    unauthenticated: bool = False
    requests_per_minute: int = 20  # per client address, in bursts of half that


def _parse(
    table: dict[str, Any], problem: Problem, get: Get, http: HttpConfig | None
) -> AlertsConfig:
    room = get("alerts", "room")
    if room and not ROOM_ID.fullmatch(room):
        problem("alerts", "room", f"{room!r} is not a Matrix room id like !abc:example.org")
    token = get("alerts", "token_file")
    unauthenticated = table.get("unauthenticated", False)
    if not isinstance(unauthenticated, bool):
        problem("alerts", "unauthenticated", "must be true or false")
        unauthenticated = False
    if token and unauthenticated:
        problem("alerts", "unauthenticated", "true, but token_file is set too: choose one")
    elif not token and not unauthenticated:
        # Alerts open incidents and page people: anyone who can reach the port must not.
        problem(
            "alerts",
            "token_file",
            "missing: the bearer token Alertmanager must send (or "
            "unauthenticated = true, with a loopback [http] listen)",
        )
    elif unauthenticated and http is not None and not loopback(http.host):
        problem(
            "alerts",
            "unauthenticated",
            f"true, but [http] listen is on {http.host}, not a "
            "loopback address like 127.0.0.1: set token_file",
        )
    rate = table.get("requests_per_minute", AlertsConfig.requests_per_minute)
    if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
        problem("alerts", "requests_per_minute", "must be a whole number >= 1")
        rate = AlertsConfig.requests_per_minute
    if http is None:
        problem("alerts", None, "needs an [http] section to listen on")
    return AlertsConfig(room, Path(token) if token else None, unauthenticated, rate)


ALERTS: ConfigSection[AlertsConfig | None] = ConfigSection("alerts", KEYS, _parse, default=None)
