"""The key upkeep an E2EE client owes after every sync.

nio does this inside `sync_forever` only; a client with its own sync loop must do it itself, or
new devices never get its keys and it never gets theirs.
"""

from nio import AsyncClient

from bot.transport.matrix.people import People


async def after_sync(client: AsyncClient, people: People | None = None) -> None:
    if client.should_upload_keys:
        await client.keys_upload()
    if people is not None:
        await people.query()  # nio's query, then the cross-signing keys of the same people
        await people.upkeep()
    elif client.should_query_keys:
        await client.keys_query()
    if client.should_claim_keys:
        await client.keys_claim(client.get_users_for_key_claiming())
    await client.send_to_device_messages()
