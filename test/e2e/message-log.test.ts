import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EPOCH, EXPLAIN, openRequest, sleep } from "../support/helpers.js";
import { launch } from "../support/launch.js";
import {
  assertContiguous, channelInfo, compareStamps, inParallel, killHard, logLayout, parseStored, publishTo, readChannel, recordEnds,
  restoredCounts, runToExit, segmentFiles, startServer, writeConfig, type LogServer, type Stored,
} from "../support/message-log-helpers.js";
import { Prng } from "../support/prng.js";

/**
 * The message log (issue 14) over real processes: kill -9 under load, torn writes at every byte
 * of the last records, a restart within the same second, deletions and TTL across a restart, a
 * full disk (a file-size limit) and its recovery, the directory lock, and the memory-only line.
 */

const scratch = mkdtempSync(join(tmpdir(), "pushwire-log-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

let dirs = 0;
/** A fresh directory under the scratch one. */
function freshDir(prefix: string): string {
  return join(scratch, `${prefix}-${++dirs}`);
}

const EXPLAIN_EFBIG = "Message log cannot write (EFBIG); publish refused.";
/** The publish whose record was being written when the write failed: delivered, not kept. */
const EXPLAIN_EFBIG_UNSAVED = "Message log cannot write (EFBIG); the message was delivered but may not survive a restart.";

test("kill -9 under load: every acknowledged publish comes back once, with its id and stamp; ids and stamps continue", { timeout: 60_000 }, async (t) => {
  const dir = freshDir("load");
  // Small segments: the load rotates through a dozen of them, replayed in order.
  const file = writeConfig(scratch, "load.json", logLayout({ dir, fsync: "batch", segmentSize: "8k" }));
  const seed = Date.now() >>> 0;
  const random = new Prng(seed);
  const CHANNELS = 200;
  const TOTAL = 2000;
  const CLIENTS = 8;
  const killAfter = 500 + random.below(1300);
  const why = `seed ${seed}, kill after ${killAfter} acknowledgements`;

  let app: LogServer = await startServer(file);
  const port = app.port;
  const channelOf = (n: number): string => `c${n}`;
  /** body → channel, for every publish answered 200. */
  const acknowledged = new Map<string, string>();
  const sent = new Set<string>();
  /** body → what a subscriber read before the kill (channel, id, stamp). */
  const readBefore = new Map<string, Stored & { channel: string }>();
  let next = 0;
  /** Set just before SIGKILL is sent: from then on a failed request is expected. */
  let killed = false;
  const agents: Agent[] = [];
  // The killer acts on its own timer, so publishes are in flight (sent, being written, being
  // fsync'd, being answered) when the signal lands.
  const killer = async (): Promise<void> => {
    while (acknowledged.size < killAfter && next < TOTAL) await sleep(1);
    await sleep(random.below(3));
    killed = true;
    await killHard(app);
  };
  try {
    const publisher = async (): Promise<void> => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      agents.push(agent);
      while (!killed && next < TOTAL) {
        const n = next++;
        const channel = channelOf(random.below(CHANNELS));
        const body = `m${n}-${channel}`;
        sent.add(body);
        try {
          const reply = await publishTo(port, channel, body, { agent });
          if (reply.status === 200) acknowledged.set(body, channel);
          else assert.ok(killed, `publish answered ${reply.status} before the kill`);
        } catch (error) {
          if (!killed) throw error;
          return;
        }
      }
    };
    const reader = async (): Promise<void> => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      agents.push(agent);
      while (!killed && next < TOTAL) {
        const channel = channelOf(random.below(CHANNELS));
        try {
          for (const message of await readChannel(port, channel, agent)) readBefore.set(message.text, { ...message, channel });
        } catch (error) {
          if (!killed) throw error;
          return;
        }
      }
    };
    await Promise.all([...Array.from({ length: CLIENTS }, publisher), reader(), killer()]);
    assert.ok(killed, `the load ran to the kill (${acknowledged.size} acknowledged of ${TOTAL}; ${why})`);
    for (const agent of agents) agent.destroy();

    app = await startServer(file);
    const restored = restoredCounts(app.logLine);
    const stored = new Map<string, Stored[]>();
    const seen = new Map<string, string>();
    let maxStamp = { time: 0, tag: 0 };
    await inParallel(Array.from({ length: CHANNELS }, (_, i) => channelOf(i)), 8, async (channel) => {
      stored.set(channel, await readChannel(app.port, channel));
    });
    let messages = 0;
    for (const [channel, list] of stored) {
      assertContiguous(channel, list);
      messages += list.length;
      for (const message of list) {
        assert.ok(sent.has(message.text), `${channel} holds only what was sent: ${message.text}`);
        assert.ok(message.text.endsWith(`-${channel}`), `${message.text} is in its own channel, not ${channel}`);
        assert.equal(seen.get(message.text), undefined, `${message.text} stored once (${why})`);
        seen.set(message.text, channel);
        if (compareStamps(message, maxStamp) > 0) maxStamp = message;
        const before = readBefore.get(message.text);
        if (before && acknowledged.has(message.text)) {
          assert.deepEqual({ ...message, channel }, before, `${message.text}: id and stamp as a subscriber saw them before the kill`);
        }
      }
    }
    const missing = [...acknowledged.keys()].filter((body) => !seen.has(body));
    assert.deepEqual(missing, [], `acknowledged publishes lost by kill -9 (${why})`);
    const nonEmpty = [...stored.values()].filter((list) => list.length > 0).length;
    assert.deepEqual(restored, { channels: nonEmpty, messages }, `the start-up line counts what is served: ${app.logLine}`);
    const comparedStamps = [...readBefore.keys()].filter((body) => acknowledged.has(body)).length;
    assert.ok(comparedStamps > 20, `enough messages read before the kill to compare stamps (${comparedStamps})`);
    const torn = /warn message log: .*/.exec(app.output())?.[0] ?? "no torn tail";
    t.diagnostic(`${why}: ${segmentFiles(dir).length} segments, ${sent.size} sent, ${acknowledged.size} acknowledged (${acknowledged.size - killAfter} past the threshold), ${messages} restored (${messages - acknowledged.size} unacknowledged in flight), ${comparedStamps} stamps compared; ${torn}`);

    // New publishes continue every channel's ids, stamped after every logged message.
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    agents.push(agent);
    await inParallel([...stored.keys()], 4, async (channel) => {
      assert.equal((await publishTo(app.port, channel, `after-${channel}`, { agent })).status, 200);
    });
    for (const [channel, list] of stored) {
      const now = await readChannel(app.port, channel, agent);
      assert.equal(now.length, list.length + 1, channel);
      const added = now.at(-1)!;
      assert.equal(added.text, `after-${channel}`);
      assert.equal(added.id, list.length + 1, `${channel}: the next id after a restart`);
      assert.ok(compareStamps(added, maxStamp) > 0, `${channel}: stamped after every logged message (${added.time}/${added.tag} vs ${maxStamp.time}/${maxStamp.tag})`);
    }
    agent.destroy();

    // A clean stop and one more start: the same, plus the new ones.
    assert.equal(await app.stop(), 0);
    app = await startServer(file);
    assert.deepEqual(restoredCounts(app.logLine), { channels: CHANNELS, messages: messages + CHANNELS });
    assert.doesNotMatch(app.output(), /warn message log/, "a clean stop leaves nothing to cut");
  } finally {
    killed = true;
    for (const agent of agents) agent.destroy();
    await killHard(app);
  }
});

