"""GitOps and incidents over Matrix: the reconciler's result in the room, outside commits
announced, an incident room with its transcript in Git. Real Synapse, real E2EE, real hooks."""

import tomllib
from pathlib import Path

from devtools.devclient import Person
from tests.helpers.git import git
from tests.helpers.matrix import BotProcess, edits_of, join, ops_room


def timeline(repo: Path, incident: str = "INC-1") -> str:
    """What INC-1's timeline holds, "kind: text" one per line, as `git` shows its files."""
    names = git(repo, "ls-tree", "--name-only", "main", f"incidents/{incident}/timeline/").split()
    entries = [e for n in names for e in tomllib.loads(git(repo, "show", f"main:{n}"))["entry"]]
    return "\n".join(f"{e['kind']}: {e['text']}" for e in entries)


async def test_a_deploy_runs_the_hook_and_the_reply_is_edited_with_the_result(
    alice: Person, opsbot: BotProcess, tmp_path: Path
) -> None:
    ran = tmp_path / "ran"
    opsbot.hook("deploy-web", f'echo "$@" >> {ran}\necho deployed "$3"\n')
    opsbot.start()
    room = await ops_room(alice, opsbot)
    event = await alice.send(room, "!deploy web 1.4.2 to dev")
    reply = await alice.reply_to(event)
    assert reply["body"].endswith("· deploying…")
    reply_id = alice.replies_to(event)[0]["event_id"]
    await alice.until(lambda: bool(edits_of(alice, reply_id)), "the edit", timeout=30)
    edit = edits_of(alice, reply_id)[-1]
    assert "· applied in " in edit["m.new_content"]["body"]
    assert ran.read_text() == "-- web 1.4.2 dev\n"
    notes = git(
        opsbot.repo, "log", "--notes=opsbot", "-1", "--format=%N", reply["opsbot"]["commit"]
    )
    assert "deploy web 1.4.2 to dev: ok" in notes


async def test_a_failing_hook_is_reported_with_its_output(
    alice: Person, opsbot: BotProcess
) -> None:
    opsbot.hook("deploy-web", 'echo "disk full on web-3" >&2\nexit 3\n')
    opsbot.start()
    room = await ops_room(alice, opsbot)
    event = await alice.send(room, "!deploy web 1.4.3 to dev")
    await alice.reply_to(event)
    reply_id = alice.replies_to(event)[0]["event_id"]

    def final() -> bool:
        return any("failed after" in e["m.new_content"]["body"] for e in edits_of(alice, reply_id))

    await alice.until(final, "the final result", timeout=60)
    body = next(
        e for e in edits_of(alice, reply_id) if "failed after" in e["m.new_content"]["body"]
    )
    assert "exited with 3" in body["m.new_content"]["body"]
    assert "disk full on web-3" in body["m.new_content"]["body"]


async def test_a_commit_pushed_from_outside_is_announced(alice: Person, opsbot: BotProcess) -> None:
    opsbot.start()
    room = await ops_room(alice, opsbot)
    policy = git(opsbot.repo, "show", "main:policy.toml") + f'\n[rooms]\nannounce = ["{room}"]\n'
    opsbot.configure({"policy.toml": policy}, "announce in the ops room", alice.user_id)
    opsbot.edit_repo({"apps/web.toml": "descripton = 'typo'\n"}, "break web", alice.user_id)

    def announced() -> bool:
        return any(
            "from outside opsbot" in s.get("content", {}).get("body", "")
            and "apps/web.toml" in s["content"]["body"]
            for r, s in alice.events
            if r == room
        )

    await alice.until(announced, "the announcement", timeout=30)


