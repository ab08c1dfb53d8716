// A person on Element's crypto stack: matrix-js-sdk with its Rust crypto, the code Element Web runs.
//
// Logs in, cross-signs itself (as Element does on first login), joins a room, sends one message,
// waits for the bot's reply to it, and prints ONE JSON line on stdout with what Element would show:
// whether the reply decrypted, its shield, and how the bot's devices look. Logs go to stderr.
//
//   node element_client.mjs --homeserver URL --user @me:hs --password PW --room '!id:hs' \
//        --bot @opsbot:hs --text '!whoami' [--isolation all|signed] [--timeout 60]

import { parseArgs } from "node:util";

import { cryptoApi, crossSignedLogin, joinEncrypted, sdk, until as untilDeadline } from "./person.mjs";

const { values: args } = parseArgs({
    options: {
        homeserver: { type: "string" },
        user: { type: "string" },
        password: { type: "string" },
        room: { type: "string" },
        bot: { type: "string" },
        text: { type: "string", default: "!whoami" },
        isolation: { type: "string", default: "all" },
        timeout: { type: "string", default: "60" },
    },
});
const deadline = Date.now() + Number(args.timeout) * 1000;
const until = (what, condition) => untilDeadline(what, condition, deadline);

// Log in as a new device, cross-signed by its owner (the Element default).
const { client, crypto, login } = await crossSignedLogin(args);
crypto.setDeviceIsolationMode(
    args.isolation === "signed"
        ? new cryptoApi.OnlySignedDevicesIsolationMode()
        : new cryptoApi.AllDevicesIsolationMode(false),
);

const events = [];
client.on(sdk.RoomEvent.Timeline, (event, room) => {
    if (room?.roomId === args.room) events.push(event);
});
await joinEncrypted(client, crypto, args.room, deadline);

const sent = (await client.sendTextMessage(args.room, args.text)).event_id;

// The bot's reply: an event from the bot that replies to ours, once decrypted. If none decrypts
// in time, the bot's first event we could not decrypt, with the reason; or none at all.
const fromBot = () => events.filter((e) => e.getSender() === args.bot && e.getId() !== sent);
const isReply = (e) => e.getContent()?.["m.relates_to"]?.["m.in_reply_to"]?.event_id === sent;
let reply;
try {
    await until("the bot's reply", async () => {
        for (const event of fromBot()) await client.decryptEventIfNeeded(event);
        reply = fromBot().find(isReply);
        return reply !== undefined;
    });
} catch (error) {
    reply = fromBot().find((e) => e.isDecryptionFailure());
    if (!reply) console.error(error.message);
}

const shieldColours = Object.fromEntries(
    Object.entries(cryptoApi.EventShieldColour).filter(([, v]) => typeof v === "number").map(([k, v]) => [v, k]),
);
const shieldReasons = Object.fromEntries(
    Object.entries(cryptoApi.EventShieldReason).filter(([, v]) => typeof v === "number").map(([k, v]) => [v, k]),
);
const decrypted = reply !== undefined && !reply.isDecryptionFailure();
const info = decrypted ? await crypto.getEncryptionInfoForEvent(reply) : null;

// How this client sees each of the bot's devices.
const devices = (await crypto.getUserDeviceInfo([args.bot], true)).get(args.bot) ?? new Map();
const botDevices = {};
for (const deviceId of devices.keys()) {
    const status = await crypto.getDeviceVerificationStatus(args.bot, deviceId);
    botDevices[deviceId] = {
        signedByOwner: status?.signedByOwner ?? false,
        crossSigningVerified: status?.crossSigningVerified ?? false,
        isVerified: status?.isVerified() ?? false,
    };
}

const result = {
    user: login.user_id,
    device: login.device_id,
    crossSigningReady: await crypto.isCrossSigningReady(),
    isolation: args.isolation,
    sent,
    reply: reply === undefined ? null : {
        event_id: reply.getId(),
        decrypted,
        failure: reply.decryptionFailureReason ?? null,
        type: reply.getType(),
        msgtype: reply.getContent()?.msgtype ?? null,
        body: reply.getContent()?.body ?? null,
        in_reply_to_sent: isReply(reply),
        shield: info && {
            colour: shieldColours[info.shieldColour],
            reason: info.shieldReason === null ? null : shieldReasons[info.shieldReason],
        },
    },
    botDevices,
};
process.stdout.write(JSON.stringify(result) + "\n");
client.stopClient();
process.exit(0);
