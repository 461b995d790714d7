import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { publishOk, waitFor, withServer, type BitrixLikeOptions, type Running } from "../support/helpers.js";
import { expectedPadding } from "../support/padding-steps.js";
import { openStream, type StreamResponse } from "../support/stream-client.js";

/**
 * Padding by user agent (PROTOCOL.md §8.7; push-stream's padding_by_user_agent_spec.rb) over real
 * sockets: streaming and EventSource are padded, long-polling never is.
 */

const HEADER = "0123456789";

function locations(mode: "streaming" | "eventsource", extra: Record<string, unknown>): BitrixLikeOptions {
  return {
    extraSubLocations: [{
      path: "/sub",
      subscriber: mode,
      channelsPath: "$arg_id",
      subscriberConnectionTtl: "500ms",
      ...extra,
    }, {
      path: "/lp",
      subscriber: "long-polling",
      channelsPath: "$arg_id",
      longpollingConnectionTtl: "500ms",
      ...extra,
    }],
  };
}

/** Opens a subscriber and waits until it is registered (the only one); the TTL ends it. */
async function subscribe(app: Running, path: string, userAgent?: string): Promise<StreamResponse> {
  const { response } = openStream(app.port(0), path, { headers: userAgent === undefined ? {} : { "User-Agent": userAgent } });
  await waitFor(() => app.push.ctx.held.size === 1, 2000, `${path} to be subscribed`);
  return response;
}

/** The whole body once the TTL ended the stream with `0\r\n\r\n`. */
async function wholeBody(response: StreamResponse): Promise<string> {
  const body = await response.untilEnd();
  assert.equal(response.status, 200);
  assert.equal(response.ended, "terminator");
  return body;
}

