"""The baseline for bench/latency.py: a plain, end-to-end-encrypted matrix-nio echo bot.

    python bench/echo_bot.py --homeserver URL --user-id @echo:localhost --password-file FILE \\
        --store DIR

It does what any small nio bot does and nothing else: long-polls /sync (30 s, as opsbot does),
keeps its keys up after each sync (upload, query, claim, to-device), joins every room it is
invited to, and answers every `m.text` from someone else with an `m.notice` that replies to it
(`m.relates_to.m.in_reply_to`). No Git, no parsing, no journal. It writes "ready" on stdout once
its first sync is done, and stops on SIGTERM or SIGINT.

The loop has the same shape as opsbot's own (bot/transport/matrix/transport.py) on purpose:
sync, keys, invites, then the events of the batch one after the other, each answered before the
next is looked at. The difference between the two is then what opsbot does per command.
"""

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from nio import (
    AsyncClient,
    AsyncClientConfig,
    LoginResponse,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
)

from bot.transport.matrix.keys import after_sync

SYNC_TIMEOUT_MS = 30_000
SYNC_FILTER = {"room": {"timeline": {"limit": 500}}, "presence": {"types": []}}


# The same key upkeep any nio client with its own sync loop owes (opsbot's own is this one).
keep_keys = after_sync


async def answer(client: AsyncClient, room_id: str, event: RoomMessageText) -> None:
    content = {
        "msgtype": "m.notice",
        "body": event.body,
        "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}},
    }
    response = await client.room_send(
        room_id, "m.room.message", content, ignore_unverified_devices=True
    )
    if not isinstance(response, RoomSendResponse):
        print(f"send failed: {response}", file=sys.stderr, flush=True)


async def serve(client: AsyncClient) -> None:
    first = True
    while True:
        response = await client.sync(
            timeout=0 if first else SYNC_TIMEOUT_MS, sync_filter=SYNC_FILTER, full_state=first
        )
        if not isinstance(response, SyncResponse):
            print(f"sync failed: {response}", file=sys.stderr, flush=True)
            await asyncio.sleep(1)
            continue
        await keep_keys(client)
        for room_id in response.rooms.invite:
            await client.join(room_id)
        if not first:  # what the first sync holds happened before we were here
            for room_id, info in response.rooms.join.items():
                for event in info.timeline.events:
                    if (
                        isinstance(event, RoomMessageText)
                        and event.sender != client.user_id
                        and event.source.get("content", {}).get("msgtype") == "m.text"
                    ):
                        await answer(client, room_id, event)
        if first:
            print("ready", flush=True)
            first = False


async def main(args: argparse.Namespace) -> int:
    args.store.mkdir(parents=True, exist_ok=True)
    client = AsyncClient(
        args.homeserver,
        args.user_id,
        store_path=str(args.store),
        config=AsyncClientConfig(encryption_enabled=True),
    )
    try:
        login = await client.login(args.password_file.read_text().strip(), device_name="echo")
        if not isinstance(login, LoginResponse):
            print(f"login failed: {login}", file=sys.stderr, flush=True)
            return 1
        task = asyncio.ensure_future(serve(client))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return 0
    finally:
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--homeserver", required=True)
    parser.add_argument("--user-id", required=True)
    parser.add_argument("--password-file", type=Path, required=True)
    parser.add_argument("--store", type=Path, required=True)
    sys.exit(asyncio.run(main(parser.parse_args())))
