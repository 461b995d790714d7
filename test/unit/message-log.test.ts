import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { FsyncPolicy } from "../../src/config/schema.js";
import { ManualClock } from "../../src/core/clock.js";
import type { Message } from "../../src/core/message.js";
import { midText } from "../../src/core/mid.js";
import { Logger } from "../../src/log.js";
import { listLogFiles, segmentName } from "../../src/persist/log-files.js";
import { loggedChannels } from "../../src/persist/logged-channels.js";
import { RecordReader } from "../../src/persist/record.js";
import type { PublishOptions } from "../../src/store/broker.js";
import type { StoreLimits } from "../../src/store/channel-store.js";
import { channelOf, T0, testLimits } from "../support/store.js";

const root = mkdtempSync(join(tmpdir(), "pushwire-log-"));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `log-${++dirs}`);
const silent = new Logger("silent");

type Opened = ReturnType<typeof loggedChannels> & { clock: ManualClock };

function open(dir: string, clock = new ManualClock(T0), limits: Partial<StoreLimits> = {}, fsync: FsyncPolicy = "batch", segmentSize = 1 << 20): Opened {
  return { ...loggedChannels(testLimits(limits), clock, "", { path: dir, fsync, segmentSize, compactMinBytes: 1 }, silent), clock };
}

const stored: PublishOptions = { eventId: "", eventType: "", store: true };

function publish(log: Opened, id: string, text: string, options: Partial<PublishOptions> = {}): Message {
  return log.broker.publish([channelOf(log.store, id)], Buffer.from(text), { ...stored, ...options })[0]!;
}

function durable(log: Opened): Promise<void> {
  return new Promise((resolve, reject) => log.broker.whenDurable((_: undefined, failure) => (failure ? reject(new Error(failure.explain)) : resolve()), undefined));
}

/** Every channel's stored messages as comparable rows. */
function state(log: Opened): string[] {
  const rows: string[] = [];
  for (const channel of log.store.all()) {
    rows.push(`${channel.id} last=${channel.lastMessageId}`);
    const ring = log.history.read(channel);
    for (let i = 0; i < ring.length; i++) {
      const m = ring.at(i)!;
      rows.push(`  ${m.id} ${m.time}/${m.tag} seq=${m.seq} ${m.text.toString()} ev=${m.eventId}:${m.eventType} exp=${m.expiresAt} mid=${m.push2 ? midText(m.push2.mid) : "-"} sender=${m.push2?.sender ? `${m.push2.sender.type}:${[...m.push2.sender.id]}` : "-"}`);
    }
  }
  return rows.sort();
}

test("message log: a reopened log has every channel as it was; ids, stamps and mids continue above", async () => {
  const dir = freshDir();
  const first = open(dir);
  publish(first, "a", "one", { eventId: "e1", eventType: "t" });
  publish(first, "a", "two", { ttl: 60 });
  publish(first, "b", "three");
  first.broker.publish([channelOf(first.store, "a")], Buffer.from("not kept"), { ...stored, store: false });
  first.broker.publish([channelOf(first.store, "p"), channelOf(first.store, "q")], Buffer.from("push2"), {
    ...stored, push2: { sender: { type: 2, id: new Uint8Array([7, 7]) }, expiry: 100 },
  });
  publish(first, "gone", "x");
  first.broker.delete(first.store.find("gone")!);
  await durable(first);
  const before = state(first);
  const lastStamp = first.broker.sequencer.publishClock;
  const [lastTime, lastSeq] = [lastStamp.time, lastStamp.seq];
  const lastMid = first.broker.sequencer.mids.last!;
  first.messageLog.close();

  const second = open(dir);
  assert.deepEqual(state(second), before);
  assert.equal(second.store.find("gone"), undefined, "a deleted channel stays deleted");
  assert.equal(second.restored.channels, 4);
  assert.equal(second.restored.messages, 5);
  assert.equal(second.history.epoch, first.history.epoch, "nothing lost: the epoch stays");
  const next = publish(second, "a", "four");
  assert.equal(next.id, 4, "the passed (unstored) publish counted too");
  assert.ok(next.time > lastTime, "a later second than any logged stamp, even within the same second of the clock");
  assert.ok(next.seq > lastSeq);
  const [midMessage] = second.broker.publish([channelOf(second.store, "p")], Buffer.from("again"), { ...stored, push2: { sender: undefined, expiry: 10 } });
  assert.ok(midMessage!.push2!.mid.compare(lastMid) > 0, "mids keep growing");
  assert.equal(publish(second, "gone", "reborn").id, 1, "a deleted channel's id restarts");
  second.messageLog.close();
});

