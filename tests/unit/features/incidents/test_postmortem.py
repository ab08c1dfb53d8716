"""!incident postmortem: a draft written from the incident record, its timeline and the Git
history (the deploys and rollbacks around it)."""

from tests.helpers.bot import ALICE, BOB, Bot
from tests.helpers.git import git

CAROL = "@carol:example.org"

POLICY = f"""
[roles.admin]
members = ["{ALICE}"]

[roles.responder]
members = ["{BOB}", "{CAROL}"]
commands = ["incident sev", "incident status", "incident resolve", "incident note", "rollback"]
"""


def act(bot: Bot, text: str, sender: str = ALICE) -> None:
    reply = bot.say(text, sender=sender)
    assert reply.ok, reply.text


def story(bot: Bot) -> Bot:
    """Deploys before, during and after an incident that is raised, worked on and resolved."""
    bot.edit("policy.toml", POLICY)
    act(bot, "!deploy web 1.0.0 to prod")  # 12:00, over 2h before: not listed
    bot.clock.advance(hours=2, minutes=30)
    act(bot, "!deploy web 1.1.0 to prod")  # 14:30, the usual suspect
    bot.clock.advance(minutes=20)
    act(bot, "!incident open sev2 Checkout errors")  # 14:50
    bot.clock.advance(minutes=4)
    act(bot, f"!incident assign INC-1 commander {BOB}")  # 14:54
    act(bot, "!incident sev INC-1 sev1 --reason 'every region'", BOB)
    bot.clock.advance(minutes=6)
    act(bot, "!incident note INC-1 is it the new payment client?", CAROL)  # 15:00
    act(bot, "!rollback web in prod --reason 'errors after 1.1.0'", BOB)
    bot.clock.advance(minutes=10)
    act(bot, "!incident status INC-1 monitoring", BOB)  # 15:10
    bot.clock.advance(minutes=20)
    act(bot, "!incident resolve INC-1 --summary 'rolled back web 1.1.0'", BOB)  # 15:30
    bot.clock.advance(minutes=10)
    act(bot, "!deploy web 1.1.1 to prod")  # 15:40, after: not listed
    return bot


def postmortem(bot: Bot) -> str:
    reply = bot.say("!incident postmortem INC-1")
    assert reply.ok, reply.text
    assert reply.text.startswith(
        "incident postmortem: INC-1: draft written to incidents/INC-1/postmortem.md"
    )
    return bot.show("incidents/INC-1/postmortem.md")


def section(text: str, title: str) -> str:
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_postmortem_is_committed_with_the_incident_trailers(bot: Bot) -> None:
    story(bot)
    postmortem(bot)
    assert git(bot.repo, "log", "-1", "--format=%s").strip() == (
        "incident postmortem: INC-1 postmortem"
    )
    trailers = git(bot.repo, "log", "-1", "--format=%(trailers)")
    assert "Incident: INC-1\nSeverity: sev1" in trailers


def test_the_summary_gives_the_times_to_acknowledge_mitigate_and_resolve(bot: Bot) -> None:
    text = postmortem(story(bot))
    assert text.startswith("# Postmortem: INC-1: Checkout errors\n")
    summary = section(text, "Summary")
    assert "rolled back web 1.1.0" in summary
    assert "- Time to acknowledge: 4m (2026-11-26 14:54 UTC)" in summary
    assert "- Time to mitigate: 20m (2026-11-26 15:10 UTC)" in summary
    assert "- Time to resolve: 40m (2026-11-26 15:30 UTC)" in summary
    assert "- Open for 40m" in section(text, "Impact")


def test_the_severity_history_comes_from_the_commits(bot: Bot) -> None:
    history = section(postmortem(story(bot)), "Severity history")
    assert history.strip().splitlines() == [
        f"- 2026-11-26 14:50 UTC · {ALICE} · declared sev2",
        f"- 2026-11-26 14:54 UTC · {BOB} · sev2 -> sev1 (every region)",
    ]


def test_the_timeline_has_times_and_authors(bot: Bot) -> None:
    timeline = section(postmortem(story(bot)), "Timeline")
    assert f"- 2026-11-26 14:50 UTC · {ALICE} · opened INC-1 (sev2): Checkout errors" in timeline
    assert f"- 2026-11-26 15:10 UTC · {BOB} · status investigating -> monitoring" in timeline


def test_who_did_what_names_each_person_and_their_role(bot: Bot) -> None:
    who = section(postmortem(story(bot)), "Who did what")
    assert f"- {ALICE}: declared it, assigned a role" in who
    assert f"- {BOB} (commander): changed the severity, set the status, resolved it" in who
    assert f"- {CAROL}: added a note" in who


def test_deploys_and_rollbacks_around_the_incident_are_listed_with_their_times(
    bot: Bot,
) -> None:
    deploys = section(postmortem(story(bot)), "Deploys and rollbacks")
    listed = [line for line in deploys.splitlines() if line.startswith("- ")]
    assert [line.split(" (commit")[0] for line in listed] == [
        f"- 2026-11-26 14:30 UTC · {ALICE} · deploy: web 1.1.0 to prod",
        f"- 2026-11-26 15:00 UTC · {BOB} · rollback: web in prod to 1.0.0 (was 1.1.0)",
    ]
    assert listed[0].endswith("(before it was declared)")
    assert "1.0.0 to prod" not in deploys.replace("to 1.0.0", "")
    assert "1.1.1" not in deploys


def test_notes_that_ask_become_open_questions(bot: Bot) -> None:
    questions = section(postmortem(story(bot)), "Open questions")
    assert "- is it the new payment client?" in questions
    assert "- What caused it?" in questions


def test_an_existing_postmortem_is_kept_unless_replaced(bot: Bot) -> None:
    story(bot)
    postmortem(bot)
    bot.edit("incidents/INC-1/postmortem.md", "# Our own words\n")
    head = bot.head()
    reply = bot.say("!incident postmortem INC-1")
    assert not reply.ok
    assert "incidents/INC-1/postmortem.md exists already" in reply.text
    assert bot.head() == head
    assert bot.say("!incident postmortem INC-1 --replace").ok
    assert bot.show("incidents/INC-1/postmortem.md").startswith("# Postmortem: INC-1")
