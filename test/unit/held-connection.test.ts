import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Message } from "../../src/core/message.js";
import { HeldConnection } from "../../src/hold/held-connection.js";
import type { Channel } from "../../src/store/channel.js";
import { testContext } from "../support/context.js";
import { channelOf, T0 } from "../support/store.js";

/** The smallest held connection: it records what reaches it and releases on every ending. */
class Probe extends HeldConnection {
  readonly mode = "probe";
  readonly received: string[] = [];
  releasedCount = 0;

  start(holdMs: number): void {
    this.join();
    this.ctx.wheel.schedule(this, this.ctx.clock.now() + holdMs);
  }
  onMessage(channel: Channel, message: Message): void {
    this.received.push(`${channel.id}:${message.text}`);
  }
  onChannelDeleted(channel: Channel): void {
    this.received.push(`${channel.id}:deleted`);
    this.leaveChannel(channel);
  }
  onWheelExpire(): void {
    this.received.push("expired");
    this.release();
  }
  shutdown(): void {
    this.release();
  }
  abort(): void {
    this.release();
  }
  end(): boolean {
    return this.release();
  }
  protected override released(): void {
    this.releasedCount++;
  }
}

const STORE = { eventId: "", eventType: "", store: true };

function setup() {
  const { ctx } = testContext();
  const a = channelOf(ctx.store, "a");
  const b = channelOf(ctx.store, "b");
  const probe = new Probe(ctx, [a, b]);
  return { ctx, a, b, probe };
}

describe("HeldConnection", () => {
  test("from join to release it is on its channels, in the held set and on the wheel; release undoes all three", () => {
    const { ctx, a, b, probe } = setup();
    assert.equal(probe.holding, false);
    probe.start(1000);
    assert.equal(probe.holding, true);
    assert.deepEqual([a.subscribers.has(probe), b.subscribers.has(probe)], [true, true]);
    assert.equal(ctx.hub.subscriptions, 2);
    assert.ok(ctx.held.has(probe));
    assert.equal(ctx.wheel.size, 1);
    ctx.broker.publish([a, b], Buffer.from("m"), STORE);
    assert.deepEqual(probe.received, ["a:m", "b:m"]);

    assert.equal(probe.end(), true);
    assert.equal(probe.holding, false);
    assert.deepEqual([a.subscribers.size, b.subscribers.size, ctx.hub.subscriptions, ctx.held.size, ctx.wheel.size], [0, 0, 0, 0, 0]);
    ctx.broker.publish([a], Buffer.from("late"), STORE);
    assert.deepEqual(probe.received, ["a:m", "b:m"], "nothing after release");
  });

  test("release happens once: a second ending (timeout after abort, shutdown after timeout) is a no-op", () => {
    const { ctx, probe } = setup();
    probe.start(1000);
    probe.abort();
    assert.equal(probe.end(), false);
    probe.shutdown();
    assert.equal(probe.releasedCount, 1);
    ctx.wheel.advance(T0 + 5000);
    assert.deepEqual(probe.received, [], "the cancelled hold never fires");
  });

  test("a connection that never joined cannot be released", () => {
    const { ctx, probe } = setup();
    assert.equal(probe.end(), false);
    assert.equal(probe.releasedCount, 0);
    assert.equal(ctx.held.size, 0);
  });

  test("the hold expires on the wheel and releases", () => {
    const { ctx, probe } = setup();
    probe.start(1000);
    ctx.wheel.advance(T0 + 500);
    assert.deepEqual(probe.received, []);
    ctx.wheel.advance(T0 + 1200);
    assert.deepEqual(probe.received, ["expired"]);
    assert.equal(probe.releasedCount, 1);
    assert.equal(ctx.held.size, 0);
  });

  test("a deleted channel is left alone; the others keep delivering until release", () => {
    const { ctx, a, b, probe } = setup();
    probe.start(1000);
    ctx.broker.delete(a);
    assert.deepEqual(probe.received, ["a:deleted"]);
    assert.deepEqual(probe.channels.map((c) => c.id), ["b"]);
    assert.equal(ctx.hub.subscriptions, 1);
    ctx.broker.publish([b], Buffer.from("still"), STORE);
    assert.deepEqual(probe.received, ["a:deleted", "b:still"]);
    probe.end();
    assert.equal(ctx.hub.subscriptions, 0);
  });
});
