"""Apps a GitOps engine applies: every command that changes a desired version writes the engine's
file in the same signed commit, keeps what a person wrote in it, and a real Kustomize builds the
result with the desired tag."""

from pathlib import Path

import pytest

from tests.helpers.bot import BOB, CAROL, Bot
from tests.helpers.cli import opsbot
from tests.helpers.git import git
from tests.helpers.gitops import (
    IMAGE,
    OVERLAY,
    WEB,
    build,
    checkout,
    commit_files,
    declare,
    images,
    modern_kustomize,
    show,
)
from tests.helpers.policies import APPROVERS_POLICY


@pytest.fixture
def gitops(bot: Bot) -> Bot:
    return declare(bot)


def changed(bot: Bot, rev: str = "main") -> list[str]:
    """The files one commit changed, as `git show` lists them."""
    return git(bot.repo, "show", "--format=", "--name-only", rev).split()


def test_a_deploy_writes_the_deployment_and_the_overlay_in_one_signed_commit(gitops: Bot) -> None:
    reply = gitops.say("!deploy web 1.4.2 to dev --reason 'new login page'")
    assert reply.ok, reply.text
    assert "for the GitOps engine: deploy/dev/web/kustomization.yaml" in reply.text
    assert changed(gitops) == ["deploy/dev/web/kustomization.yaml", "deployments/dev/web.toml"]
    git(gitops.repo, "verify-commit", "main")
    git(gitops.repo, "fsck", "--full")
    assert git(gitops.repo, "log", "-1", "--format=%s") == "deploy: web 1.4.2 to dev\n"


def test_a_new_overlay_builds_on_the_declared_base(gitops: Bot, tmp_path: Path) -> None:
    gitops.say("!deploy web 1.4.2 to dev")
    overlay = show(gitops, "deploy/dev/web/kustomization.yaml")
    assert overlay.startswith("# Rendered by opsbot from deployments/dev/web.toml")
    assert "resources:\n- ../../base/web\n" in overlay
    assert f"images:\n- name: {IMAGE}\n  newTag: 1.4.2\n" in overlay
    modern_kustomize()
    tree = checkout(gitops.repo, tmp_path / "clone")
    assert images(build(tree / "deploy/dev/web")) == [f"{IMAGE}:1.4.2"]


def test_kustomize_builds_the_desired_tag_after_deploy_rollback_and_promote(
    gitops: Bot, tmp_path: Path
) -> None:
    built: list[list[str]] = []

    def staging_and_prod() -> None:
        tree = checkout(gitops.repo, tmp_path / f"clone{len(built)}")
        built.append(
            images(build(tree / "deploy/staging/web")) + images(build(tree / "deploy/prod/web"))
        )

    assert gitops.say("!deploy web 1.4.1 to staging").ok
    assert gitops.say("!deploy web 1.4.2 to staging").ok
    staging_and_prod()
    assert gitops.say("!rollback web in staging").ok
    staging_and_prod()
    assert gitops.say("!promote web from staging to prod").ok
    staging_and_prod()
    assert built == [
        [f"{IMAGE}:1.4.2", f"{IMAGE}:0.9.0"],
        [f"{IMAGE}:1.4.1", f"{IMAGE}:0.9.0"],
        [f"{IMAGE}:1.4.1", f"{IMAGE}:1.4.1"],
    ]


def test_a_persons_overlay_keeps_its_comments_patches_and_layout(
    gitops: Bot, tmp_path: Path
) -> None:
    assert gitops.say("!deploy web 1.5.0 to prod").ok
    assert show(gitops, "deploy/prod/web/kustomization.yaml") == OVERLAY.replace(
        'newTag: "0.9.0"', 'newTag: "1.5.0"'
    )
    manifests = build(checkout(gitops.repo, tmp_path / "clone") / "deploy/prod/web")
    assert images(manifests) == [f"{IMAGE}:1.5.0"]
    assert "replicas: 3" in manifests


def test_a_version_that_reads_as_a_number_stays_a_string_tag(gitops: Bot, tmp_path: Path) -> None:
    assert gitops.say("!deploy web 1.10 to staging").ok
    assert "newTag: '1.10'" in show(gitops, "deploy/staging/web/kustomization.yaml")
    tree = checkout(gitops.repo, tmp_path / "clone")
    assert images(build(tree / "deploy/staging/web")) == [f"{IMAGE}:1.10"]


HELM_VALUES = """# Values for api in prod. Reviewed by the platform team.
replicaCount: 3     # three, for the load

image:
  repository: registry.example.org/shop/api
  # opsbot writes the tag; keep pullPolicy as it is
  tag: "2.0.0"
  pullPolicy: IfNotPresent

resources:
  limits: {cpu: 500m, memory: 256Mi}
"""


