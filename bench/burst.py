"""A burst: many people deploying at once into one encrypted room, against a bare client.

    python -m bench.burst [--people 10] [--each 20] [--rounds 3] [--keep]

(from the top of the checkout). One run starts a throwaway Synapse on 127.0.0.1, opsbot as
`opsbot run` runs it (its hooks apply at once, so each command is a commit, an answer and a
result), and `--people` people with their own E2EE devices in one encrypted room. They each
send `--each` `!deploy` commands at once, as fast as their clients go. Then, in the same room
and the same run, the first person alone sends as many plain messages one after the other:
the rate a client can send is the baseline.

Both are timed from the homeserver's own timestamps (`origin_server_ts`): from the first
command to the last answer, and from the first to the last plain message. A round is a burst
and then the plain messages; `--rounds` of them, each a ratio, and the median is the figure
(one machine's two cores carry Synapse, the bot and every client, so one round is noisy).
Every command must be answered exactly once, as the room's history shows it, or the run
fails. Goal: opsbot answers at >= 0.95x the rate a bare client sends.
"""

import argparse
import asyncio
import logging
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.latency import Opsbot, machine
from devtools.devclient import Person
from devtools.devserver import Homeserver

GOAL = 0.95  # opsbot's answers per second / a bare client's sends per second
ANSWER_TIMEOUT = 300.0


def in_room(person: Person, room: str) -> list[dict[str, Any]]:
    return [source for r, source in person.events if r == room]


