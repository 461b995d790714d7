import { test } from "node:test";
import assert from "node:assert/strict";
import { bitrixLikeConfig, envelopes, publish, request, start, EPOCH } from "../support/helpers.js";

test("publish then catch up over real sockets", async () => {
  const app = await start(bitrixLikeConfig());
  try {
    const pub = await publish(app.port(1), "abc", '{"a":1}');
    assert.equal(pub.status, 200);
    const sub = await request(app.port(0), `/bitrix/sub?CHANNEL_ID=abc&tag=0&time=${encodeURIComponent(EPOCH)}`);
    assert.equal(sub.status, 200);
    assert.deepEqual(envelopes(sub.text).map((e) => e.text), [{ a: 1 }]);
  } finally {
    await app.close();
  }
});