def test_a_helm_values_file_round_trips_with_its_comments(gitops: Bot) -> None:
    commit_files(gitops, {"deploy/prod/api/values.yaml": HELM_VALUES})
    assert gitops.say("!deploy api 2.1.0 to prod").ok
    assert show(gitops, "deploy/prod/api/values.yaml") == HELM_VALUES.replace(
        'tag: "2.0.0"', 'tag: "2.1.0"'
    )
    assert changed(gitops) == ["deploy/prod/api/values.yaml", "deployments/prod/api.toml"]


def test_a_new_helm_values_file_holds_the_tag_and_the_image(gitops: Bot) -> None:
    assert gitops.say("!deploy api 2.1.0 to dev").ok
    values = show(gitops, "deploy/dev/api/values.yaml")
    assert values.startswith("# Rendered by opsbot from deployments/dev/api.toml")
    assert "image:\n  tag: 2.1.0\n  repository: registry.example.org/shop/api\n" in values


def test_an_approved_proposal_merges_with_the_overlay_rendered_from_main(gitops: Bot) -> None:
    gitops.edit("policy.toml", APPROVERS_POLICY)
    gitops.edit("environments/prod.toml", "order = 3\napprovals = 1\n")
    assert gitops.say("!deploy web 2.0.0 to prod", sender=BOB).ok
    assert 'newTag: "2.0.0"' in show(gitops, "deploy/prod/web/kustomization.yaml", "proposals/1")
    assert 'newTag: "0.9.0"' in show(gitops, "deploy/prod/web/kustomization.yaml")
    # Meanwhile someone adds a label on main; the approval keeps it.
    edited = OVERLAY + "commonLabels:\n  team: shop\n"
    gitops.edit("deploy/prod/web/kustomization.yaml", edited)
    reply = gitops.say("!approve 1", sender=CAROL)
    assert reply.ok, reply.text
    assert show(gitops, "deploy/prod/web/kustomization.yaml") == edited.replace(
        'newTag: "0.9.0"', 'newTag: "2.0.0"'
    )
    assert "deploy/prod/web/kustomization.yaml" in changed(gitops)
    git(gitops.repo, "verify-commit", "main")


def test_an_overlay_that_is_not_yaml_refuses_the_deploy_and_writes_nothing(gitops: Bot) -> None:
    gitops.edit("deploy/prod/web/kustomization.yaml", "images: [unclosed\n")
    head = gitops.head()
    reply = gitops.say("!deploy web 1.5.0 to prod")
    assert not reply.ok
    assert "deploy/prod/web/kustomization.yaml: not valid YAML" in reply.text
    assert "fix deploy/prod/web/kustomization.yaml" in reply.text
    assert gitops.head() == head


def test_a_version_that_cannot_be_an_image_tag_is_refused(gitops: Bot) -> None:
    head = gitops.head()
    reply = gitops.say("!deploy web 1.4.2+build.7 to staging")
    assert not reply.ok
    assert "'1.4.2+build.7' cannot be an image tag" in reply.text
    assert gitops.head() == head


def test_opsbot_check_names_a_rendered_file_a_person_changed_against_the_toml(
    gitops: Bot,
) -> None:
    assert gitops.say("!deploy web 1.4.2 to staging").ok
    assert gitops.say("!deploy api 2.1.0 to dev").ok
    assert opsbot("check", "--repo", str(gitops.repo)).stdout.strip() == "ok"
    overlay = show(gitops, "deploy/staging/web/kustomization.yaml")
    gitops.edit("deploy/staging/web/kustomization.yaml", overlay.replace("1.4.2", "1.3.0"))
    gitops.edit("deploy/dev/api/values.yaml", "image:\n  tag: latest\n")
    result = opsbot("check", "--repo", str(gitops.repo))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert (
        f"{gitops.repo}: deploy/staging/web/kustomization.yaml: images: newTag of {IMAGE} is "
        "'1.3.0', but deployments/staging/web.toml wants 1.4.2"
    ) in lines
    assert (
        f"{gitops.repo}: deploy/dev/api/values.yaml: image.tag: is 'latest', but "
        "deployments/dev/api.toml wants 2.1.0"
    ) in lines
    assert (
        f"{gitops.repo}: deploy/dev/api/values.yaml: image.repository: is None, but "
        "apps/api.toml declares image registry.example.org/shop/api"
    ) in lines


def test_opsbot_check_names_a_missing_rendered_file(gitops: Bot) -> None:
    assert gitops.say("!deploy web 1.4.2 to dev").ok
    gitops.edit("deploy/dev/web/kustomization.yaml", None)
    result = opsbot("check", "--repo", str(gitops.repo))
    assert result.returncode == 1
    assert (
        "deploy/dev/web/kustomization.yaml: missing, but deployments/dev/web.toml "
        "wants 1.4.2; the next deploy writes it" in result.stdout
    )


