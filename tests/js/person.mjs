// A person on Element's crypto stack, logged in and cross-signed: what every script here starts from.

// The SDK logs with console.log/info; stdout is for the scripts' JSON lines.
console.log = console.info = console.debug = console.error;

export const sdk = await import("matrix-js-sdk");
export const cryptoApi = await import("matrix-js-sdk/lib/crypto-api/index.js");
const { logger } = await import("matrix-js-sdk/lib/logger.js");
logger.setLevel(process.env.ELEMENT_CLIENT_DEBUG ? "debug" : "warn");

// Polls `condition` every 100 ms until it holds, or throws once `deadline` (ms) has passed.
export async function until(what, condition, deadline) {
    while (!(await condition())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
}

// Logs in as a new device with an in-memory crypto store, and cross-signs this person (master,
// self-signing, user-signing keys; this device signed by its owner), as Element does on first
// login. Returns the client, its crypto API and the login response.
export async function crossSignedLogin({ homeserver, user, password }) {
    const login = await sdk.createClient({ baseUrl: homeserver }).loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user },
        password,
        initial_device_display_name: "Element (matrix-js-sdk)",
    });
    const client = sdk.createClient({
        baseUrl: homeserver,
        userId: login.user_id,
        deviceId: login.device_id,
        accessToken: login.access_token,
    });
    await client.initRustCrypto({ useIndexedDB: false });
    const crypto = client.getCrypto();
    await crypto.bootstrapCrossSigning({
        authUploadDeviceSigningKeys: async (makeRequest) => {
            await makeRequest({
                type: "m.login.password",
                identifier: { type: "m.id.user", user: login.user_id },
                password,
            });
        },
    });
    return { client, crypto, login };
}

// Starts syncing, joins `roomId` and waits until this client sees it as an encrypted room.
export async function joinEncrypted(client, crypto, roomId, deadline) {
    await client.startClient({ initialSyncLimit: 0 });
    await until("the first sync", () => client.isInitialSyncComplete(), deadline);
    await client.joinRoom(roomId);
    await until("the encrypted room", async () => {
        const room = client.getRoom(roomId);
        return room?.getMyMembership() === "join" && (await crypto.isEncryptionEnabledInRoom(roomId));
    }, deadline);
}
