"""Change governance over a real Synapse: the audit report a person asks for in an encrypted
room arrives as an encrypted file, with its summary line, and decrypts to the report; the freeze
calendar answers in the room."""

from devtools.devclient import Person
from tests.helpers.matrix import BotProcess, files_in, ops_room


async def test_audit_in_the_room_arrives_as_an_encrypted_file_of_the_report(
    alice: Person, opsbot: BotProcess
) -> None:
    opsbot.start()
    room = await ops_room(alice, opsbot)
    deployed = await alice.send(room, "!deploy web 1.0.0 to dev --reason 'for the auditor'")
    await alice.reply_to(deployed)

    asked = await alice.send(room, "!audit dev --format csv")
    summary = (await alice.reply_to(asked))["body"]
    await alice.until(lambda: bool(files_in(alice, room)), "the report")

    [content] = files_in(alice, room)
    assert "url" not in content and str(content["file"]["url"]).startswith("mxc://")  # type: ignore[index]
    report = (await alice.download(content)).decode()
    assert "dev" in summary, summary
    assert "web" in report and "1.0.0" in report and alice.user_id in report, report[:2000]


async def test_calendar_answers_in_the_room(alice: Person, opsbot: BotProcess) -> None:
    opsbot.start()
    room = await ops_room(alice, opsbot)
    answer = (await alice.reply_to(await alice.send(room, "!calendar"))).get("body", "")
    assert "prod: no freeze windows" in answer, answer