test("message log: expired messages and the ring size are respected at replay", async () => {
  const dir = freshDir();
  const first = open(dir, undefined, { maxMessagesStoredPerChannel: 3 });
  for (let i = 1; i <= 5; i++) publish(first, "ring", `m${i}`);
  publish(first, "short", "soon gone", { ttl: 5 });
  publish(first, "short", "stays", { ttl: 500 });
  await durable(first);
  first.messageLog.close();
  const clock = new ManualClock(T0 + 10_000);
  const second = open(dir, clock, { maxMessagesStoredPerChannel: 3 });
  const ring = second.history.read(second.store.find("ring")!);
  assert.deepEqual(Array.from({ length: ring.length }, (_, i) => ring.at(i)!.text.toString()), ["m3", "m4", "m5"]);
  assert.equal(second.store.find("ring")!.lastMessageId, 5);
  const short = second.history.read(second.store.find("short")!);
  assert.deepEqual(Array.from({ length: short.length }, (_, i) => short.at(i)!.text.toString()), ["stays"]);
  assert.equal(second.restored.expired, 1);
  second.messageLog.close();
});

/** Record boundaries of a log file. */
function boundaries(path: string): number[] {
  const bytes = readFileSync(path);
  const reader = new RecordReader();
  reader.reset(bytes);
  const ends = [0];
  while (reader.next() === "record") ends.push(reader.offset);
  return ends;
}

test("message log: a write torn at any byte of the last records is cut off; replay keeps every whole record", async () => {
  const dir = freshDir();
  const first = open(dir, undefined, {}, "always");
  for (let i = 1; i <= 4; i++) publish(first, "t", `message number ${i}`);
  await durable(first);
  first.messageLog.close();
  const segment = join(dir, segmentName(listLogFiles(dir).segments.at(-1)!));
  const ends = boundaries(segment);
  const fullSize = statSync(segment).size;
  assert.equal(ends.at(-1), fullSize);
  const copy = freshDir();
  for (let cut = ends.at(-4)!; cut <= fullSize; cut++) {
    rmSync(copy, { recursive: true, force: true });
    mkdirSync(copy);
    for (const name of readdirSync(dir)) if (name !== "pushwire.pid") copyFileSync(join(dir, name), join(copy, name));
    truncateSync(join(copy, segmentName(listLogFiles(copy).segments.at(-1)!)), cut);
    const reopened = open(copy);
    const whole = ends.filter((end) => end > 0 && end <= cut).length - 1; // the first record is the epoch
    const channel = reopened.store.find("t");
    assert.equal(channel ? reopened.history.count(channel) : 0, whole, `cut at ${cut}`);
    assert.equal(reopened.restored.report.tornBytes, cut - ends.filter((end) => end <= cut).at(-1)!, `cut at ${cut}`);
    const cutAt = ends.filter((end) => end <= cut).at(-1)!;
    const rewritten = join(copy, segmentName(listLogFiles(copy).segments[0]!));
    assert.ok(boundaries(rewritten).includes(cutAt), `cut at ${cut}: the tail is cut off at ${cutAt}, and new records follow the last whole one`);
    // Writing on after the cut: the next id follows the last whole record.
    assert.equal(publish(reopened, "t", "after").id, whole + 1);
    await durable(reopened);
    reopened.messageLog.close();
    const again = open(copy);
    assert.equal(again.history.count(again.store.find("t")!), whole + 1, `cut at ${cut}: nothing lost after the cut`);
    again.messageLog.close();
  }
});

