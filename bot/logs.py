"""Structured logs: one line per fact, `key=value` for journald or JSON for other collectors.

Callers log facts with fields (`fact(log, "committed", room=..., event=..., commit=...)`); never a
secret, never a decrypted message body beyond the command itself.
"""

import json
import logging
from typing import Any


def fact(logger: logging.Logger, what: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, what, extra={"fields": {k: v for k, v in fields.items() if v is not None}})


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        parts = [f"level={record.levelname.lower()}", f"msg={_quote(record.getMessage())}"]
        parts += [f"{key}={_quote(str(value))}" for key, value in fields.items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {"level": record.levelname.lower(), "msg": record.getMessage()}
        data.update(getattr(record, "fields", {}))
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def _quote(value: str) -> str:
    if value and not any(c in value for c in ' "=\n\t'):
        return value
    return json.dumps(value)


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