async def test_an_incident_gets_an_encrypted_room_mentions_and_a_transcript_in_git(
    alice: Person, bob: Person, opsbot: BotProcess
) -> None:
    policy = git(opsbot.repo, "show", "main:policy.toml")
    policy += f'\n[incidents.notify]\nsev1 = ["{bob.user_id}"]\n'
    opsbot.configure({"policy.toml": policy}, "bob is on call for sev1", alice.user_id)
    opsbot.start()
    ops = await ops_room(alice, opsbot, bob)
    opened = await alice.send(ops, "!incident open sev2 Database is down")
    reply = await alice.reply_to(opened)
    assert reply["opsbot"]["ok"] is True, reply["body"]

    def incident_room() -> str | None:
        for room_id in alice.client.invited_rooms:
            return str(room_id)
        return None

    await alice.until(lambda: incident_room() is not None, "the incident room invite", timeout=30)
    room = incident_room()
    assert room is not None
    await join(alice, room)
    assert alice.client.rooms[room].encrypted
    await alice.until_joined(room, opsbot.user_id)
    await alice.until(
        lambda: room in git(opsbot.repo, "show", "main:incidents/INC-1/incident.toml"),
        "the room recorded",
        timeout=30,
    )
    await alice.send(room, "looking at the primary, <b>replication</b> lag is 40s")
    raised = await alice.send(room, '!incident sev sev1 --reason "every region"')
    raise_reply = await alice.reply_to(raised)
    assert raise_reply["opsbot"]["ok"] is True, raise_reply["body"]

    def mentioned_bob() -> bool:
        return any(
            bob.user_id in s.get("content", {}).get("m.mentions", {}).get("user_ids", [])
            for r, s in alice.events
            if r == room
        )

    await alice.until(mentioned_bob, "a notice mentioning bob", timeout=30)
    resolved = await alice.send(room, '!incident resolve --summary "failed over"')
    assert (await alice.reply_to(resolved))["opsbot"]["ok"] is True
    postmortem = await alice.send(room, "!incident postmortem")
    assert (await alice.reply_to(postmortem))["opsbot"]["ok"] is True
    said_and_done = timeline(opsbot.repo)
    assert "said: looking at the primary, <b>replication</b> lag is 40s" in said_and_done
    said = said_and_done.index("said: looking at the primary")
    assert said < said_and_done.index("resolved")
    assert "Database is down" in git(opsbot.repo, "show", "main:incidents/INC-1/postmortem.md")
    history = git(opsbot.repo, "log", "--format=%s", "--grep", "^Incident: INC-1$")
    assert len(history.splitlines()) >= 5


async def test_no_transcript_line_is_lost_when_the_bot_is_killed_mid_conversation(
    alice: Person, opsbot: BotProcess
) -> None:
    opsbot.start()
    ops = await ops_room(alice, opsbot)
    await alice.reply_to(await alice.send(ops, "!incident open sev3 Slow logins"))
    await alice.until(lambda: bool(alice.client.invited_rooms), "the incident room", timeout=30)
    room = str(next(iter(alice.client.invited_rooms)))
    await join(alice, room)
    await alice.until_joined(room, opsbot.user_id)
    await alice.until(
        lambda: room in git(opsbot.repo, "show", "main:incidents/INC-1/incident.toml"),
        "the room recorded",
        timeout=30,
    )
    said = [f"line {i}: checking shard {i}" for i in range(8)]
    for i, text in enumerate(said):
        await alice.send(room, text)
        if i == 4:
            opsbot.kill()
    opsbot.start()
    await alice.until(
        lambda: all(t in timeline(opsbot.repo) for t in said),
        "every line in Git",
        timeout=60,
    )
    kept = timeline(opsbot.repo)
    assert all(kept.count(t) == 1 for t in said)


async def test_an_incident_whose_room_was_never_made_gets_it_when_the_bot_starts(
    alice: Person, opsbot: BotProcess
) -> None:
    opsbot.start()
    ops = await ops_room(alice, opsbot)
    opsbot.stop()
    # As left by a bot stopped between the `!incident open` commit and creating the room.
    record = (
        'title = "Disk full"\nseverity = "sev3"\nstatus = "investigating"\n'
        f'reporter = "{alice.user_id}"\nopened_at = 2026-11-26T04:00:00Z\n'
        f'participants = ["{alice.user_id}"]\ndeclared_in = "{ops}"\n'
        f'[roles]\ncommander = "{alice.user_id}"\n'
    )
    timeline = f"# INC-1: Disk full\n\n- 2026-11-26 04:00 UTC · {alice.user_id} · opened INC-1\n"
    opsbot.configure(
        {"incidents/INC-1/incident.toml": record, "incidents/INC-1/timeline.md": timeline},
        "an incident without its room",
        alice.user_id,
    )
    opsbot.start()
    await alice.until(lambda: bool(alice.client.invited_rooms), "the incident room", timeout=30)
    room = str(next(iter(alice.client.invited_rooms)))
    await alice.until(
        lambda: room in git(opsbot.repo, "show", "main:incidents/INC-1/incident.toml"),
        "the room recorded",
        timeout=30,
    )
