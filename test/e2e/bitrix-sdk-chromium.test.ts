import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { envelopes } from "../support/helpers.js";
import { assertReceived, bitrixScenarios, withScene } from "../support/bitrix-scenarios.js";
import { chromiumForSuite } from "../support/chromium-pull-client.js";
import { browserSkipReason } from "../support/chromium-path.js";

/**
 * Bitrix's own pull client (`@bitrix24/b24jssdk` PullClient, bundled by esbuild at run time) in
 * headless Chromium against the built-in BitrixVM layout: the browser's own XMLHttpRequest,
 * WebSocket, CORS and localStorage. Skipped, with the reason, where there is no Chromium
 * (test/support/chromium-path.ts).
 */

const skip = browserSkipReason();

interface XhrLike {
  status: number;
  responseText: string;
  onloadend: (() => void) | null;
  open(method: string, url: string): void;
  setRequestHeader(name: string, value: string): void;
  send(): void;
}

describe("Bitrix pull client (b24jssdk) in Chromium", { skip }, () => {
  const factory = chromiumForSuite();

  bitrixScenarios(factory);

  test("7. [long-polling] CORS: the page's origin is not pushwire's; long-polls work, and so does the old client's preflighted poll", { timeout: 60_000 }, async () => {
    await withScene(factory, { transport: "long-polling" }, async ({ app, site, channels, client }) => {
      const subscriberOrigin = `http://127.0.0.1:${app.port(0)}`;
      assert.notEqual(client.origin, subscriberOrigin);
      await site.publish([channels.private], "message", { n: 1 });
      await assertReceived(client, [1]);
      assert.ok(client.wire.some((w) => w.status === 200 && w.url.startsWith(`${subscriberOrigin}/bitrix/sub/?CHANNEL_ID=`)), "a cross-origin 200");

      // BX.PULL (BITRIX.md §3.1) sends If-Modified-Since/If-None-Match: not CORS-safelisted, so
      // the browser sends an OPTIONS preflight first, which pushwire's allowed headers must pass.
      const time = new Date(2022, 2, 19).toUTCString();
      const poll = (headers: Record<string, string>) => client.page.evaluate(async ({ url, headers }) => {
        const X = (globalThis as unknown as { XMLHttpRequest: new () => XhrLike }).XMLHttpRequest;
        return new Promise<{ status: number; body: string }>((done) => {
          const xhr = new X();
          xhr.open("GET", url);
          for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
          xhr.onloadend = () => done({ status: xhr.status, body: xhr.responseText });
          xhr.send();
        });
      }, { url: `${subscriberOrigin}/bitrix/sub/?CHANNEL_ID=${channels.private}/${channels.shared}&tag=1&time=${time}&rnd=${Date.now()}`, headers });

      const old = await poll({ "If-Modified-Since": time, "If-None-Match": "1" });
      assert.equal(old.status, 200);
      assert.deepEqual(envelopes(old.body).map((e) => (e.text as { command: string }).command), ["open", "open", "message"]);
      // A header push-stream does not allow fails the preflight, and the browser reports status 0.
      const refused = await poll({ "X-Requested-With": "XMLHttpRequest" });
      assert.equal(refused.status, 0);
    });
  });
});
