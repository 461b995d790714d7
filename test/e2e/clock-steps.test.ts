import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Clock } from "../../src/core/clock.js";
import { envelopes, httpDate, lastStored, openRequest, publishOk, request, sleep, waitFor, withServer, EPOCH, type Running } from "../support/helpers.js";

/**
 * The wall clock stepping back and forward under a running server (NTP steps, a VM restored),
 * injected through PushServer.start's `clock` — no privileges needed. Published messages keep
 * their order and their cursors work across the steps; stored messages published after a step
 * live their TTL.
 */

/** The real wall clock, moved by whole steps when the test says so. */
class SteppingClock implements Clock {
  private offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  step(ms: number): void {
    this.offset += ms;
  }
}

const HOUR = 3_600_000;

function cursorOf(app: Running, channel: string): string {
  const { time, tag } = lastStored(app, channel);
  return `tag=${tag}&time=${encodeURIComponent(httpDate(time))}`;
}

describe("clock steps", () => {
  test("ids, (time, tag) and seq keep growing over steps back and forward; a cursor from before a step gets exactly what came after", async () => {
    const clock = new SteppingClock();
    await withServer({}, async (app) => {
      const cursors: string[] = [];
      const steps = [0, -HOUR, 2 * HOUR, -90 * 60_000, -1000, 30_000];
      for (const [n, step] of steps.entries()) {
        clock.step(step);
        await publishOk(app, "c", `{"n":${n + 1}}`);
        await publishOk(app, "c", `{"n":${n + 1}.5}`);
        cursors.push(cursorOf(app, "c"));
      }
      const stored = app.push.ctx.history.read(app.push.ctx.store.find("c")!);
      const messages = Array.from({ length: stored.length }, (_, i) => stored.at(i)!);
      assert.deepEqual(messages.map((m) => m.id), Array.from({ length: 12 }, (_, i) => i + 1), "ids 1…12");
      for (let i = 1; i < messages.length; i++) {
        const [a, b] = [messages[i - 1]!, messages[i]!];
        assert.ok(b.time > a.time || (b.time === a.time && b.tag > a.tag), `message ${b.id} sorts after ${a.id}: ${a.time}/${a.tag} then ${b.time}/${b.tag}`);
        assert.ok(b.seq > a.seq);
      }
      // From the cursor after each step's pair: exactly the messages published after it, in order.
      for (const [k, cursor] of cursors.entries()) {
        if (k === cursors.length - 1) continue;
        const reply = await request(app.port(0), `/bitrix/sub?CHANNEL_ID=c&${cursor}`);
        assert.equal(reply.status, 200, cursor);
        assert.deepEqual(envelopes(reply.text).map((e) => e.id), Array.from({ length: 12 - 2 * (k + 1) }, (_, i) => 2 * (k + 1) + i + 1), `after step ${k}`);
      }
      // A long-poll from the newest cursor is held, and the next publish (after one more step back) ends it.
      const held = openRequest(app.port(0), `/bitrix/sub?CHANNEL_ID=c&${cursors.at(-1)}`);
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "the long-poll held");
      clock.step(-HOUR);
      await publishOk(app, "c", '"last"');
      const last = await held.reply;
      assert.deepEqual(envelopes(last.text).map((e) => [e.id, e.text]), [[13, "last"]]);
    }, { clock });
  });

  for (const [name, step] of [["back", -HOUR], ["forward", HOUR]] as const) {
    test(`a message published after a step ${name} by an hour lives its TTL: there at half of it, gone after it`, async () => {
      const clock = new SteppingClock();
      await withServer({ http: { messageTtl: "2s" } }, async (app) => {
        clock.step(step);
        await publishOk(app, "t", '"short-lived"');
        const fromStart = `/bitrix/sub?CHANNEL_ID=t&tag=0&time=${encodeURIComponent(EPOCH)}`;
        await sleep(1000);
        assert.deepEqual(envelopes((await request(app.port(0), fromStart)).text).map((e) => e.text), ["short-lived"], "stored at 1 s");
        await sleep(1500);
        assert.equal(app.push.ctx.history.storedMessages, 0, "expired after 2.5 s");
      }, { clock, sweepMs: 50 });
    });
  }

  // Found by this suite, not fixed here (see the issue 18 report): the timer wheel, and the
  // deadlines held connections keep, run on the wall clock, so a step back freezes every hold,
  // ping, header timeout and close wait for the length of the step; a step forward fires them all
  // at once. Timers need a monotonic time source apart from the stamps' wall clock.
  test.todo("a long-poll held when the wall clock steps back an hour still ends after its 1 s hold", async () => {
    const clock = new SteppingClock();
    await withServer({ sub: { longpollingConnectionTtl: "1s" } }, async (app) => {
      await publishOk(app, "h", '"x"');
      const asked = Date.now();
      const held = openRequest(app.port(0), `/bitrix/sub?CHANNEL_ID=h&${cursorOf(app, "h")}`, { timeoutMs: 4000 });
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "the long-poll held");
      clock.step(-HOUR);
      const reply = await held.reply;
      assert.equal(reply.status, 304);
      assert.ok(Date.now() - asked < 2500, `answered after ${Date.now() - asked} ms`);
    }, { clock });
  });
});