for (const mode of ["streaming", "eventsource"] as const) {
  const es = mode === "eventsource";
  /** What the mode makes of the header template `0123456789` (3 more bytes for `: …\n`). */
  const header = es ? `: ${HEADER}\n` : HEADER;
  const emptyHeader = es ? ": \n" : "";
  const messageOf = (text: string): string => (es ? `data: ${text}\n\n` : text);
  const pad = (size: number): string => (es ? ":".repeat(size - 1) + "\n" : (size % 2 ? "\n" : "") + "\r\n".repeat(size >> 1));

  describe(`padding by user agent over ${mode}`, () => {
    test("spec: the header gets 1100 bytes of padding for Test 1, 4097 for Test 2, none for Test 3", async () => {
      await withServer(locations(mode, { headerTemplate: HEADER, paddingByUserAgent: "[T|t]est 1,1024,508:[T|t]est 2,4097,0" }), async (app) => {
        const expected: Array<[string, string]> = [
          ["Test 1", header + pad(1100)],
          ["Test 2", header + pad(4097)],
          ["Test 3", header],
        ];
        for (const [ua, body] of expected) {
          const sub = await subscribe(app, "/sub?id=ch", ua);
          assert.equal(await wholeBody(sub), body, ua);
          assert.equal(sub.ended, "terminator");
        }
      });
    });

    test("spec: a 10-byte message is padded with 500 bytes (M=508) for Test 1 only", async () => {
      await withServer(locations(mode, { paddingByUserAgent: "[T|t]est 1,0,508" }), async (app) => {
        const rendered = messageOf(HEADER);
        // The padding counts from the rendered message (10 bytes streaming, 18 EventSource): 500 either way.
        for (const [ua, body] of [["Test 1", emptyHeader + rendered + pad(500)], ["Test 2", emptyHeader + rendered], ["Test 3", emptyHeader + rendered]] as const) {
          const sub = await subscribe(app, "/sub?id=ch", ua);
          await publishOk(app, "ch", HEADER);
          assert.equal(await wholeBody(sub), body, ua);
        }
      });
    });

    test("spec: message sizes against M=545 get 545/500/400/300/200/100/0 bytes", async () => {
      await withServer(locations(mode, { paddingByUserAgent: "[T|t]est 1,0,545" }), async (app) => {
        const delta = es ? 8 : 0; // "data: " + "\n\n"
        for (const size of [1, 105, 221, 331, 435, 502, 550]) {
          const text = "_".repeat(size);
          const sub = await subscribe(app, "/sub?id=ch", "Test 1");
          await publishOk(app, "ch", text);
          const expected = expectedPadding(size + delta, 545, 545);
          const body = await wholeBody(sub);
          assert.equal(body, emptyHeader + messageOf(text) + (expected ? pad(expected) : ""), `message of ${size} bytes`);
        }
      });
    });

    const BY_ARG = { headerTemplate: HEADER, paddingByUserAgent: "[T|t]est 1,1024,512", userAgent: "$arg_ua" };

    test("userAgent: \"$arg_ua\" replaces the User-Agent header", async () => {
      await withServer(locations(mode, { ...BY_ARG, paddingByUserAgent: "[T|t]est_1,1024,512" }), async (app) => {
        // The header does not count any more: only the argument does (max 1024 → 1024 bytes).
        const byHeader = await subscribe(app, "/sub?id=ch", "Test_1");
        assert.equal(await wholeBody(byHeader), header);
        const matching = await subscribe(app, "/sub?id=ch&ua=my_test_1", "Browser");
        assert.equal(await wholeBody(matching), header + pad(1024));
        const other = await subscribe(app, "/sub?id=ch&ua=Test_2", "Test_1");
        assert.equal(await wholeBody(other), header);
      });
    });

    test("spec: the userAgent value is percent-decoded (`?ua=test%201` matches `[T|t]est 1`)", async () => {
      await withServer(locations(mode, BY_ARG), async (app) => {
        const encoded = await subscribe(app, "/sub?id=ch&ua=test%201", "Browser");
        assert.equal(await wholeBody(encoded), header + pad(1024));
      });
    });

    test("catch-up messages are padded like live ones", async () => {
      await withServer(locations(mode, { paddingByUserAgent: "[T|t]est 1,0,100" }), async (app) => {
        await publishOk(app, "ch", "old 1");
        await publishOk(app, "ch", "old 2");
        const sub = await subscribe(app, "/sub?id=ch.b2", "Test 1");
        await publishOk(app, "ch", "new");
        const piece = (text: string): string => messageOf(text) + pad(expectedPadding(messageOf(text).length, 100, 100));
        assert.equal(await wholeBody(sub), emptyHeader + piece("old 1") + piece("old 2") + piece("new"));
      });
    });

    if (!es) {
      test("a streaming ping is a message like any other: padded to M", async () => {
        await withServer(locations(mode, { messageTemplate: "~id~:~text~|", pingMessageInterval: "200ms", paddingByUserAgent: "[T|t]est 1,0,100" }), async (app) => {
          const sub = await subscribe(app, "/sub?id=ch", "Test 1");
          // "-1: |" is 5 bytes: 95 missing → the 100-byte piece.
          await sub.untilLength(105, 2000);
          assert.equal(sub.text.slice(0, 105), "-1: |" + pad(100));
        });
      });
    }

    if (!es) {
      test("an empty header template is not padded (push-stream pads the header only when there is one)", async () => {
        await withServer(locations(mode, { paddingByUserAgent: "[T|t]est 1,1024,508" }), async (app) => {
          const sub = await subscribe(app, "/sub?id=ch", "Test 1");
          await publishOk(app, "ch", HEADER);
          assert.equal(await wholeBody(sub), HEADER + pad(500));
        });
      });
    }

    if (es) {
      test("the `: -1` ping is not padded (push-stream writes it as is)", async () => {
        await withServer(locations(mode, { pingMessageInterval: "200ms", paddingByUserAgent: "[T|t]est 1,0,100" }), async (app) => {
          const sub = await subscribe(app, "/sub?id=ch", "Test 1");
          assert.equal(await wholeBody(sub), ": \n" + ": -1\n".repeat((sub.text.length - 3) / 5));
          assert.ok(sub.text.includes(": -1\n"), "at least one ping in 500 ms");
        });
      });

      test("an event is padded by its data lines alone, not its id:/event: lines", async () => {
        await withServer(locations(mode, { paddingByUserAgent: "[T|t]est 1,0,100" }), async (app) => {
          const sub = await subscribe(app, "/sub?id=ch", "Test 1");
          // data part "data: x\n\n" is 9 bytes: 91 missing → the 100-byte piece, whatever the id line adds.
          await publishOk(app, "ch", "x", { "Event-Id": "an-event-id-of-some-length", "Event-Type": "kind" });
          assert.equal(await wholeBody(sub), ": \nid: an-event-id-of-some-length\nevent: kind\ndata: x\n\n" + pad(100));
        });
      });
    }

    test("no padding without a User-Agent or on a long-poll of the same rules", async () => {
      await withServer(locations(mode, { headerTemplate: HEADER, paddingByUserAgent: "[T|t]est 1,1024,508" }), async (app) => {
        const noUa = await subscribe(app, "/sub?id=ch");
        assert.equal(await wholeBody(noUa), header);
        // Long-polling never pads (push-stream pads streaming and EventSource only).
        const { response: lp } = openStream(app.port(0), "/lp?id=ch", { headers: { "User-Agent": "Test 1" } });
        await waitFor(() => app.push.ctx.held.size === 1, 2000, "the long-poll to be held");
        await publishOk(app, "ch", "msg");
        const body = await lp.untilEnd();
        assert.equal(lp.status, 200);
        assert.equal(body, HEADER + "msg");
        // …nor does a streaming location asked to long-poll with X-Nginx-PushStream-Mode.
        const { response: asked } = openStream(app.port(0), "/sub?id=ch", { headers: { "User-Agent": "Test 1", "X-Nginx-PushStream-Mode": "long-polling" } });
        await waitFor(() => app.push.ctx.held.size === 1, 2000, "the long-poll to be held");
        await publishOk(app, "ch", "msg2");
        assert.equal(await asked.untilEnd(), HEADER + "msg2");
      });
    });
  });
}