BAD_DECLARATIONS = [
    ('engine = "argo"', "gitops.engine", 'must be "kustomize" or "helm"'),
    ('engine = "kustomize"\nbase = "deploy/base/web"', "gitops.image", "missing"),
    (
        f'engine = "kustomize"\nimage = "{IMAGE}:1.0"\nbase = "b"',
        "gitops.image",
        "must be an image name without a tag",
    ),
    (
        f'engine = "kustomize"\nimage = "{IMAGE}"\nbase = "../outside"',
        "gitops.base",
        "must be a relative path inside the repo",
    ),
    (
        f'engine = "kustomize"\nimage = "{IMAGE}"\nbase = "/etc/opsbot"',
        "gitops.base",
        "must be a relative path inside the repo",
    ),
    (
        f'engine = "kustomize"\nimage = "{IMAGE}"\nbase = "deploy/base"\npaths = {{ prod = '
        '"deploy/../policy.toml" }',
        "gitops.paths.prod",
        "must be a relative path inside",
    ),
    (
        f'engine = "kustomize"\nimage = "{IMAGE}"\nbase = "deploy/base"\npaths = {{ prod = '
        '"deploy/prod/web/values.yaml" }',
        "gitops.paths.prod",
        "kustomization.yaml",
    ),
    (
        'engine = "helm"\npaths = { prod = "deployments/prod/x.yaml" }',
        "gitops.paths.prod",
        "inside deployments/, where opsbot keeps its own records",
    ),
    (
        'engine = "helm"\npaths = { prod = ".git/config.yaml" }',
        "gitops.paths.prod",
        "must be a relative path inside",
    ),
    ('engine = "helm"\nbase = "deploy/base"', "gitops.base", "is only for engine = 'kustomize'"),
    ('engine = "helm"\ntag_key = "image..tag"', "gitops.tag_key", "must be dotted keys"),
    ('engine = "helm"\nimages = "x"', "gitops.images", "unknown key"),
]


@pytest.mark.parametrize(("table", "key", "problem"), BAD_DECLARATIONS)
def test_a_bad_declaration_is_refused_naming_the_file_and_the_key(
    bot: Bot, table: str, key: str, problem: str
) -> None:
    bot.edit("apps/web.toml", f"[gitops]\n{table}\n")
    reply = bot.say("!deploy web 1.4.2 to staging")
    assert not reply.ok
    assert f"apps/web.toml: {key}: " in reply.text
    assert problem in reply.text


def test_a_gitops_app_may_not_also_name_a_deploy_hook(bot: Bot) -> None:
    bot.edit("apps/web.toml", 'deploy = "deploy-web"\n' + WEB.split("\n", 1)[1])
    reply = bot.say("!deploy web 1.4.2 to staging")
    assert "apps/web.toml: deploy: an app with [gitops] is applied by its GitOps engine" in (
        reply.text
    )


def test_opsbot_check_names_two_apps_that_render_the_same_value(gitops: Bot) -> None:
    shared = 'paths = { prod = "deploy/prod/web/kustomization.yaml" }\n'
    worker = WEB.replace(f'image = "{IMAGE}"', 'image = "registry.example.org/shop/worker"')
    gitops.edit("apps/worker.toml", worker + shared)  # its own image: one overlay, two entries
    assert opsbot("check", "--repo", str(gitops.repo)).stdout.strip() == "ok"
    gitops.edit("apps/worker.toml", WEB + shared)  # web's image: the two would fight over it
    result = opsbot("check", "--repo", str(gitops.repo))
    assert (
        f"apps/worker.toml: gitops: renders {IMAGE} in deploy/prod/web/kustomization.yaml, as "
        "apps/web.toml does"
    ) in result.stdout


def test_two_apps_share_one_overlay_with_an_image_each(gitops: Bot, tmp_path: Path) -> None:
    shared = 'paths = { prod = "deploy/prod/web/kustomization.yaml" }\n'
    worker = WEB.replace(f'image = "{IMAGE}"', 'image = "registry.example.org/shop/worker"')
    gitops.edit("apps/worker.toml", worker + shared)
    assert gitops.say("!deploy worker 3.0.0 to prod").ok
    assert gitops.say("!deploy web 1.5.0 to prod").ok
    overlay = show(gitops, "deploy/prod/web/kustomization.yaml")
    assert f'  - name: {IMAGE}\n    newTag: "1.5.0"\n' in overlay
    assert "  - name: registry.example.org/shop/worker\n    newTag: 3.0.0\n" in overlay


def test_a_dry_run_shows_both_files_and_commits_nothing(gitops: Bot) -> None:
    head = gitops.head()
    reply = gitops.say("!deploy web 1.4.2 to prod --dry-run")
    assert reply.ok
    assert '-    newTag: "0.9.0"\n+    newTag: "1.4.2"' in reply.text
    assert "+++ b/deployments/prod/web.toml" in reply.text
    assert gitops.head() == head
