"""The state repo, read-only over Git's smart HTTP protocol at /state.git: read with the real
`git` CLI (clone, log, signatures, notes), behind a token; a push, a missing or wrong token and
every path outside the repo are refused, and nothing is written."""

import asyncio
import base64
import logging
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from bot import config
from bot.features.catalog import sections
from bot.state.notes import NOTES, add_note
from bot.state.outcome import HookResult, RunOutcome
from bot.transport.http import HttpListener
from tests.helpers.bot import Bot
from tests.helpers.git import git
from tests.helpers.http import http_listener

TOKEN = "correct-horse-battery-staple"


@pytest.fixture
async def served(bot: Bot, tmp_path: Path) -> AsyncIterator[HttpListener]:
    token_file = tmp_path / "http-token"
    token_file.write_text(TOKEN + "\n")  # as `echo` writes it: the newline is not the token
    host_config = tmp_path / "opsbot.toml"
    host_config.write_text(
        f'[paths]\nrepo = "{bot.paths.repo}"\nstate_dir = "{bot.paths.state_dir}"\n'
        f'[http]\nlisten = "127.0.0.1:0"\ntoken_file = "{token_file}"\n'
    )
    listener = http_listener(bot, config.load(host_config, sections()))
    await listener.start()
    yield listener
    await listener.stop()


def url(listener: HttpListener, password: str | None = TOKEN) -> str:
    credentials = f"opsbot:{password}@" if password is not None else ""
    return f"http://{credentials}127.0.0.1:{listener.port}/state.git"


async def git_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real git, never prompting for a password (a refusal must fail, not wait)."""
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(cwd),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
    }
    return await asyncio.to_thread(
        subprocess.run,
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def basic(password: str) -> dict[str, str]:
    """HTTP basic auth as git sends it from `http://opsbot:<password>@...`."""
    return {"Authorization": "Basic " + base64.b64encode(f"opsbot:{password}".encode()).decode()}


def refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)")


def deployed_with_a_note(bot: Bot) -> str:
    reply = bot.say("!deploy web 1.4.2 to staging --reason 'new login page'")
    assert reply.commit is not None
    result = HookResult("deploy-web", True, 0, 1.5, "pulled web:1.4.2\n", None)
    add_note(
        bot.engine.repo,
        RunOutcome(reply.commit, "web", "staging", "1.4.2", "ok", 1, True, result, bot.clock()),
    )
    return reply.commit


async def test_a_clone_with_the_token_has_the_signed_history_and_the_notes(
    bot: Bot, served: HttpListener, tmp_path: Path
) -> None:
    commit = deployed_with_a_note(bot)

    cloned = await git_cli(tmp_path, "clone", "--bare", url(served), "clone.git")
    assert cloned.returncode == 0, cloned.stderr
    clone = tmp_path / "clone.git"
    assert git(clone, "log", "--format=%H %s", "main") == git(
        bot.repo, "log", "--format=%H %s", "main"
    )
    verified = await git_cli(
        clone,
        "-c",
        "gpg.format=ssh",
        "-c",
        f"gpg.ssh.allowedSignersFile={bot.paths.allowed_signers}",
        "verify-commit",
        commit,
    )
    assert verified.returncode == 0, verified.stderr

    fetched = await git_cli(clone, "fetch", "origin", f"{NOTES.decode()}:{NOTES.decode()}")
    assert fetched.returncode == 0, fetched.stderr
    shown = git(clone, "log", "--notes=opsbot", "-1", commit)
    assert "deploy: web 1.4.2 to staging" in shown
    assert "Notes (opsbot):\n    deploy web 1.4.2 to staging: ok in 1.5s" in shown


async def test_a_bearer_token_works_too(bot: Bot, served: HttpListener, tmp_path: Path) -> None:
    listed = await git_cli(
        tmp_path,
        "-c",
        f"http.extraHeader=Authorization: Bearer {TOKEN}",
        "ls-remote",
        url(served, password=None),
    )
    assert listed.returncode == 0, listed.stderr
    assert f"{bot.head()}\trefs/heads/main" in listed.stdout


@pytest.mark.parametrize("password", [None, "wrong-token", ""])
async def test_without_the_right_token_git_is_refused(
    bot: Bot, served: HttpListener, tmp_path: Path, password: str | None
) -> None:
    cloned = await git_cli(tmp_path, "clone", "--bare", url(served, password), "clone.git")
    assert cloned.returncode != 0
    assert "Authentication failed" in cloned.stderr or "terminal prompts disabled" in cloned.stderr
    assert not (tmp_path / "clone.git" / "refs" / "heads" / "main").exists()

    async with (
        aiohttp.ClientSession(headers=basic(password) if password is not None else None) as http,
        http.get(f"{url(served, None)}/info/refs?service=git-upload-pack") as response,
    ):
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic ")


async def test_a_push_is_refused_and_writes_nothing(
    bot: Bot, served: HttpListener, tmp_path: Path
) -> None:
    cloned = await git_cli(tmp_path, "clone", url(served), "work")
    assert cloned.returncode == 0, cloned.stderr
    work = tmp_path / "work"
    (work / "policy.toml").write_text('[roles.admin]\nmembers = ["@mallory:example.org"]\n')
    git(work, "-c", "user.name=Mallory", "-c", "user.email=m@example.org", "commit", "-qam", "x")
    before = refs(bot.repo)

    pushed = await git_cli(work, "push", "origin", "main")

    assert pushed.returncode != 0
    assert "403" in pushed.stderr
    assert refs(bot.repo) == before
    async with (
        aiohttp.ClientSession(headers=basic(TOKEN)) as http,
        http.post(f"{url(served, None)}/git-receive-pack", data=b"0000") as response,
    ):
        assert response.status == 403
    assert refs(bot.repo) == before


@pytest.mark.parametrize(
    "path",
    [
        "/state.git/HEAD",  # the dumb protocol, which would serve files by their path
        "/state.git/config",
        "/state.git/objects/info/packs",
        "/state.git/opsbot.lock",
        "/state.git/%2e%2e/state.opsbot/signing_key",
        "/state.git/..%2fstate.opsbot%2fsigning_key",
        "/state.git/git-upload-archive",
        "/state.opsbot/signing_key",
    ],
)
async def test_paths_outside_the_protocol_are_not_found(served: HttpListener, path: str) -> None:
    async with aiohttp.ClientSession(headers=basic(TOKEN)) as http:
        target = URL(f"http://127.0.0.1:{served.port}{path}", encoded=True)
        for method in ("GET", "POST"):
            async with http.request(method, target) as response:
                assert response.status == 404, (method, path)


async def test_refusals_are_logged_once_per_kind_not_per_request(
    served: HttpListener, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="opsbot.http")
    async with aiohttp.ClientSession(headers=basic("guess")) as http:
        for _ in range(5):
            async with http.get(
                f"{url(served, None)}/info/refs?service=git-upload-pack"
            ) as response:
                assert response.status == 401
    refused = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert refused == ["refused: wrong token"]
    assert TOKEN not in caplog.text and "guess" not in caplog.text
