"""Structured logs: one line per fact, `key=value` for journald or JSON for other collectors.

Callers log facts with fields (`fact(log, "committed", room=..., event=..., commit=...)`); never a
secret, never a decrypted message body beyond the command itself.

Many fields come from outside (a sender, a device id, a homeserver's error, a file name), so the
formatters escape every value, the message and the traceback (bot/core/text.py): no log line carries
a control character, and none can start a second, forged line in the journal.
"""

import json
import logging
from typing import Any

from bot.core.text import escaped


def fact(logger: logging.Logger, what: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, what, extra={"fields": {k: v for k, v in fields.items() if v is not None}})


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        parts = [f"level={record.levelname.lower()}", f"msg={_quote(record.getMessage())}"]
        parts += [f"{_quote(str(key))}={_quote(str(value))}" for key, value in fields.items()]
        line = " ".join(parts)
        if record.exc_info:
            # Indented, so that no line of it (an exception's message may be outside text)
            # reads as a fact of its own.
            trace = escaped(self.formatException(record.exc_info), lines=True)
            line += "".join(f"\n  {part}" for part in trace.splitlines())
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {"level": record.levelname.lower()}
        data["msg"] = escaped(record.getMessage())
        data.update(_escaped_json(getattr(record, "fields", {})))
        if record.exc_info:
            data["traceback"] = escaped(self.formatException(record.exc_info), lines=True)
        return json.dumps(data)


def _escaped_json(value: Any) -> Any:
    """`value` with every string in it escaped, numbers and structure kept."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {escaped(str(k)): _escaped_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped_json(v) for v in value]
    return escaped(str(value))


def _quote(value: str) -> str:
    value = escaped(value)
    if value and not any(c in value for c in ' "='):
        return value
    return json.dumps(value, ensure_ascii=False)


def setup(fmt: str = "logfmt", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # nio narrates every event it handles at INFO; its warnings and errors are what matter here.
    logging.getLogger("nio").setLevel(logging.WARNING)
    # Except its "Timed out, sleeping for 0s" on each retry of a request: the sync loop logs an
    # outage once, with what it does about it, and a failed login says why in one line.
    logging.getLogger("nio.client.async_client").addFilter(_not_a_retry)


def _not_a_retry(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Timed out, sleeping for")