def answers(events: list[dict[str, Any]], bot: str) -> dict[str, list[dict[str, Any]]]:
    """Command event id -> the bot's answers to it (edits are not answers)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for source in events:
        content = source.get("content", {})
        reply_to = content.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
        if source.get("sender") == bot and reply_to:
            found.setdefault(reply_to, []).append(source)
    return found


async def gather(opsbot: Opsbot, people: list[Person]) -> str:
    """One encrypted room with the bot and everyone in it."""
    first = people[0]
    room = await first.create_room([opsbot.user_id, *(p.user_id for p in people[1:])])
    await first.until_joined(room, opsbot.user_id, timeout=60)
    for person in people[1:]:
        await person.until(lambda p=person: room in p.client.invited_rooms, "an invite")
        await person.client.join(room)
        await person.until_joined(room, person.user_id)
    await first.until(
        lambda: all(p.user_id in first.client.rooms[room].users for p in people),
        "everyone in the room",
    )
    return room


async def burst(
    opsbot: Opsbot, people: list[Person], room: str, round_: int, args: Any
) -> list[str]:
    first = people[0]

    async def send_all(number: int, person: Person) -> list[str]:
        return [
            await person.send(room, f"!deploy web {round_ + 1}.{number}.{i} to dev")
            for i in range(args.each)
        ]

    sent = [
        e
        for ids in await asyncio.gather(*(send_all(n, p) for n, p in enumerate(people)))
        for e in ids
    ]
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while len(answers(in_room(first, room), opsbot.user_id).keys() & set(sent)) < len(sent):
        if time.monotonic() > deadline:
            raise TimeoutError("not every command was answered")
        await asyncio.sleep(0.5)
    await asyncio.sleep(3)  # anything sent twice, and the last edits, would have arrived by now
    return sent


async def baseline(person: Person, room: str, count: int) -> list[str]:
    return [await person.send(room, f"just a message {i}") for i in range(count)]


def timestamps(person: Person, room: str, ids: list[str]) -> dict[str, int]:
    wanted = set(ids)
    return {
        s["event_id"]: s["origin_server_ts"]
        for s in in_room(person, room)
        if s.get("event_id") in wanted
    }


async def measure(
    homeserver: Homeserver, opsbot: Opsbot, logins: list[tuple[str, str]], root: Path, args: Any
) -> list[dict[str, float]]:
    people = [
        Person(homeserver.base_url, who, password, root / f"p{n}")
        for n, (who, password) in enumerate(logins)
    ]
    try:
        for person in people:
            await person.login()
            await person.cross_sign()  # as Element does
            person.start()
        room = await gather(opsbot, people)
        print(f"{len(people)} people in the room", flush=True)
        rounds = []
        for round_ in range(args.rounds):
            rounds.append(await one_round(opsbot, people, room, round_, args))
            print(f"  round {round_ + 1}: {ratio(rounds[-1]):.2f}x", flush=True)
        return rounds
    finally:
        for person in people:
            await person.close()


async def one_round(
    opsbot: Opsbot, people: list[Person], room: str, round_: int, args: Any
) -> dict[str, float]:
    first = people[0]
    sent = await burst(opsbot, people, room, round_, args)
    plain = await baseline(first, room, len(sent))
    await first.until(lambda: len(timestamps(first, room, plain)) == len(plain), "the plain")
    events = in_room(first, room)
    replies = answers(events, opsbot.user_id)
    once = [len(replies.get(e, [])) for e in sent]
    if once != [1] * len(sent):
        raise RuntimeError(f"not exactly once: {sorted(set(once))} answers per command")
    failed = [e for e in sent if not replies[e][0]["content"].get("opsbot", {}).get("ok")]
    if failed:
        body = replies[failed[0]][0]["content"].get("body")
        raise RuntimeError(f"{len(failed)} commands were refused (as: {body!r})")
    commands = timestamps(first, room, sent)
    answered = [replies[e][0]["origin_server_ts"] for e in sent]
    mine = {r["event_id"] for e in sent for r in replies[e]}
    edits = sum(
        1
        for s in events
        if s.get("sender") == opsbot.user_id
        and s.get("content", {}).get("m.relates_to", {}).get("rel_type") == "m.replace"
        and s["content"]["m.relates_to"].get("event_id") in mine
    )
    plain_ts = timestamps(first, room, plain)
    return {
        "commands": len(sent),
        "opsbot_s": (max(answered) - min(commands.values())) / 1000,
        "arrived_s": (max(commands.values()) - min(commands.values())) / 1000,
        "client_s": (max(plain_ts.values()) - min(plain_ts.values())) / 1000,
        "edits": edits,
    }


def ratio(figures: dict[str, float]) -> float:
    """opsbot's answers per second over the client's sends per second."""
    return figures["client_s"] / figures["opsbot_s"]


def main() -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--people", type=int, default=10)
    parser.add_argument("--each", type=int, default=20, help="commands each person sends")
    parser.add_argument("--rounds", type=int, default=3, help="bursts, each with its baseline")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    logging.getLogger("nio").setLevel(logging.ERROR)
    print(machine())
    root = Path(tempfile.mkdtemp(prefix="opsbot-burst-"))
    homeserver = Homeserver(root / "synapse")
    opsbot: Opsbot | None = None
    try:
        homeserver.start()
        logins = []
        for n in range(args.people):
            password = secrets.token_urlsafe(12)
            logins.append((homeserver.register(f"person{n}", password), password))
        # Every person is an admin: the bench measures answers, not refusals.
        opsbot = Opsbot(homeserver, root / "opsbot", admins=[who for who, _ in logins])
        opsbot.start()
        opsbot.wait_until(opsbot.ready)
        rounds = asyncio.run(measure(homeserver, opsbot, logins, root, args))
    finally:
        if opsbot is not None:
            opsbot.stop()
        homeserver.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\n{args.people} people x {args.each} !deploy, one encrypted room; each answered once")
    for number, figures in enumerate(rounds, start=1):
        n = figures["commands"]
        print(
            f"round {number}: opsbot {n} answers in {figures['opsbot_s']:.1f} s "
            f"({n / figures['opsbot_s']:.1f}/s, {figures['edits']:.0f} edits; the commands "
            f"themselves took {figures['arrived_s']:.1f} s to arrive); client {n} "
            f"plain messages in {figures['client_s']:.1f} s ({n / figures['client_s']:.1f}/s); "
            f"{ratio(figures):.2f}x"
        )
    median = statistics.median(ratio(r) for r in rounds)
    print(
        f"opsbot / client, median of {len(rounds)} = {median:.2f}x   goal >= {GOAL:.1f}x   "
        f"{'PASS' if median >= GOAL else 'MISS'}"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
