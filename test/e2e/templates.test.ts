import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { bitrixLikeConfig, httpDate, lastStored, publishOk, request, start, waitFor, EPOCH } from "../support/helpers.js";

/** Message templates over the wire (PROTOCOL.md §5, BITRIX.md §3.3). */

const ALL_TOKENS = "~id~|~channel~|~TEXT~|~Size~|~tag~|~Time~|~event-id~|~EVENT-TYPE~";

function location(path: string, messageTemplate: string, subscriber = "polling"): Record<string, unknown> {
  return { path, subscriber, channelsPath: "$arg_id", messageTemplate, longpollingConnectionTtl: "2s" };
}

describe("templates over the wire", () => {
  test("all eight tokens, mixed case, render byte-exact", async () => {
    const app = await start(bitrixLikeConfig({ extraSubLocations: [location("/all", ALL_TOKENS)] }));
    try {
      const body = "hello wörld"; // 12 bytes in UTF-8
      await publishOk(app, "room", "first");
      await publishOk(app, "room", body, { "Event-Id": "ev-42", "Event-Type": "chat" });
      const m = lastStored(app, "room");
      const reply = await request(app.port(0), "/all?id=room.b1");
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.body, Buffer.from(`2|room|${body}|12|${m.tag}|${httpDate(m.time)}|ev-42|chat`));
      assert.equal(reply.headers["etag"], `W/${m.tag}`);
      assert.equal(reply.headers["last-modified"], httpDate(m.time));

      // Without Event-Id/Event-Type those tokens render empty.
      await publishOk(app, "room", "plain");
      const p = lastStored(app, "room");
      const plain = await request(app.port(0), "/all?id=room.b1");
      assert.equal(plain.text, `3|room|plain|5|${p.tag}|${httpDate(p.time)}||`);
    } finally {
      await app.close();
    }
  });

  test("binary-safe ~text~ and byte-counting ~size~", async () => {
    const app = await start(bitrixLikeConfig({ extraSubLocations: [location("/sz", "[~size~:~text~]")] }));
    try {
      const bytes = Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x7e, 0xc3, 0xa9]);
      const reply0 = await request(app.port(1), "/bitrix/pub/?CHANNEL_ID=bin", { method: "POST", body: bytes });
      assert.equal(reply0.status, 200);
      const reply = await request(app.port(0), "/sz?id=bin.b1");
      assert.deepEqual(reply.body, Buffer.concat([Buffer.from("[7:"), bytes, Buffer.from("]")]));
    } finally {
      await app.close();
    }
  });

  test("two locations with different templates get the same message each in its own format", async () => {
    const app = await start(bitrixLikeConfig({
      extraSubLocations: [
        location("/t1", "[~text~]", "long-polling"),
        location("/t2", '{"c":"~channel~","id":~id~,"t":"~text~"}', "long-polling"),
      ],
    }));
    try {
      await publishOk(app, "ch", '{"k":0}'); // authorizes ch for the Bitrix location
      const m0 = lastStored(app, "ch");
      const pendings = [
        request(app.port(0), "/t1?id=ch"),
        request(app.port(0), "/t2?id=ch"),
        request(app.port(0), `/bitrix/sub?CHANNEL_ID=ch&tag=${m0.tag}&time=${encodeURIComponent(httpDate(m0.time))}`),
      ];
      await waitFor(() => app.push.ctx.held.size === 3, 2000, "three long-polls held");
      await publishOk(app, "ch", '{"k":1}');
      const m = lastStored(app, "ch");
      const [r1, r2, r3] = await Promise.all(pendings);
      assert.equal(r1!.status, 200);
      assert.equal(r1!.text, '[{"k":1}]');
      assert.equal(r2!.text, '{"c":"ch","id":2,"t":"{"k":1}"}');
      assert.equal(r3!.text, `#!NGINXNMS!#{"id":2,"channel":"ch","tag":"${m.tag}","time":"${httpDate(m.time)}","eventid":"","text":{"k":1}}#!NGINXNME!#`);
      for (const r of [r1!, r2!, r3!]) assert.equal(r.headers["etag"], `W/${m.tag}`);

      // Catch-up renders the same bytes as live delivery.
      const again = await request(app.port(0), "/t2?id=ch.b1");
      assert.equal(again.text, r2!.text);
    } finally {
      await app.close();
    }
  });

  test("token-like text inside a body is not expanded", async () => {
    const app = await start(bitrixLikeConfig({
      extraSubLocations: [location("/t1", "[~text~]"), location("/all", ALL_TOKENS)],
    }));
    try {
      const body = "a~id~b~TEXT~c~time~d~tag~e~channel~f~size~g";
      await publishOk(app, "ch", body, { "Event-Id": "~id~", "Event-Type": "~text~" });
      const m = lastStored(app, "ch");
      const plain = await request(app.port(0), "/t1?id=ch.b1");
      assert.equal(plain.text, `[${body}]`);
      const all = await request(app.port(0), "/all?id=ch.b1");
      assert.equal(all.text, `1|ch|${body}|${Buffer.byteLength(body)}|${m.tag}|${httpDate(m.time)}|~id~|~text~`);
    } finally {
      await app.close();
    }
  });

  test("special messages go through the template: id -3 timeout with ~time~ at the epoch", async () => {
    const app = await start(bitrixLikeConfig({
      http: { timeoutWithBody: true },
      extraSubLocations: [{ ...location("/sp", ALL_TOKENS, "long-polling"), longpollingConnectionTtl: "1s" }],
    }));
    try {
      const reply = await request(app.port(0), "/sp?id=quiet");
      assert.equal(reply.status, 200);
      assert.equal(reply.text, `-3||Timed out|9|0|${EPOCH}||`);
    } finally {
      await app.close();
    }
  });
});
