"""Runbooks over a real Synapse: a run's reply is edited as its output comes, and a long output
arrives as an encrypted file that a second person's client downloads and decrypts to the bytes
recorded in Git; a run of a busy runbook is told it waits, or that it is refused and why."""

from typing import Any

from devtools.devclient import Person
from tests.helpers.git import git
from tests.helpers.matrix import BotProcess, edits_of, files_in, ops_room

TICKING = 'summary = "ticks"\nprogram = "tick"\ntimeout_seconds = 30\n'
LONG = 'summary = "long"\nprogram = "long"\n'


async def test_a_run_streams_its_output_into_edits_of_one_reply(
    alice: Person, opsbot: BotProcess
) -> None:
    opsbot.hook("tick", 'for n in 1 2 3 4 5 6 7 8; do echo "tick $n"; sleep 1; done\n')
    opsbot.configure({"runbooks/tick.toml": TICKING}, "a runbook", alice.user_id)
    opsbot.start()
    room = await ops_room(alice, opsbot)
    event = await alice.send(room, "!run tick")
    await alice.reply_to(event)
    reply_id = alice.replies_to(event)[0]["event_id"]

    def final() -> bool:
        return any(" exit 0 " in e["m.new_content"]["body"] for e in edits_of(alice, reply_id))

    await alice.until(final, "the run's end", timeout=60)
    bodies = [e["m.new_content"]["body"] for e in edits_of(alice, reply_id)]
    running = [b for b in bodies if ": running, " in b]
    assert len(running) >= 2, bodies  # seen while it ran, more than once
    assert len(bodies) <= 8, bodies  # at most one edit every few seconds, not one per line
    assert any("tick " in b for b in running)
    assert bodies[-1].endswith("tick 7\ntick 8\n")
    assert len(alice.replies_to(event)) == 1


async def test_a_long_output_arrives_as_an_attachment_another_person_decrypts(
    alice: Person, bob: Person, opsbot: BotProcess
) -> None:
    opsbot.hook("long", "seq 1 20000\n")
    opsbot.configure({"runbooks/long.toml": LONG}, "a runbook", alice.user_id)
    opsbot.start()
    room = await ops_room(alice, opsbot, bob)
    event = await alice.send(room, "!run long")
    reply = await alice.reply_to(event)

    await bob.until(lambda: bool(files_in(bob, room)), "the output as a file", timeout=60)
    [content] = files_in(bob, room)
    run = reply["body"].split()[1].rstrip(":")
    assert content["body"] == f"output of run {run} (long)"
    data = await bob.download(content)
    assert data == "".join(f"{n}\n" for n in range(1, 20001)).encode()
    month = git(opsbot.repo, "log", "-1", "--format=%ad", "--date=format:%Y-%m", "refs/opsbot/runs")
    recorded = git(opsbot.repo, "show", f"refs/opsbot/runs:runs/{month.strip()}/{run}.txt")
    assert recorded.encode() == data


def latest(someone: Person, reply: dict[str, Any]) -> str:
    """What a reply says now: its last edit, or itself when an edit came before it was sent."""
    edits = edits_of(someone, reply["event_id"])
    return str(edits[-1]["m.new_content"]["body"] if edits else reply["content"]["body"])


async def test_a_busy_runbook_queues_or_refuses_and_each_reply_says_so(
    alice: Person, opsbot: BotProcess
) -> None:
    opsbot.hook("hold", "sleep 4; echo held\n")
    opsbot.configure(
        {
            "runbooks/hold.toml": 'summary = "hold"\nprogram = "hold"\n',
            "runbooks/solo.toml": 'summary = "solo"\nprogram = "hold"\nwhen_busy = "refuse"\n',
        },
        "two runbooks",
        alice.user_id,
    )
    opsbot.start()
    room = await ops_room(alice, opsbot)
    events = [await alice.send(room, text) for text in ("!run hold", "!run hold", "!run solo")]
    replies = [await alice.reply_to(event) for event in events]
    refused_event = await alice.send(room, "!run solo")
    await alice.reply_to(refused_event)
    first, solo = (r["body"].split()[1].rstrip(":") for r in (replies[0], replies[2]))
    replied = [alice.replies_to(e)[0] for e in (*events, refused_event)]

    await alice.until(
        lambda: (
            f"refused: solo is busy: run {solo} by {alice.user_id} holds it"
            in latest(alice, replied[3])
        ),
        "the refusal",
    )
    assert latest(alice, replied[3]).endswith("(at most 1 at a time)")
    await alice.until(
        lambda: f"queued behind run {first} by {alice.user_id}" in latest(alice, replied[1]),
        "the queued run told whom it waits for",
    )
    await alice.until(lambda: " exit 0 " in latest(alice, replied[1]), "the queued run's end", 60)
    assert latest(alice, replied[1]).endswith("\nheld\n")
