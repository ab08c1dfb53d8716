"""The state repo, read-only, over Git's smart HTTP protocol at /state.git.

    git clone http://opsbot:<token>@127.0.0.1:8088/state.git
    git fetch origin 'refs/notes/*:refs/notes/*'      # the reconciler's notes

Only `git-upload-pack` (clone, fetch) is served, by dulwich's own aiohttp handlers; a push
(`git-receive-pack`) is refused with 403: the repo changes only through commands, one signed
commit each. The dumb protocol is not served, so no file of the repo's directory is reachable
by its path: every other path is 404. Every request needs the token of `[http] token_file`;
without one the answer is 401 with a Basic challenge, which is what makes `git` send the
password from the URL.
"""

import asyncio
import logging
from pathlib import Path

from aiohttp import web
from dulwich.aiohttp.server import refs_request, service_request
from dulwich.repo import Repo
from dulwich.server import UploadPackHandler

from bot.transport.http.auth import matches, presented
from bot.transport.http.refusals import Refusals

PREFIX = "/state.git"
READ_ONLY = {b"git-upload-pack": UploadPackHandler}
CHALLENGE = {"WWW-Authenticate": 'Basic realm="opsbot state repository"'}
SOURCE = "state.git"


class StateGit:
    def __init__(self, repo: Path, token: bytes, refusals: Refusals) -> None:
        self.repo = repo
        self.token = token
        self.refusals = refusals

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(f"{PREFIX}/info/refs", self.info_refs)
        app.router.add_post(f"{PREFIX}/{{service:git-upload-pack|git-receive-pack}}", self.rpc)

    async def info_refs(self, request: web.Request) -> web.StreamResponse:
        refused = self._refused(request, request.query.get("service"))
        if refused is not None:
            return refused
        repo = await asyncio.to_thread(Repo, str(self.repo))
        try:
            return await refs_request(repo, request, dict(READ_ONLY))
        finally:
            repo.close()

    async def rpc(self, request: web.Request) -> web.StreamResponse:
        refused = self._refused(request, request.match_info["service"])
        if refused is not None:
            return refused
        # A Repo of its own per request: dulwich's Repo is not shared across threads here,
        # and the engine's writes go on beside it (a ref read is a file read).
        repo = await asyncio.to_thread(Repo, str(self.repo))
        try:
            return await service_request(repo, request, dict(READ_ONLY))
        finally:
            repo.close()

    def _refused(self, request: web.Request, service: str | None) -> web.Response | None:
        given = presented(request)
        if given is None:
            # Git asks without credentials first, every time: this is the handshake, not news.
            return self.refusals.refuse(
                401, "no token", SOURCE, level=logging.INFO, headers=CHALLENGE
            )
        if not matches(given, self.token):
            return self.refusals.refuse(
                401, "wrong token", SOURCE, headers=CHALLENGE, peer=request.remote
            )
        if service == "git-receive-pack":
            return self.refusals.refuse(403, "push refused: the repo is read-only here", SOURCE)
        if service != "git-upload-pack":
            return self.refusals.refuse(403, "only git's smart HTTP protocol is served", SOURCE)
        return None
