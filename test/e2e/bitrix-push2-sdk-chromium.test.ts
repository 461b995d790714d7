import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { waitFor } from "../support/helpers.js";
import { push2Of } from "../../src/bitrix-push2/state.js";
import { Push2Channels, push2ConfigResult } from "../support/bitrix-push2-site.js";
import { assertPush2Received, bitrixPush2Scenarios, siteSigner, withPush2Scene } from "../support/bitrix-push2-scenarios.js";
import { chromiumForSuite } from "../support/chromium-pull-client.js";
import { browserSkipReason } from "../support/chromium-path.js";

/**
 * Bitrix's own pull client with server version 4 in headless Chromium (the browser's own
 * XMLHttpRequest with `arraybuffer` responses, WebSocket with binary frames, CORS) against the
 * bitrix-push2 layout. Skipped, with the reason, where there is no Chromium (test/support/chromium-path.ts).
 */

const skip = browserSkipReason();

describe("Bitrix pull client (b24jssdk), server version 4, in Chromium", { skip }, () => {
  const factory = chromiumForSuite();

  bitrixPush2Scenarios(factory);

  test("v4-6. [websocket] two browsers: one publishes to the other's public channel over its WebSocket, the other's handler gets it", { timeout: 60_000 }, async () => {
    await withPush2Scene(factory, { transport: "websocket" }, async ({ app, client: alice }) => {
      const bobChannels = new Push2Channels(siteSigner);
      const bob = await factory(() => push2ConfigResult(bobChannels, { host: "127.0.0.1", subPort: app.port(0), websocket: true }));
      try {
        await waitFor(() => (app.push.ctx.store.find(`public:${bobChannels.publicId}`)?.subscribers.size ?? 0) === 1, 10_000, "bob connected");
        await alice.sendToChannels([bobChannels.signedPublic], "im", "typing", { n: 11 });
        await waitFor(() => push2Of(app.push.ctx).publishedFromClients === 1, 5000, "the server got alice's message");
        await assertPush2Received(bob, [11]);
        assert.equal(bob.received[0]!.fromClient, true, "handed to the client-event subscription (sender type CLIENT)");
        assert.equal(alice.received.filter((e) => e.moduleId === "im").length, 0, "only bob's channel got it");
      } finally {
        await bob.close();
      }
    });
  });
});
