"""HttpListener: one aiohttp app on `[http] listen` (127.0.0.1:8088 by default).

    POST <a feature's route>      /alertmanager: the section it names guards it   (routes.py)
    POST /webhooks/<source>       signed JSON from CI and other tools     (webhooks.py)
    GET  /state.git/info/refs     the state repo, read-only, for `git`    (git.py)
    POST /state.git/git-upload-pack
    GET  <a feature's page>       downloads, metrics: the page authenticates   (pages.py)

Wiring (the service does it): `await listener.start()`, `await listener.stop()` on the way
out. What the routes owe (notices, incident rooms) goes to the outbox: nothing here sends.
Secrets are read from their files at start; a missing or empty one stops the start with a
ConfigError naming the key. A feature's route is served only when the host config has the
section the route names: its token (or, by the config's choice, loopback only), its room and
its rate.
"""

import logging
from collections.abc import Callable, Sequence

from aiohttp import web

from bot.config.host import Config
from bot.config.http import loopback
from bot.config.problems import ConfigError
from bot.core.effects import Effect
from bot.core.logs import fact
from bot.engine.http import Page, PayloadReader, Route, RouteSettings
from bot.engine.requests import Requests
from bot.transport.http.auth import read_secret
from bot.transport.http.deliveries import Deliveries
from bot.transport.http.git import StateGit
from bot.transport.http.pages import FeaturePage
from bot.transport.http.refusals import Refusals
from bot.transport.http.routes import FeatureRoute, Guard
from bot.transport.http.webhooks import Hook, Webhooks
from bot.transport.ratelimit import MAX_CLIENTS, Limits

log = logging.getLogger("opsbot.http")

# dulwich reads a whole upload-pack request (the wants and haves of a fetch) with
# request.read(), which this bounds; the webhooks read theirs against [http] max_body_bytes.
GIT_REQUEST_MAX = 16 * 1024 * 1024
DELIVERIES = "webhooks.sqlite"


Owe = Callable[[Sequence[tuple[str, Effect]]], None]


class HttpListener:
    def __init__(
        self,
        config: Config,
        services: Requests,
        routes: Sequence[Route] = (),
        owe: Owe | None = None,
        pages: Sequence[Page] = (),
        readers: Sequence[PayloadReader] = (),
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        if config.http is None:
            raise ConfigError("the HTTP listener needs an [http] section in the host config")
        self.config = config
        self.http = config.http
        self.services = services
        self.routes = routes
        self.pages = pages
        self.readers = readers
        self.owe = owe or services.owe
        self.refusals = Refusals()
        # Per client address, bounded: `len(listener.limits)` is what a flood of them can grow.
        self.limits = Limits(max_clients)
        self.port = self.http.port  # the bound port once started (for port 0)
        self._runner: web.AppRunner | None = None
        self._deliveries: Deliveries | None = None

    @property
    def url(self) -> str:
        host = f"[{self.http.host}]" if ":" in self.http.host else self.http.host
        return f"http://{host}:{self.port}"

    def app(self) -> web.Application:
        """The app, with every route the host config asks for (reads the secret files)."""
        http, config = self.http, self.config
        # Every secret first: a missing one must stop the start before anything is opened.
        guards = {}
        for route in self.routes:
            settings = config.section(route.section)
            if settings is not None:  # a route whose section the host config leaves out is off
                token = self._token(route.section.name, settings)
                guards[route.path] = Guard(
                    token, settings.room, settings.requests_per_minute, http.max_body_bytes
                )
        hooks = {
            w.source: Hook(
                w.source,
                read_secret(w.secret_file, f"[webhooks.{w.source}] secret_file"),
                w.room,
                w.records_versions,
            )
            for w in config.webhooks
        }
        git_token = read_secret(http.token_file, "[http] token_file") if http.token_file else None
        pages = [page for page in self.pages if page.enabled(config)]
        for page in pages:
            for what, file in page.secrets(config):
                read_secret(file, what)  # read again on each request; an empty one stops here

        app = web.Application(client_max_size=GIT_REQUEST_MAX)
        for route in self.routes:
            guard = guards.get(route.path)
            if guard is not None:
                FeatureRoute(route, guard, self.services, self.refusals, self.limits).add_to(app)
        for page in pages:
            FeaturePage(page, self.services, self.refusals, self.limits).add_to(app)
        if hooks:
            config.paths.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._deliveries = Deliveries(config.paths.state_dir / DELIVERIES)
            Webhooks(
                hooks,
                self.owe,
                self._deliveries,
                self.refusals,
                max_body=http.max_body_bytes,
                per_minute=http.webhooks_per_minute,
                limits=self.limits,
                services=self.services,
                readers=self.readers,
            ).add_routes(app)
        if git_token is not None:
            StateGit(config.paths.repo, git_token, self.refusals).add_routes(app)
        return app

    def _token(self, section: str, settings: RouteSettings) -> bytes | None:
        """The token a route's caller must send; None, by the config's choice, on loopback."""
        # bot.config's load refuses both cases below; a Config made another way may not.
        if settings.unauthenticated and not loopback(self.http.host):
            raise ConfigError(
                f"{self.config.source}: [{section}] unauthenticated: "
                "only with a loopback [http] listen"
            )
        if settings.unauthenticated:
            return None
        if settings.token_file is None:
            raise ConfigError(f"{self.config.source}: [{section}] token_file: missing")
        return read_secret(settings.token_file, f"[{section}] token_file")

    async def start(self) -> None:
        """Binds and serves; raises ConfigError (a secret file) or OSError (the address)."""
        try:
            # No access log: one line per request is what a flood must not produce; refusals
            # and what each route did are logged as facts.
            self._runner = web.AppRunner(self.app(), access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.http.host, self.http.port)
            await site.start()
        except BaseException:
            await self.stop()
            raise
        self.port = int(self._runner.addresses[0][1])
        served = [r.path for r in self.routes if self.config.section(r.section) is not None]
        fact(
            log,
            "listening",
            url=self.url,
            state_git=self.http.token_file is not None,
            routes=",".join(served) or None,
            webhooks=",".join(w.source for w in self.config.webhooks) or None,
        )

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._deliveries is not None:
            self._deliveries.close()
            self._deliveries = None
