"""The HTTP listener: Alertmanager's webhook, signed webhooks from CI and other tools, and the
state repo served read-only over Git's smart HTTP protocol. One aiohttp app, bound to
127.0.0.1 by default (`[http] listen`); see `listener.py`."""

from bot.transport.http.listener import HttpListener

__all__ = ["HttpListener"]