test("fsync always, a write torn at each byte of the last records: pushwire starts, cuts the tail, serves exactly the whole records", { timeout: 120_000 }, async (t) => {
  const dir = freshDir("torn");
  const file = writeConfig(scratch, "torn-source.json", logLayout({ dir, fsync: "always" }));
  const app = await startServer(file);
  const COUNT = 12;
  const channelOf = (n: number): string => (n % 2 === 0 ? "ta" : "tb");
  try {
    for (let n = 1; n <= COUNT; n++) assert.equal((await publishTo(app.port, channelOf(n), `t${n}x${"y".repeat(n % 5)}`)).status, 200);
  } finally {
    await killHard(app);
  }
  const [last] = segmentFiles(dir).slice(-1);
  assert.ok(last, "a segment was written");
  const bytes = readFileSync(join(dir, last));
  const ends = recordEnds(bytes);
  // Record 0 is the epoch; message n is record n (every publish one record).
  assert.equal(ends.length, COUNT + 1, "one epoch record and one record per publish");
  const startOf = (record: number): number => (record === 0 ? 0 : ends[record - 1]!);

  // Bounded (one process start, ~150 ms, per offset): every byte offset of the last record; of the
  // two before, every 7th byte plus the torn header (4: length only, 8: header without payload)
  // and the last byte short of the boundary.
  const offsets = new Set<number>();
  for (let at = startOf(COUNT); at <= bytes.length; at++) offsets.add(at);
  for (const record of [COUNT - 2, COUNT - 1]) {
    const from = startOf(record);
    const to = ends[record]!;
    for (let at = from; at < to; at += 7) offsets.add(at);
    for (const at of [from + 4, from + 8, to - 1]) offsets.add(at);
  }
  const plan = [...offsets].sort((a, b) => a - b);

  let n = 0;
  const failures: string[] = [];
  await inParallel(plan, 2, async (offset) => {
    const copy = join(scratch, `torn-copy-${offset}`);
    cpSync(dir, copy, { recursive: true });
    rmSync(join(copy, "pushwire.pid"), { force: true });
    truncateSync(join(copy, last), offset);
    const server = await startServer(writeConfig(scratch, `torn-${offset}.json`, logLayout({ dir: copy, fsync: "always" })));
    try {
      const whole = ends.filter((end) => end <= offset).length - 1; // message records wholly on disk
      const lastGood = startOf(whole + 1);
      const boundary = lastGood === offset;
      const cut = offset - lastGood;
      const ta = await readChannel(server.port, "ta");
      const tb = await readChannel(server.port, "tb");
      const expected = Array.from({ length: Math.max(whole, 0) }, (_, i) => i + 1);
      const got = [...ta, ...tb].map((m) => Number(/^t(\d+)x/.exec(m.text)![1])).sort((a, b) => a - b);
      assertContiguous("ta", ta);
      assertContiguous("tb", tb);
      const note = /warn message log: (\d{8}\.seg): (\d+) bytes of an unfinished write cut off at byte (\d+)/.exec(server.output());
      if (JSON.stringify(got) !== JSON.stringify(expected)) failures.push(`offset ${offset}: served ${JSON.stringify(got)}, whole records ${JSON.stringify(expected)}`);
      else if (boundary && note) failures.push(`offset ${offset} (a record boundary): ${note[0]}`);
      else if (!boundary && (!note || note[1] !== last || Number(note[2]) !== cut || Number(note[3]) !== offset - cut)) {
        failures.push(`offset ${offset}: expected "${last}: ${cut} bytes … cut off at byte ${offset - cut}", got ${note?.[0] ?? "no note"}`);
      } else {
        // The restart writes on in the same segment: the bytes before the cut stay, new whole records follow it.
        const after = readFileSync(join(copy, last));
        if (!after.subarray(0, offset - cut).equals(bytes.subarray(0, offset - cut)) || !recordEnds(after).includes(offset - cut)) {
          failures.push(`offset ${offset}: the torn segment was not cut at ${offset - cut} with new records after it`);
        }
      }
      n++;
    } finally {
      await killHard(server);
      rmSync(copy, { recursive: true, force: true });
      rmSync(join(scratch, `torn-${offset}.json`), { force: true });
    }
  });
  assert.equal(n, plan.length, "every truncation started");
  assert.deepEqual(failures, [], `${plan.length} truncations of ${last} (${bytes.length} bytes)`);
  t.diagnostic(`${plan.length} truncations of ${last} (${bytes.length} bytes, records ${ends.slice(-4).join(", ")}), offsets ${plan[0]}..${plan.at(-1)}`);
});