test("message log: a damaged segment in the middle is skipped, counted, and starts a new epoch", async () => {
  const dir = freshDir();
  const first = open(dir, undefined, {}, "off", 4096);
  for (let i = 1; i <= 200; i++) {
    publish(first, `c${i % 10}`, `message ${i} ${"x".repeat(40)}`);
    if (i % 20 === 0) await durable(first); // one write per turn: segments rotate between writes
  }
  const epoch = first.history.epoch;
  first.messageLog.close();
  const segments = listLogFiles(dir).segments;
  assert.ok(segments.length >= 3, `several segments: ${segments.length}`);
  const victim = join(dir, segmentName(segments[0]!));
  const bytes = readFileSync(victim);
  bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
  writeFileSync(victim, bytes);
  const second = open(dir);
  const report = second.restored.report;
  assert.equal(report.damagedFiles, 1);
  assert.ok(report.skippedBytes > 0 && report.skippedBytes < bytes.length);
  assert.match(report.notes.join("\n"), /00000001\.seg: damaged at byte \d+; \d+ bytes skipped/);
  assert.notEqual(second.history.epoch, epoch, "a gap: new epoch");
  assert.ok(second.restored.messages > 100 && second.restored.messages < 200, `${second.restored.messages} restored`);
  second.messageLog.close();
});

test("message log: compaction keeps exactly the live state, in slices, while publishes go on", async () => {
  const dir = freshDir();
  const first = open(dir, undefined, { maxMessagesStoredPerChannel: 5 }, "batch", 64 * 1024);
  for (let i = 0; i < 3000; i++) publish(first, `ch${i % 300}`, `body ${i}`, i % 7 === 0 ? { ttl: 1 } : {});
  for (let i = 0; i < 20; i++) first.broker.delete(first.store.find(`ch${i}`)!);
  await durable(first);
  first.clock.advance(2000);
  first.broker.sweep(); // the ttl=1 messages go
  const sizeBefore = first.messageLog.logBytes;
  const compaction = first.messageLog.compact();
  // Publishes while the snapshot is being written land in the new segment only.
  for (let i = 0; i < 50; i++) publish(first, `ch${100 + i}`, `during ${i}`);
  await compaction;
  await durable(first);
  const files = listLogFiles(dir);
  assert.equal(files.snapshots.length, 1);
  assert.ok(files.segments.every((segment) => segment >= files.snapshots[0]!), "older segments deleted");
  assert.ok(first.messageLog.logBytes < sizeBefore / 2, `log ${sizeBefore} → ${first.messageLog.logBytes} bytes`);
  const before = state(first);
  first.messageLog.close();
  const second = open(dir, first.clock, { maxMessagesStoredPerChannel: 5 });
  assert.deepEqual(state(second), before);
  assert.equal(second.restored.report.files, 1 + listLogFiles(dir).segments.length, "the snapshot and the segments after it; a restart writes on in the last segment");
  second.messageLog.close();
});

test("message log: whenDurable answers after the write for every policy, in order", async () => {
  for (const fsync of ["always", "batch", "off"] as const) {
    const log = open(freshDir(), undefined, {}, fsync);
    const answered: number[] = [];
    for (let i = 0; i < 5; i++) {
      publish(log, "a", `m${i}`);
      log.broker.whenDurable((n: number) => answered.push(n), i);
    }
    assert.deepEqual(answered, [], `${fsync}: nothing answered before the write`);
    await durable(log);
    assert.deepEqual(answered, [0, 1, 2, 3, 4], fsync);
    assert.ok(log.messageLog.logBytes > 0);
    if (fsync !== "off") assert.ok(log.messageLog.fsyncLatency.count > 0, `${fsync}: fsyncs measured`);
    log.messageLog.close();
  }
});
