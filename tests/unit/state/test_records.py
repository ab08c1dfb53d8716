"""Records: TOML files a person can edit, read strictly and written without losing their edits."""

from datetime import UTC, datetime

import pytest

from bot.core.errors import InvalidRecord
from bot.state.policy import decode_policy
from bot.state.policy_edit import add_admin
from bot.state.records import Deployment, Environment, decode, encode
from tests.helpers.bot import Bot

WRITTEN_BY_HAND = """\
# Production: customers use this.
order = 3   # after staging
description = "Production"

# Two people must agree on prod changes.
approvals = 2
"""


def test_decode_reads_typed_fields_and_the_name_from_the_path() -> None:
    env = decode(Environment, "environments/prod.toml", WRITTEN_BY_HAND, name="prod")
    assert env == Environment(name="prod", order=3, description="Production", approvals=2)


def test_encode_changes_only_the_changed_key_and_keeps_comments_and_layout() -> None:
    env = decode(Environment, "environments/prod.toml", WRITTEN_BY_HAND, name="prod")
    text = encode(
        Environment(name="prod", order=3, description="Production", approvals=1), WRITTEN_BY_HAND
    )
    assert text == WRITTEN_BY_HAND.replace("approvals = 2", "approvals = 1")
    assert env.approvals == 2


def test_encode_then_decode_gives_the_same_record() -> None:
    at = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
    record = Deployment(
        env="prod", app="web", version="1.4.2", requested_by="@a:b", requested_at=at
    )
    text = encode(record, header="header line")
    assert text.startswith("# header line\n")
    assert decode(Deployment, "deployments/prod/web.toml", text, env="prod", app="web") == record


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        ("order = 'three'", "order", "must be a whole number"),
        ("order = 1\naprovals = 1", "aprovals", "unknown field"),
        ("description = 'no order'", "order", "missing"),
        ("order = 1\napprovals = -1", "approvals", "must be a whole number >= 0"),
        ("order = 1\napprovals = true", "approvals", "must be a whole number"),
    ],
)
def test_invalid_file_is_reported_with_its_path_and_field(
    text: str, field: str, problem: str
) -> None:
    with pytest.raises(InvalidRecord) as raised:
        decode(Environment, "environments/qa.toml", text, name="qa")
    assert raised.value.path == "environments/qa.toml"
    assert raised.value.field == field
    assert problem in raised.value.message
    assert raised.value.message.startswith(f"environments/qa.toml: {field}: ")


def test_a_file_that_is_not_toml_is_reported_with_its_path() -> None:
    with pytest.raises(InvalidRecord, match=r"^environments/qa.toml: not valid TOML"):
        decode(Environment, "environments/qa.toml", "order = = 1", name="qa")


def test_a_time_without_a_time_zone_is_refused() -> None:
    text = 'version = "1.0"\nrequested_by = "@a:b"\nrequested_at = 2026-11-26T14:05:00'
    with pytest.raises(InvalidRecord, match="requested_at: needs a time zone"):
        decode(Deployment, "deployments/dev/web.toml", text, env="dev", app="web")


def test_policy_member_that_is_not_a_matrix_id_is_reported() -> None:
    policy = decode_policy('[roles.ops]\nmembers = ["alice", "@bob:example.org"]')
    assert [p.message for p in policy.problems] == [
        "policy.toml: roles.ops.members: 'alice' is not a Matrix user id"
    ]
    assert policy.roles[0].members == ("@bob:example.org",)


def test_add_admin_keeps_the_comments_of_the_policy() -> None:
    text = "# who may do what\n[roles.admin]\n# the on-call leads\nmembers = []\n"
    out = add_admin(text, "@alice:example.org")
    assert out == text.replace("members = []", 'members = ["@alice:example.org"]')


def test_a_command_on_a_repo_with_a_broken_file_names_the_file_and_writes_nothing(bot: Bot) -> None:
    bot.edit("environments/prod.toml", "order = 3\naprovals = 1\n")
    head = bot.head()
    reply = bot.say("!deploy web 1.4.2 to prod")
    assert not reply.ok
    assert reply.error == "invalid_record"
    assert "environments/prod.toml: aprovals: unknown field" in reply.text
    assert bot.head() == head
