"""For any text a person can type, the trailers Git reads from a commit message are exactly the
ones opsbot wrote: no text can end the trailer block, add a trailer or hide one."""

import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.state.message import Message, one_line
from tests.helpers.bot import Bot
from tests.helpers.git import git

pytestmark = pytest.mark.security

# Text with the characters that have meant something to a reader of messages: every kind of
# line break, separators, `---`, trailer-shaped lines, comment and bidi characters.
TRICKY = st.sampled_from(
    [
        "\n",
        "\r",
        "\r\n",
        "\u2028",
        "\u2029",
        "\x85",
        "\x0b",
        "\x0c",
        "\x1c",
        "\x1e",
        "---",
        "Approved-by: @carol:example.org",
        "Matrix-Event: $victim",
        "#",
        ":",
        " ",
        "\t",
        "\u202e",
        "\x00",
        "(cherry picked from commit 0000000)",
        "Signed-off-by: x <y>",
    ]
)
TEXT = st.lists(st.one_of(TRICKY, st.text(max_size=12)), max_size=8).map("".join)


def git_trailers(message: str) -> list[str]:
    """The trailers as `git interpret-trailers --parse` reads them."""
    result = subprocess.run(
        ["git", "-c", "trailer.separators=:", "interpret-trailers", "--parse"],
        input=message.encode(),
        capture_output=True,
        check=True,
    )
    return result.stdout.decode().splitlines()


@settings(max_examples=150, deadline=None)
@given(summary=TEXT, body=st.lists(TEXT, max_size=3), reason=TEXT, command=TEXT)
def test_git_reads_exactly_the_trailers_opsbot_wrote(
    summary: str, body: list[str], reason: str, command: str
) -> None:
    trailers = (("Opsbot-Command", command), ("Reason-Given", reason), ("Matrix-Event", "$e1"))
    message = Message(f"deploy: {summary}", (*body, f"Reason: {reason}"), trailers).render()
    expected = [f"{key}: {one_line(value)}" for key, value in trailers if one_line(value)]
    assert git_trailers(message) == expected


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(reason=TEXT)
def test_a_command_is_refused_with_usage_or_commits_exactly_its_trailers(
    bot: Bot, reason: str
) -> None:
    before = bot.head()
    quoted = reason.replace("\\", "\\\\").replace('"', '\\"')
    reply = bot.say(f'!deploy web 1.0.{len(reason)} to dev --reason "{quoted}"')
    if not reply.ok:
        assert reply.error in ("usage", "refused", "too_long"), reply.text
        assert bot.head() == before
        return
    message = git(bot.repo, "log", "-1", "--format=%B", "main")
    keys = [line.split(":", 1)[0] for line in git_trailers(message)]
    assert keys == ["Opsbot-Command", "Matrix-Room", "Matrix-Event"]
    assert "\u2028" not in message and "\u202e" not in message
