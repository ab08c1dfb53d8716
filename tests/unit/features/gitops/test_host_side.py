"""The host's side of apps a GitOps engine applies: the reconciler runs no deploy hook for them,
their observe hook tells `!status` what the engine applied and what runs, and a mirror carries
the rendered tree to where the engine reads it."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.service.mirror import Mirrors
from tests.helpers.bot import Bot
from tests.helpers.git import bare, git, tip
from tests.helpers.gitops import IMAGE, build, checkout, declare, images
from tests.helpers.host import Host
from tests.helpers.mirror import Announcements, running
from tests.helpers.waiting import eventually


@pytest.fixture
def host(bot: Bot, tmp_path: Path) -> Iterator[Host]:
    made = Host(declare(bot), tmp_path)
    yield made
    made.close()


def observe(host: Host, *lines: str) -> None:
    """web's observe hook, printing `lines` as `kubectl`, `flux` or `argocd` would tell it."""
    printed = "".join(f'echo "{line}"\n' for line in lines)
    host.hook("observe-web", printed)
    text = host.bot.show("apps/web.toml").replace(
        'description = "Public web front end"\n',
        'description = "Public web front end"\nobserve = "observe-web"\n',
    )
    host.bot.edit("apps/web.toml", text)


async def test_the_reconciler_runs_no_hook_for_an_app_the_engine_applies(host: Host) -> None:
    host.hook("deploy-web")  # there, but web does not name it
    reconciler = host.reconciler()
    commit = host.deploy("web", "1.4.2", "staging")
    assert await reconciler.reconcile_once() == []
    assert host.called() == []
    assert git(host.bot.repo, "notes", "--ref=opsbot", "list", commit, check=False) == ""


async def test_a_deploy_reply_says_the_engine_applies_it_not_deploying(host: Host) -> None:
    reconciler = host.reconciler()
    reply = host.with_runtime(reconciler).say("!deploy web 1.4.2 to staging")
    assert reply.ok
    assert "deploying" not in reply.text
    assert reply.text.endswith(
        "for the GitOps engine: deploy/staging/web/kustomization.yaml · commit "
        f"{reply.commit[:7] if reply.commit else ''}"
    )


async def test_status_shows_what_the_engine_applied_and_what_runs(host: Host) -> None:
    observe(host, "1.4.1", "1.4.2")  # the pods still run 1.4.1; the engine applied 1.4.2
    reconciler = host.reconciler()
    host.deploy("web", "1.4.2", "staging")
    await reconciler.reconcile_once()
    await reconciler.refresh_health()  # what `run` does after each pass
    text = host.with_runtime(reconciler).say("!status staging").text
    assert "  web 1.4.2 (by @alice:example.org, just now) · applied, running 1.4.1, drift" in text


async def test_status_reports_drift_when_the_engine_has_not_applied_it(host: Host) -> None:
    observe(host, "1.4.1")  # one line: what runs is what the engine applied
    reconciler = host.reconciler()
    host.deploy("web", "1.4.2", "staging")
    await reconciler.refresh_health()
    assert reconciler.applied()[("staging", "web")].version == "1.4.1"
    text = host.with_runtime(reconciler).say("!status staging").text
    assert (
        "  web 1.4.2 (by @alice:example.org, just now) · applied 1.4.1, running 1.4.1, "
        "drift" in text
    )


async def test_status_says_when_it_knows_nothing_of_the_engine(host: Host) -> None:
    reconciler = host.reconciler()
    host.deploy("web", "1.4.2", "staging")
    await reconciler.refresh_health()
    text = host.with_runtime(reconciler).say("!status staging").text
    assert (
        "  web 1.4.2 (by @alice:example.org, just now) · rendered for the GitOps engine, "
        "not observed" in text
    )


async def test_a_mirror_delivers_the_rendered_tree_that_a_clone_builds(
    host: Host, tmp_path: Path
) -> None:
    bot = host.bot
    watched = bare(tmp_path / "gitops.git")  # where Argo CD or Flux would watch
    mirrors = Mirrors(bot.engine.repo, [str(watched)], Announcements().announce, poll=60)
    async with running(mirrors):
        reply = bot.say("!deploy web 1.4.2 to staging")
        assert reply.commit is not None
        mirrors.trigger()
        await eventually(lambda: tip(watched) == reply.commit, "the deploy")
    tree = await asyncio.to_thread(checkout, watched, tmp_path / "engine")
    assert (tree / "deploy/staging/web/kustomization.yaml").read_text() == bot.show(
        "deploy/staging/web/kustomization.yaml"
    )
    assert images(build(tree / "deploy/staging/web")) == [f"{IMAGE}:1.4.2"]


def test_git_reads_one_commit_with_the_deployment_and_the_rendered_file(bot: Bot) -> None:
    declare(bot)
    assert bot.say("!deploy web 1.4.2 to staging --reason 'new login page'").ok
    stat = git(bot.repo, "show", "--format=%an%n%s", "--stat=200", "main")
    assert stat.startswith("Alice\ndeploy: web 1.4.2 to staging\n")
    assert " deploy/staging/web/kustomization.yaml | 2 +-" in stat
    assert " deployments/staging/web.toml" in stat
    assert "2 files changed" in stat
    patch = git(bot.repo, "show", "--format=", "main", "--", "deploy/")
    assert "-  newTag: 0.9.0\n+  newTag: 1.4.2\n" in patch
    assert git(bot.repo, "log", "--format=%h", "--", "deploy/staging/web/kustomization.yaml")
    git(bot.repo, "verify-commit", "main")