test("restart within the same second: a client's cursor from before the kill still sees the next message", { timeout: 30_000 }, async () => {
  const attempts: string[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    const dir = freshDir("second");
    const file = writeConfig(scratch, "second.json", logLayout({ dir, fsync: "batch" }));
    let app = await startServer(file);
    try {
      while (Date.now() % 1000 > 100) await sleep(5); // the top of a second: all of it happens in this one
      const second = Math.floor(Date.now() / 1000);
      assert.equal((await publishTo(app.port, "s", "one")).status, 200);
      const poll = await openRequest(app.port, "/poll?id=s", { headers: { "If-Modified-Since": EPOCH, "If-None-Match": "0" } }).reply;
      assert.equal(poll.status, 200);
      const cursor = { "If-Modified-Since": poll.headers["last-modified"]!, "If-None-Match": poll.headers["etag"]!.replace(/^W\//, "") };
      await killHard(app);
      app = await startServer(file);
      const restartedIn = Math.floor(Date.now() / 1000);
      // Held: nothing newer than the cursor yet.
      const held = openRequest(app.port, "/lp?id=s", { headers: cursor });
      let early = false;
      void held.reply.then(() => (early = true), () => (early = true));
      await sleep(150);
      assert.equal(early, false, "the long-poll with the old cursor is held (message 1 is not newer than it)");
      assert.equal((await publishTo(app.port, "s", "two")).status, 200);
      const published = Math.floor(Date.now() / 1000);
      const reply = await held.reply;
      assert.equal(reply.status, 200, "the held long-poll gets the new message");
      const [message, ...rest] = parseStored(reply.text);
      assert.deepEqual(rest, []);
      assert.equal(message!.id, 2);
      assert.equal(message!.text, "two");
      // A client that reconnects with the old cursor after the publish: 200 at once, not 304 or a hold.
      const late = await openRequest(app.port, "/lp?id=s", { headers: cursor, timeoutMs: 1000 }).reply;
      assert.equal(late.status, 200);
      assert.match(late.text, /^2\|[^|]+\|\d+\|two\n$/);
      attempts.push(`published ${second}, restarted ${restartedIn}, published again ${published}`);
      if (second === restartedIn && restartedIn === published) return;
    } finally {
      await killHard(app);
    }
  }
  assert.fail(`never managed the whole sequence within one second: ${attempts.join("; ")}`);
});

test("deleted channels stay deleted across a restart; a later publish starts them at id 1", { timeout: 30_000 }, async () => {
  const dir = freshDir("delete");
  const file = writeConfig(scratch, "delete.json", logLayout({ dir }));
  let app = await startServer(file);
  try {
    for (const body of ["a1", "a2", "a3"]) assert.equal((await publishTo(app.port, "a", body)).status, 200);
    for (const body of ["b1", "b2"]) assert.equal((await publishTo(app.port, "b", body)).status, 200);
    const deleted = await openRequest(app.port, "/pub?id=a", { method: "DELETE" }).reply;
    assert.equal(deleted.status, 200);
    assert.equal(await channelInfo(app.port, "a"), undefined);
    await killHard(app);

    app = await startServer(file);
    assert.deepEqual(restoredCounts(app.logLine), { channels: 1, messages: 2 });
    assert.equal(await channelInfo(app.port, "a"), undefined, "a stays deleted");
    assert.deepEqual(await readChannel(app.port, "a"), []);
    assert.deepEqual((await channelInfo(app.port, "b"))?.stored_messages, 2);
    assert.deepEqual((await readChannel(app.port, "b")).map((m) => [m.id, m.text]), [[1, "b1"], [2, "b2"]]);
    assert.equal((await publishTo(app.port, "a", "a-new")).status, 200);
    assert.deepEqual((await readChannel(app.port, "a")).map((m) => [m.id, m.text]), [[1, "a-new"]], "a begins again at id 1");
    assert.equal((await publishTo(app.port, "b", "b3")).status, 200);
    await killHard(app);

    // Once more: the drop and the new channel replay in order.
    app = await startServer(file);
    assert.deepEqual((await readChannel(app.port, "a")).map((m) => [m.id, m.text]), [[1, "a-new"]]);
    assert.deepEqual((await readChannel(app.port, "b")).map((m) => [m.id, m.text]), [[1, "b1"], [2, "b2"], [3, "b3"]]);
    assert.deepEqual(await channelInfo(app.port, "a"), { channel: "a", published_messages: 1, stored_messages: 1, subscribers: 0 });
  } finally {
    await killHard(app);
  }
});

test("TTL across a restart: a message past its Message-Expiry is not restored, the others are", { timeout: 30_000 }, async () => {
  const dir = freshDir("ttl");
  const file = writeConfig(scratch, "ttl.json", logLayout({ dir, http: { messageTtl: "1h" } }));
  let app = await startServer(file);
  try {
    assert.equal((await publishTo(app.port, "e", "short", { headers: { "Message-Expiry": "1" } })).status, 200);
    const published = Date.now();
    assert.equal((await publishTo(app.port, "e", "long")).status, 200);
    assert.deepEqual((await readChannel(app.port, "e")).map((m) => m.text), ["short", "long"]);
    assert.equal(await app.stop(), 0);
    await sleep(Math.max(0, published + 1200 - Date.now()));

    app = await startServer(file);
    assert.match(app.logLine, /restored 1 channel\(s\) and 1 message\(s\) .* \(skipped: 1 expired\)$/);
    assert.equal((await channelInfo(app.port, "e"))?.stored_messages, 1);
    assert.deepEqual((await readChannel(app.port, "e")).map((m) => [m.id, m.text]), [[2, "long"]]);
    assert.equal((await publishTo(app.port, "e", "next")).status, 200);
    assert.deepEqual((await readChannel(app.port, "e")).map((m) => m.id), [2, 3], "ids continue above the expired one");
  } finally {
    await killHard(app);
  }
});

const PRLIMIT = spawnSync("prlimit", ["--version"]).status === 0;

test("a full disk (file-size limit): 507 with an explain, subscribers still served, publishes refused up front, recovery when space returns", {
  timeout: 30_000,
  skip: process.platform !== "linux" ? "needs Linux (RLIMIT_FSIZE, prlimit)" : !PRLIMIT ? "prlimit (util-linux) is not installed" : false,
}, async (t) => {
  const dir = freshDir("full");
  const file = writeConfig(scratch, "full.json", logLayout({ dir, fsync: "batch" }));
  // 64 × 512-byte blocks per file; Node ignores SIGXFSZ, so a write past it fails with EFBIG.
  let app = await startServer(file, ["sh", "-c", 'ulimit -S -f 64 && exec "$0" "$@"', process.execPath]);
  const acknowledged: string[] = [];
  const refusedWaiting: string[] = [];
  try {
    const pad = "p".repeat(200);
    let refusal;
    for (let n = 1; n <= 1000 && !refusal; n++) {
      const body = `f${n}-${pad}`;
      const reply = await publishTo(app.port, "full", body);
      if (reply.status === 200) acknowledged.push(body);
      else {
        refusal = reply;
        refusedWaiting.push(body);
      }
    }
    assert.ok(refusal, "the file-size limit was reached");
    assert.equal(refusal.status, 507);
    assert.equal(refusal.headers[EXPLAIN], EXPLAIN_EFBIG_UNSAVED);
    assert.ok(acknowledged.length > 50, `${acknowledged.length} publishes fit in 32 KiB`);
    await app.waitFor(/error message log: .*publishes are refused until it can write again/);

    // Subscribers are served what is stored.
    const stored = await readChannel(app.port, "full");
    const servedRefused = stored.some((m) => refusedWaiting.includes(m.text));
    for (const body of acknowledged) assert.ok(stored.some((m) => m.text === body), `${body.slice(0, 8)} is served while the log cannot write`);
    const catchUp = await openRequest(app.port, "/lp?id=full", { headers: { "If-Modified-Since": EPOCH, "If-None-Match": "0" } }).reply;
    assert.equal(catchUp.status, 200, "a long-poll catching up is answered");
    // Later publishes are refused at once, with the same explain.
    for (let i = 0; i < 3; i++) {
      const reply = await publishTo(app.port, "full", `refused-${i}`);
      assert.equal(reply.status, 507);
      assert.equal(reply.headers[EXPLAIN], EXPLAIN_EFBIG);
    }
    assert.ok(!(await readChannel(app.port, "full")).some((m) => m.text.startsWith("refused-")), "a publish refused up front is not stored");

    // Space returns: within the sweep's second (plus slack) publishes succeed again.
    const mark = app.output().length;
    const lifted = spawnSync("prlimit", ["--pid", String(app.child.pid), "--fsize=unlimited:"], { encoding: "utf8" });
    assert.equal(lifted.status, 0, `prlimit: ${lifted.stderr}`);
    const since = Date.now();
    let back = false;
    while (!back && Date.now() - since < 3500) {
      const body = `r${Date.now()}`;
      const reply = await publishTo(app.port, "full", body);
      if (reply.status === 200) {
        back = true;
        acknowledged.push(body);
      } else {
        assert.equal(reply.status, 507);
        await sleep(100);
      }
    }
    assert.ok(back, "publishes succeed within 3.5 s of the limit being lifted");
    await app.waitFor(/info message log: writing again after "Message log cannot write \(EFBIG\); publish refused\."/, 2000, mark);
    for (let i = 0; i < 5; i++) {
      const body = `after-${i}`;
      assert.equal((await publishTo(app.port, "full", body)).status, 200);
      acknowledged.push(body);
    }
    assert.equal(await app.stop(), 0);

    app = await startServer(file);
    const restored = await readChannel(app.port, "full");
    assertContiguous("full", restored);
    const texts = restored.map((m) => m.text);
    for (const body of acknowledged) assert.equal(texts.filter((t) => t === body).length, 1, `${body.slice(0, 12)} restored once`);
    assert.ok(!texts.some((t) => t.startsWith("refused-")), "nothing refused up front was logged");
    // The publish answered 507 while its record was being written: reported, not asserted (see the report).
    const extra = texts.filter((t) => !acknowledged.includes(t));
    assert.ok(extra.every((t) => refusedWaiting.includes(t)), `only the publish refused while waiting may be there too: ${extra.map((t) => t.slice(0, 8))}`);
    t.diagnostic(`${acknowledged.length} acknowledged; the publish answered 507 while its record was written (${refusedWaiting.map((b) => b.slice(0, 5)).join(", ")}) was ${servedRefused ? "" : "not "}served to subscribers during the failure and is ${extra.length > 0 ? "" : "not "}in the log after recovery`);
  } finally {
    await killHard(app);
  }
});

test("the directory lock: a second pushwire exits 4 naming the owner; after kill -9 of the owner a new one takes the lock over", { timeout: 30_000 }, async () => {
  const dir = freshDir("lock");
  const file = writeConfig(scratch, "lock.json", logLayout({ dir }));
  const first = await startServer(file);
  let third: LogServer | undefined;
  try {
    assert.equal(readFileSync(join(dir, "pushwire.pid"), "utf8").trim(), String(first.child.pid));
    const second = await runToExit(["--config", file]);
    assert.equal(second.code, 4, second.output);
    assert.match(second.output, new RegExp(`error cannot open the message log: message log ${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is in use by pid ${first.child.pid}\\b`));
    assert.equal(readFileSync(join(dir, "pushwire.pid"), "utf8").trim(), String(first.child.pid), "the refused start leaves the lock alone");
    assert.equal((await publishTo(first.port, "k", "kept")).status, 200, "the owner still serves");

    await killHard(first);
    assert.ok(existsSync(join(dir, "pushwire.pid")), "kill -9 leaves the lock file behind");
    third = await startServer(file);
    assert.equal(readFileSync(join(dir, "pushwire.pid"), "utf8").trim(), String(third.child.pid), "the stale lock is taken over");
    assert.deepEqual((await readChannel(third.port, "k")).map((m) => m.text), ["kept"]);
    assert.equal(await third.stop(), 0);
    assert.equal(existsSync(join(dir, "pushwire.pid")), false, "SIGTERM removes the lock");
  } finally {
    await killHard(first);
    if (third) await killHard(third);
  }
});

test("without a log the start-up line says memory only; --message-log DIR turns it on with fsync=batch", { timeout: 30_000 }, async () => {
  const file = writeConfig(scratch, "memory.json", logLayout());
  const memory = await startServer(file);
  try {
    assert.match(memory.logLine, /info message log: off \(memory only/);
  } finally {
    assert.equal(await memory.stop(), 0);
  }
  const dir = freshDir("flag");
  const flagged = await launch(["--config", file, "--message-log", dir]);
  try {
    await flagged.waitFor(new RegExp(`info message log: ${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} fsync=batch restored 0 channel\\(s\\) and 0 message\\(s\\) from 0 file\\(s\\) in \\d+ ms`));
    assert.equal((await publishTo(flagged.ports[0]!, "f", "flagged")).status, 200);
  } finally {
    assert.equal(await flagged.stop(), 0);
  }
  assert.ok(segmentFiles(dir).length >= 1, "the flag's directory holds the log");
});

test("compaction: a log past 16 MiB and twice the live data is compacted to a snapshot; kill -9 after it restores the same state", { timeout: 60_000 }, async (t) => {
  const dir = freshDir("compact");
  const CHANNELS = 10;
  const file = writeConfig(scratch, "compact.json", logLayout({ dir, fsync: "batch", segmentSize: "1m", http: { maxMessagesStoredPerChannel: 1 } }));
  let app = await startServer(file);
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  try {
    const pad = "z".repeat(64 * 1024);
    const lastBody = new Map<string, string>();
    const count = new Map<string, number>();
    const publishRound = async (from: number, to: number): Promise<void> => {
      await inParallel(Array.from({ length: to - from }, (_, i) => from + i), 4, async (n) => {
        const channel = `k${n % CHANNELS}`;
        const body = `n${n}-${pad}`;
        assert.equal((await publishTo(app.port, channel, body, { agent })).status, 200);
      });
      for (let n = from; n < to; n++) {
        const channel = `k${n % CHANNELS}`;
        count.set(channel, (count.get(channel) ?? 0) + 1);
      }
    };
    await publishRound(0, 300); // ~19 MiB logged, 640 KiB live
    await openRequest(app.port, "/pub?id=k0", { method: "DELETE" }).reply;
    count.delete("k0");
    // The sweep (every second) compacts: a snapshot appears and the segments it stands for go.
    const until = Date.now() + 5000;
    let files: string[] = [];
    const snapshotOnly = (): boolean => {
      files = readdirSync(dir);
      const snapshot = files.find((f) => f.endsWith(".snap"));
      return snapshot !== undefined && !files.some((f) => f.endsWith(".tmp")) && segmentFiles(dir).every((f) => f >= snapshot.replace(".snap", ".seg"));
    };
    while (!snapshotOnly() && Date.now() < until) await sleep(50);
    assert.ok(snapshotOnly(), `one snapshot, and no segment older than it: ${files.join(" ")}`);
    assert.equal(files.filter((f) => f.endsWith(".snap")).length, 1, files.join(" "));
    const compacted = readdirSync(dir).filter((f) => /\.(seg|snap)$/.test(f)).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
    // 19 MiB were written; what stays is the snapshot of the live ~576 KiB and what followed it.
    assert.ok(compacted < 8 * 1024 * 1024, `the log shrank to ${compacted} bytes (live ≈ ${CHANNELS - 1} × 64 KiB)`);
    // Publishes after the snapshot, in the segments that follow it.
    const before = new Map<string, Stored[]>();
    for (let i = 1; i < CHANNELS; i++) before.set(`k${i}`, await readChannel(app.port, `k${i}`, agent));
    await publishRound(300, 320);
    for (let n = 300; n < 320; n++) lastBody.set(`k${n % CHANNELS}`, `n${n}-`);
    await killHard(app);
    // What a compaction killed mid-write leaves: its temporary file, removed at start.
    writeFileSync(join(dir, "00000999.snap.tmp"), "half a snapshot");

    app = await startServer(file);
    assert.equal(existsSync(join(dir, "00000999.snap.tmp")), false, "a leftover temporary snapshot is removed");
    assert.doesNotMatch(app.output(), /warn message log/);
    assert.deepEqual(restoredCounts(app.logLine), { channels: CHANNELS, messages: CHANNELS });
    for (let i = 0; i < CHANNELS; i++) {
      const channel = `k${i}`;
      const [message, ...rest] = await readChannel(app.port, channel, agent);
      assert.deepEqual(rest, [], `${channel}: one stored message (maxMessagesStoredPerChannel 1)`);
      assert.ok(message!.text.startsWith(lastBody.get(channel)!), `${channel}: the last publish (${message!.text.slice(0, 6)})`);
      const published = i === 0 ? 2 : count.get(channel)!;
      assert.equal(message!.id, published, `${channel}: ids continue across the snapshot${i === 0 ? " (k0 began again after its delete)" : ""}`);
      assert.equal((await channelInfo(app.port, channel))?.published_messages, published);
      const older = before.get(channel);
      if (older?.[0]) assert.ok(compareStamps(message!, older[0]) > 0, `${channel}: stamps rise across the snapshot`);
    }
    t.diagnostic(`log ${compacted} bytes after compaction; files then: ${files.join(" ")}`);
  } finally {
    agent.destroy();
    await killHard(app);
  }
});

test("a damaged middle segment: skipped with a note and a new epoch, the rest served, ids continue; the next restart sees no new loss", { timeout: 30_000 }, async () => {
  const dir = freshDir("damaged");
  const file = writeConfig(scratch, "damaged.json", logLayout({ dir, fsync: "batch", segmentSize: "4k" }));
  let app = await startServer(file);
  const TOTAL = 200;
  try {
    for (let n = 1; n <= TOTAL; n++) assert.equal((await publishTo(app.port, `d${n % 3}`, `d${n}`)).status, 200);
    await killHard(app);
    const segments = segmentFiles(dir);
    assert.ok(segments.length >= 3, `several segments: ${segments.join(" ")}`);
    const name = segments[1]!;
    const bytes = readFileSync(join(dir, name));
    const ends = recordEnds(bytes);
    // One flipped byte in the payload of record 11: that record and the rest of the file are unreadable.
    const damagedAt = ends[10]!;
    bytes[damagedAt + 20] ^= 0xff;
    writeFileSync(join(dir, name), bytes);
    const lost = ends.length - 11; // message records (record 0 is the epoch)

    app = await startServer(file);
    const out = app.output();
    assert.match(out, new RegExp(`warn message log: ${name}: damaged at byte ${damagedAt}; ${bytes.length - damagedAt} bytes skipped`));
    const [, epoch] = /warn message log: records were lost; new epoch (\S+)/.exec(out) ?? [];
    assert.ok(epoch, `a new epoch is announced:\n${out}`);
    assert.deepEqual(restoredCounts(app.logLine), { channels: 3, messages: TOTAL - lost });
    const maxIds = new Map<string, number>();
    for (const channel of ["d0", "d1", "d2"]) {
      const list = await readChannel(app.port, channel);
      for (let i = 1; i < list.length; i++) assert.ok(list[i]!.id > list[i - 1]!.id && compareStamps(list[i - 1]!, list[i]!) < 0, `${channel}: ids and stamps rise`);
      maxIds.set(channel, list.at(-1)!.id);
    }
    for (const [channel, max] of maxIds) {
      assert.equal((await publishTo(app.port, channel, `again-${channel}`)).status, 200);
      assert.equal((await readChannel(app.port, channel)).at(-1)!.id, max + 1, `${channel}: ids continue above the last logged one`);
    }
    assert.equal(await app.stop(), 0);

    // The damage was accounted for by the epoch begun above: a clean restart loses nothing more.
    app = await startServer(file);
    assert.deepEqual(restoredCounts(app.logLine), { channels: 3, messages: TOTAL - lost + 3 });
    assert.doesNotMatch(app.output(), /records were lost; new epoch/, "the epoch begun after the damage stays: no new loss since");
  } finally {
    await killHard(app);
  }
});

test("publishes that are not stored still count: ids continue after a restart", { timeout: 30_000 }, async () => {
  const dir = freshDir("unstored");
  const file = writeConfig(scratch, "unstored.json", logLayout({ dir }));
  let app = await startServer(file);
  try {
    const unstored = (channel: string, body: string): Promise<unknown> => openRequest(app.port, `/pub-unstored?id=${channel}`, { method: "POST", body }).reply;
    for (let i = 0; i < 3; i++) await unstored("u", `gone${i}`);
    assert.equal((await publishTo(app.port, "u", "kept")).status, 200);
    await unstored("u", "gone3");
    assert.deepEqual((await readChannel(app.port, "u")).map((m) => [m.id, m.text]), [[4, "kept"]]);
    await killHard(app);

    app = await startServer(file);
    assert.deepEqual(await channelInfo(app.port, "u"), { channel: "u", published_messages: 5, stored_messages: 1, subscribers: 0 });
    assert.equal((await publishTo(app.port, "u", "next")).status, 200);
    assert.deepEqual((await readChannel(app.port, "u")).map((m) => [m.id, m.text]), [[4, "kept"], [6, "next"]]);
  } finally {
    await killHard(app);
  }
});

test("the open-file limit reached when a segment is full: pushwire stays up (a refusal at most), and writes again once descriptors free up", {
  timeout: 30_000,
  skip: process.platform !== "linux" ? "needs Linux (ulimit -n)" : false,
}, async () => {
  const dir = freshDir("nofile");
  const file = writeConfig(scratch, "nofile.json", logLayout({ dir, fsync: "batch", segmentSize: "4k" }));
  let app = await startServer(file, ["bash", "-c", 'ulimit -n 64 && exec "$0" "$@"', process.execPath]);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const idle: Socket[] = [];
  const acknowledged: string[] = [];
  try {
    // The publisher's connection exists before the descriptors run out.
    assert.equal((await publishTo(app.port, "n", "first", { agent })).status, 200);
    acknowledged.push("first");
    for (let i = 0; i < 80; i++) {
      const socket = connect(app.port, "127.0.0.1");
      socket.on("error", () => {});
      idle.push(socket);
    }
    await app.waitFor(/warn open-file limit reached/);
    // ~6 KiB of records: the 4 KiB segment is full and the next must be opened, with no descriptor free.
    const statuses: Array<number | string> = [];
    for (let n = 0; n < 60; n++) {
      const body = `n${n}-${"q".repeat(100)}`;
      try {
        const reply = await publishTo(app.port, "n", body, { agent });
        statuses.push(reply.status);
        if (reply.status === 200) acknowledged.push(body);
      } catch (error) {
        statuses.push((error as NodeJS.ErrnoException).code ?? String(error));
        break;
      }
    }
    await sleep(100);
    assert.equal(app.child.exitCode, null, `pushwire is still running (statuses ${statuses.join(" ")}):\n${app.output()}`);
    assert.ok(statuses.every((s) => s === 200 || s === 503 || s === 507), `each publish answered 200 or refused with a 5xx: ${statuses.join(" ")}`);

    for (const socket of idle) socket.destroy();
    await app.waitFor(/info open files back under the limit/);
    const since = Date.now();
    let back = false;
    while (!back && Date.now() - since < 3500) {
      const body = `back${Date.now()}`;
      const reply = await publishTo(app.port, "n", body, { agent });
      if (reply.status === 200) {
        back = true;
        acknowledged.push(body);
      } else await sleep(100);
    }
    assert.ok(back, "publishes succeed again once descriptors are free");
    agent.destroy();
    assert.equal(await app.stop(), 0);

    app = await startServer(file);
    const restored = await readChannel(app.port, "n");
    assertContiguous("n", restored);
    const texts = restored.map((m) => m.text);
    for (const body of acknowledged) assert.equal(texts.filter((t) => t === body).length, 1, `${body.slice(0, 8)} restored once`);
  } finally {
    for (const socket of idle) socket.destroy();
    agent.destroy();
    await killHard(app);
  }
});

test("SIGTERM under load: exits 0 with no error, the lock removed, every acknowledged publish kept", { timeout: 30_000 }, async (t) => {
  const dir = freshDir("term");
  const file = writeConfig(scratch, "term.json", logLayout({ dir, fsync: "batch", segmentSize: "8k" }));
  let app = await startServer(file);
  const acknowledged = new Map<string, string>();
  const agents = Array.from({ length: 8 }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
  let next = 0;
  let stopping = false;
  const statuses = new Map<string, number>();
  try {
    const publisher = async (agent: Agent): Promise<void> => {
      while (next < 3000) {
        const n = next++;
        const channel = `s${n % 50}`;
        const body = `m${n}-${channel}`;
        try {
          const reply = await publishTo(app.port, channel, body, { agent });
          statuses.set(String(reply.status), (statuses.get(String(reply.status)) ?? 0) + 1);
          if (reply.status === 200) acknowledged.set(body, channel);
          else assert.ok(stopping, `publish answered ${reply.status} before SIGTERM`);
        } catch (error) {
          if (!stopping) throw error;
          return;
        }
      }
    };
    const stopper = async (): Promise<number | null> => {
      while (acknowledged.size < 500) await sleep(1);
      stopping = true;
      return app.stop();
    };
    const [code] = await Promise.all([stopper(), ...agents.map(publisher)]);
    assert.equal(code, 0, app.output());
    assert.doesNotMatch(app.output(), /error|uncaught/i, "a clean stop logs no error");
    assert.equal(existsSync(join(dir, "pushwire.pid")), false, "the lock is removed");

    app = await startServer(file);
    assert.doesNotMatch(app.output(), /warn message log/, "nothing to cut after a clean stop");
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const list = await readChannel(app.port, `s${i}`);
      assertContiguous(`s${i}`, list);
      for (const message of list) {
        assert.ok(!seen.has(message.text), `${message.text} once`);
        seen.add(message.text);
      }
    }
    const missing = [...acknowledged.keys()].filter((body) => !seen.has(body));
    assert.deepEqual(missing, [], "acknowledged before the stop, kept");
    t.diagnostic(`${acknowledged.size} acknowledged, ${seen.size} restored; answers ${JSON.stringify(Object.fromEntries(statuses))}`);
  } finally {
    for (const agent of agents) agent.destroy();
    await killHard(app);
  }
});

test("the directory lock holds when two pushwires start at the same moment: one runs, the other exits 4", { timeout: 30_000 }, async () => {
  // The race is narrow (check, then write): a few percent of simultaneous starts hit it, so 30 tries.
  const outcomes: string[] = [];
  for (let attempt = 0; attempt < 30; attempt++) {
    const dir = freshDir("race");
    const file = writeConfig(scratch, `race-${attempt}.json`, logLayout({ dir }));
    const results = await Promise.allSettled([launch(["--config", file]), launch(["--config", file])]);
    const started = results.filter((r) => r.status === "fulfilled");
    for (const r of started) await killHard(r.value);
    const refused = results.filter((r) => r.status === "rejected" && /cannot open the message log: .* is in use by pid \d+/.test(String(r.reason))).length;
    outcomes.push(`${started.length} started/${refused} refused`);
    assert.equal(started.length, 1, `attempt ${attempt + 1}: exactly one pushwire owns ${dir} (${outcomes.join(", ")})`);
    assert.equal(refused, 1, `attempt ${attempt + 1}: the other names the owner`);
  }
});
