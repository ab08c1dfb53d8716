// A person on Element's crypto stack verifies the bot with emojis, as "Verify" in Element does.
//
// Logs in (cross-signed), joins the room it shares with the bot, requests verification of the bot
// in that room (`requestVerificationDM`), starts SAS once the bot is ready, and prints the emojis
// it shows as one JSON line ({"step": "sas", ...}) for the test to compare with the bot's. Then it
// decides as the person would: `match` ("They match"), `mismatch` ("They don't match"), or `wait`
// (nothing: the bot's side must decide, or time out). Last, one JSON line ({"step": "end", ...})
// with how the flow ended and whether this client now sees the bot's identity as verified.
//
//   node verify_bot.mjs --homeserver URL --user @me:hs --password PW --room '!id:hs'|new \
//        --bot @opsbot:hs [--decide match|mismatch|wait] [--delay SECONDS] [--timeout 120]
//
// `--room new` makes a DM with the bot first, as Element does when there is none.

import { parseArgs } from "node:util";

import { crossSignedLogin, cryptoApi, joinEncrypted, sdk, until } from "./person.mjs";

const { values: args } = parseArgs({
    options: {
        homeserver: { type: "string" },
        user: { type: "string" },
        password: { type: "string" },
        room: { type: "string" },
        bot: { type: "string" },
        decide: { type: "string", default: "match" },
        delay: { type: "string", default: "0" },
        timeout: { type: "string", default: "120" },
    },
});
const deadline = Date.now() + Number(args.timeout) * 1000;
const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const { client, crypto } = await crossSignedLogin(args);

// What Element's user panel fetches before it offers "Verify": the bot's devices and identity.
const knowTheBot = () => until("the bot's devices and identity", async () => {
    const devices = (await crypto.getUserDeviceInfo([args.bot], true)).get(args.bot);
    return devices !== undefined && devices.size > 0 &&
        (await crypto.userHasCrossSigningKeys(args.bot, true));
}, deadline);

if (args.room === "new") {
    // What Element's "Verify" does without a DM: make one, invite the bot, and ask at once
    // (the bot is only invited when the request is sent).
    await client.startClient({ initialSyncLimit: 0 });
    await until("the first sync", () => client.isInitialSyncComplete(), deadline);
    await knowTheBot();
    const { room_id: roomId } = await client.createRoom({
        is_direct: true,
        preset: "trusted_private_chat",
        invite: [args.bot],
        initial_state: [{
            type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" },
        }],
    });
    args.room = roomId;
    await until("the encrypted DM", async () =>
        client.getRoom(roomId)?.getMyMembership() === "join" &&
        (await crypto.isEncryptionEnabledInRoom(roomId)), deadline);
} else {
    await joinEncrypted(client, crypto, args.room, deadline);
    await knowTheBot();
}

const { VerificationPhase, VerifierEvent } = cryptoApi;
// As soon as the client can: once it tracks the bot's identity (a member of the room, even
// one only invited), which in a DM made a moment ago takes a key query.
let request;
await until("the bot's identity tracked", async () => {
    try {
        request = await crypto.requestVerificationDM(args.bot, args.room);
        return true;
    } catch (e) {
        if (String(e?.message).startsWith("unknown userId")) return false;
        throw e;
    }
}, deadline);
say({ step: "requested", room: args.room });
await until("the bot's answer to the request", () =>
    [VerificationPhase.Ready, VerificationPhase.Cancelled].includes(request.phase), deadline);

let error = null;
let shown = null;
if (request.phase === VerificationPhase.Ready) {
    const verifier = await request.startVerification("m.sas.v1");
    const verifying = verifier.verify().then(() => null, (e) => e);
    let sas = null;
    verifier.on(VerifierEvent.ShowSas, (callbacks) => { sas = callbacks; });
    await until("the emojis", () => sas !== null || request.phase === VerificationPhase.Cancelled,
                deadline);
    if (sas !== null) {
        shown = { emoji: sas.sas.emoji ?? [], decimal: sas.sas.decimal ?? [] };
        say({ step: "sas", ...shown });
        // A person who takes a moment to compare (the operator may confirm first).
        await new Promise((resolve) => setTimeout(resolve, Number(args.delay) * 1000));
        if (args.decide === "match") await sas.confirm();
        else if (args.decide === "mismatch") sas.mismatch();
    }
    const failed = await verifying;
    error = failed ? String(failed.message ?? failed) : null;
}
if (request.phase === VerificationPhase.Cancelled && request.cancellingUserId === args.user) {
    // Our cancel is queued, not yet sent, when the flow ends here: wait for the homeserver's
    // echo of it, or the bot would never hear of it.
    const ourCancel = (e) =>
        e.getSender() === args.user && e.getType() === "m.key.verification.cancel" && !e.status;
    await until("our cancel sent", () =>
        client.getRoom(args.room).getLiveTimeline().getEvents().some(ourCancel), deadline);
}

// Once done, the client signs the bot's master key with its user-signing key and uploads the
// signature, so the person's other devices trust the bot too; give it a moment to do both.
const signedByMe = async () => {
    const answer = await client.http.authedRequest(sdk.Method.Post, "/keys/query", undefined, {
        device_keys: { [args.bot]: [] },
    });
    return args.user in (answer.master_keys?.[args.bot]?.signatures ?? {});
};
let status = await crypto.getUserVerificationStatus(args.bot);
let uploaded = false;
if (request.phase === VerificationPhase.Done) {
    try {
        await until("the bot's identity verified and signed", async () => {
            status = await crypto.getUserVerificationStatus(args.bot);
            uploaded = await signedByMe();
            return status.isCrossSigningVerified() && uploaded;
        }, Math.min(deadline, Date.now() + 15_000));
    } catch {
        // reported below as it is
    }
}
const phases = Object.fromEntries(
    Object.entries(VerificationPhase).filter(([, v]) => typeof v === "number").map(([k, v]) => [v, k]),
);
say({
    step: "end",
    phase: phases[request.phase],
    cancellationCode: request.cancellationCode ?? null,
    cancellingUserId: request.cancellingUserId ?? null,
    error,
    botVerified: status.isVerified(),
    botCrossSigningVerified: status.isCrossSigningVerified(),
    masterSignedByMe: uploaded,
});
client.stopClient();
process.exit(0);
