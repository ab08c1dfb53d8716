"""The homeserver's key endpoints cross-signing needs: the keys it holds of a person (the bot
itself, or the people it shares rooms with), the upload of the bot's cross-signing keys, and of
the signature of its device."""

import json
from collections.abc import Mapping
from typing import Any

from nio import AsyncClient

from bot.transport.matrix.cross_signing_keys import CrossSigningError, CrossSigningKeys
from bot.transport.matrix.signed_json import key_public

QUERY = "/_matrix/client/v3/keys/query"
UPLOAD_KEYS = "/_matrix/client/v3/keys/device_signing/upload"
UPLOAD_SIGNATURES = "/_matrix/client/v3/keys/signatures/upload"


class Homeserver:
    """The three endpoints cross-signing needs, through nio's client and its access token."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def post(self, path: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        response = await self.client.send(
            "POST",
            path,
            json.dumps(body),
            headers={
                "Authorization": f"Bearer {self.client.access_token}",
                "Content-Type": "application/json",
            },
        )
        async with response:
            try:
                answer = await response.json(content_type=None)
            except ValueError:
                answer = {}
        return response.status, answer if isinstance(answer, dict) else {}

    async def own_keys(self) -> dict[str, Any]:
        """The homeserver's answer to /keys/query for the bot itself."""
        user = self.client.user_id
        status, answer = await self.post(QUERY, {"device_keys": {user: []}})
        if status != 200:
            raise CrossSigningError(f"the homeserver refused /keys/query ({_why(status, answer)})")
        return answer

    async def upload_keys(self, keys: CrossSigningKeys, password: str | None) -> None:
        """Uploads the keys; answers the homeserver's request for interactive auth with the
        password, the only kind of auth a bot can do by itself."""
        body = keys.upload_body()
        status, answer = await self.post(UPLOAD_KEYS, body)
        if status == 401 and "flows" in answer:
            if password is None:
                raise CrossSigningError(
                    "the homeserver asks for the bot's password to upload its cross-signing "
                    "keys, and only an access token is configured: add password_file to [matrix]"
                )
            auth = {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": self.client.user_id},
                "password": password,
                **({"session": answer["session"]} if "session" in answer else {}),
            }
            status, answer = await self.post(UPLOAD_KEYS, {**body, "auth": auth})
        if status != 200:
            raise CrossSigningError(
                f"uploading the cross-signing keys failed ({_why(status, answer)})"
            )

    async def sign_device(self, keys: CrossSigningKeys, device: Mapping[str, Any]) -> None:
        signed = keys.sign_device(device)
        body = {keys.user_id: {signed["device_id"]: signed}}
        status, answer = await self.post(UPLOAD_SIGNATURES, body)
        failures = answer.get("failures") or {}
        if status != 200 or failures:
            why = _why(status, answer) if status != 200 else json.dumps(failures)
            raise CrossSigningError(f"the homeserver did not take the device's signature ({why})")


def _why(status: int, answer: Mapping[str, Any]) -> str:
    return f"{status} {answer.get('errcode', '')} {answer.get('error', '')}".strip()


def own_device(answer: Mapping[str, Any], user_id: str, device_id: str) -> dict[str, Any] | None:
    device = answer.get("device_keys", {}).get(user_id, {}).get(device_id)
    return device if isinstance(device, dict) else None


def master_on_server(answer: Mapping[str, Any], user_id: str) -> str | None:
    return key_public(answer.get("master_keys", {}).get(user_id))
