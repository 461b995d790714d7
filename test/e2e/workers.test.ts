import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openRequest, request, sleep, waitFor, type PendingRequest, type Reply } from "../support/helpers.js";
import { BUNDLE, launch, type Launched } from "../support/launch.js";
import { openStream } from "../support/stream-client.js";
import { WsClient } from "../support/ws-client.js";

/**
 * Workers (issue 15) over real sockets: `dist/pushwire.js --workers 2` forks two processes that
 * share the listeners and a primary that sequences every publish. Each test opens every request
 * on a connection of its own, so they spread over the workers; the access log (one line per
 * request, prefixed "worker N:") says which worker served which, and the tests assert that both
 * did. To spread for sure they run node:cluster's round-robin (NODE_CLUSTER_SCHED_POLICY=rr,
 * which pushwire obeys): with the default, the kernel picks the worker, and a few connections may
 * all land on one. The default is tested on its own: a worker near its open-file limit stops
 * accepting and the other takes the new connections.
 */

const EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT";

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    accessLog: true,
    maxMessagesStoredPerChannel: 20,
    messageTtl: "1h",
    servers: [
      {
        listen: "127.0.0.1:0",
        locations: [
          { path: "/sub", subscriber: "long-polling", channelsPath: "$arg_id", longpollingConnectionTtl: "3s" },
          { path: "/ws", subscriber: "websocket", channelsPath: "$arg_id" },
          { path: "/ev", subscriber: "eventsource", channelsPath: "$arg_id" },
        ],
      },
      { listen: "127.0.0.1:0", locations: [{ path: "/pub", publisher: "admin", channelsPath: "$arg_id", storeMessages: true }] },
    ],
    ...extra,
  };
}

interface Cluster {
  app: Launched;
  sub: number;
  pub: number;
  file: string;
  /** Worker pids by worker number (1-based; index 0 unused). */
  pids: number[];
}

/** Round-robin unless told otherwise; `command` runs the bundle (a shell that lowers `ulimit -n` first). */
async function startWorkers(extra: Record<string, unknown> = {}, workers = 2, scheduling: "rr" | "default" = "rr", command?: string[]): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), "pushwire-workers-"));
  const file = join(dir, "pushwire.json");
  writeFileSync(file, JSON.stringify(config(extra)));
  const app = await launch(["--config", file, "--workers", String(workers)], command, scheduling === "rr" ? { NODE_CLUSTER_SCHED_POLICY: "rr" } : {});
  const [, pidList, handOut] = await app.waitFor(/workers=\d+ pids=([\d,]+) connections=(\S+):/);
  assert.equal(handOut, scheduling === "rr" ? "round-robin" : "kernel", "NODE_CLUSTER_SCHED_POLICY is obeyed; else the kernel hands out connections");
  // Every worker's own start line, so none is still opening its listeners.
  await app.waitFor(new RegExp(Array.from({ length: workers }, (_, i) => `worker ${i + 1}: pushwire [^\\n]* started`).map((p) => `(?=[\\s\\S]*${p})`).join("")));
  const workerLine = app.output().split("\n").find((line) => /worker \d+: pushwire .* started/.test(line))!;
  const [sub, pub] = [...workerLine.matchAll(/:(\d+) \[/g)].map((m) => Number(m[1]));
  return { app, sub: sub!, pub: pub!, file, pids: [0, ...pidList!.split(",").map(Number)] };
}

/** Worker numbers whose access log shows a request to a path starting with `path` (after `from` characters of output). */
function servedBy(app: Launched, method: string, path: string, from = 0): Set<number> {
  const workers = new Set<number>();
  const escaped = path.replace(/[?.*+[\]()]/g, "\\$&");
  for (const m of app.output().slice(from).matchAll(new RegExp(`worker (\\d+): access \\S+ "${method} ${escaped}`, "g"))) workers.add(Number(m[1]));
  return workers;
}

/**
 * Long-polls opened one after another: round-robin gives a connection to the next worker that
 * has taken its previous one, so connections opened all at once may crowd onto one worker.
 */
async function holdPolls(port: number, path: string, count: number): Promise<PendingRequest[]> {
  const polls: PendingRequest[] = [];
  for (let i = 0; i < count; i++) {
    polls.push(openRequest(port, path));
    await sleep(40);
  }
  await sleep(200); // held (a held long-poll has no answer to wait for)
  return polls;
}

/** Both workers' access logs show such a request (a line may reach the test's pipe a little after the reply). */
async function bothServed(app: Launched, method: string, path: string, from = 0): Promise<void> {
  await waitFor(() => servedBy(app, method, path, from).size === 2, 2000, `both workers to log ${method} ${path}`).catch(() => {
    assert.fail(`${method} ${path} was not served by both workers:\n${app.output().slice(from)}`);
  });
}

function publishTo(port: number, channel: string, body: string): Promise<Reply> {
  return request(port, `/pub?id=${channel}`, { method: "POST", body });
}

/** Long-polls asking for everything a channel stores (the epoch as If-Modified-Since). */
function catchUp(port: number, channel: string): Promise<Reply> {
  return request(port, `/sub?id=${channel}`, { headers: { "If-Modified-Since": EPOCH, "If-None-Match": "0" } });
}

test("a message published through one worker reaches long-polls, WebSockets and EventSource streams on every worker once, with one time and tag", async () => {
  const { app, sub, pub } = await startWorkers();
  try {
    const polls = await holdPolls(sub, "/sub?id=news", 4);
    const sockets = await Promise.all([WsClient.upgrade(sub, "/ws?id=news"), WsClient.upgrade(sub, "/ws?id=news")]);
    const streams = [openStream(sub, "/ev?id=news"), openStream(sub, "/ev?id=news")];
    await Promise.all(streams.map((s) => s.response.head()));

    const published = await publishTo(pub, "news", "hello workers");
    assert.equal(published.status, 200);
    const replies = await Promise.all(polls.map((p) => p.reply));
    for (const reply of replies) {
      assert.equal(reply.status, 200);
      assert.equal(reply.text, "hello workers");
      assert.equal(reply.headers["etag"], replies[0]!.headers["etag"], "one tag everywhere");
      assert.equal(reply.headers["last-modified"], replies[0]!.headers["last-modified"], "one time everywhere");
    }
    for (const socket of sockets) assert.equal(await socket.nextText(), "hello workers");
    for (const { response } of streams) assert.match(await response.untilIncludes("hello workers"), /data: hello workers\n\n/);
    await bothServed(app, "GET", "/sub?id=news");

    // Exactly once: nothing more arrives on the live connections.
    await sleep(200);
    for (const socket of sockets) assert.equal(socket.buffer.length, 0, "no second copy on a WebSocket");
    for (const { response } of streams) assert.equal(response.body.toString().split("hello workers").length, 2, "one copy per stream");
    for (const socket of sockets) socket.socket.destroy();
    for (const { connection } of streams) connection.close();
  } finally {
    assert.equal(await app.stop(), 0);
  }
});

test("a client that reconnects to another worker catches up with its cursor: every worker answers the same messages, time and tag", async () => {
  const { app, sub, pub } = await startWorkers();
  try {
    assert.equal((await publishTo(pub, "log", "m1")).status, 200);
    const first = await catchUp(sub, "log");
    assert.equal(first.status, 200);
    assert.equal(first.text, "m1");
    for (const body of ["m2", "m3"]) assert.equal((await publishTo(pub, "log", body)).status, 200);
    await bothServed(app, "POST", "/pub?id=log");
    const cursor = { "If-Modified-Since": first.headers["last-modified"]!, "If-None-Match": first.headers["etag"]! };
    const mark = app.output().length;
    const next = await Promise.all(Array.from({ length: 4 }, () => request(sub, "/sub?id=log", { headers: cursor })));
    for (const reply of next) {
      assert.equal(reply.status, 200);
      assert.equal(reply.text, "m2m3", "the messages after the cursor, on whichever worker");
      assert.equal(reply.headers["etag"], next[0]!.headers["etag"]);
      assert.equal(reply.headers["last-modified"], next[0]!.headers["last-modified"]);
    }
    await bothServed(app, "GET", "/sub?id=log", mark);
  } finally {
    assert.equal(await app.stop(), 0);
  }
});

test("deleting a channel through one worker tells the subscribers held by every worker", async () => {
  const { app, sub, pub } = await startWorkers();
  try {
    assert.equal((await publishTo(pub, "gone", "before")).status, 200);
    const polls = await holdPolls(sub, "/sub?id=gone", 4);
    const deleted = await request(pub, "/pub?id=gone", { method: "DELETE" });
    assert.equal(deleted.status, 200);
    for (const reply of await Promise.all(polls.map((p) => p.reply))) {
      assert.equal(reply.status, 200);
      assert.equal(reply.text, "Channel deleted");
    }
    await bothServed(app, "GET", "/sub?id=gone");
    // Gone everywhere: a catch-up on either worker finds nothing stored, a publish starts it anew.
    const after = await Promise.all([catchUp(sub, "gone"), catchUp(sub, "gone")].map((p) => p.catch((e: Error) => e)));
    for (const reply of after) assert.ok(reply instanceof Error || reply.status === 304, "nothing stored after the deletion");
  } finally {
    assert.equal(await app.stop(), 0);
  }
});

test("kill -9 of a worker: the other's subscribers keep getting messages, the worker is replaced and serves everything published meanwhile", async () => {
  const { app, sub, pub, pids } = await startWorkers();
  try {
    assert.equal((await publishTo(pub, "live", "one")).status, 200);
    const polls = await holdPolls(sub, "/sub?id=live", 4);
    const outcomes = polls.map((p) => p.reply.catch((error: Error) => error));
    const mark = app.output().length;
    process.kill(pids[1]!, "SIGKILL");
    await app.waitFor(/worker 1 pid \d+ exited with signal SIGKILL; restarting/, 5000, mark);
    const during = await publishTo(pub, "live", "two");
    assert.equal(during.status, 200, "the surviving worker publishes");
    const results = await Promise.all(outcomes);
    const delivered = results.filter((r): r is Reply => !(r instanceof Error));
    assert.ok(delivered.length >= 1, "the held long-polls of the surviving worker got the message");
    for (const reply of delivered) assert.equal(reply.text, "two");
    assert.ok(results.some((r) => r instanceof Error), "the killed worker's long-polls were cut");

    await app.waitFor(/worker 1 restarted pid \d+/, 10_000, mark);
    const restarted = app.output().length;
    const replies = await Promise.all(Array.from({ length: 4 }, () => catchUp(sub, "live")));
    for (const reply of replies) {
      assert.equal(reply.status, 200);
      assert.equal(reply.text, "onetwo", "what was stored before the kill and what was published while the worker was down");
    }
    await waitFor(() => servedBy(app, "GET", "/sub?id=live", restarted).has(1), 2000, "the new worker 1 to serve");
  } finally {
    assert.equal(await app.stop(), 0);
  }
});

test("SIGTERM to the primary: every worker answers its held long-polls (304) and the whole service exits 0", async () => {
  const { app, sub } = await startWorkers();
  const polls = await holdPolls(sub, "/sub?id=quiet", 4);
  app.child.kill("SIGTERM");
  for (const reply of await Promise.all(polls.map((p) => p.reply))) assert.equal(reply.status, 304);
  assert.equal(await app.exited, 0);
  await bothServed(app, "GET", "/sub?id=quiet");
  assert.match(app.output(), /worker 1: stop from the primary: stopping, answering \d+ held/);
  assert.match(app.output(), /worker 2: stop from the primary: stopping, answering \d+ held/);
});

test("SIGHUP to the primary reloads every worker; a configuration with an error is refused by the primary and no worker reloads", async () => {
  const { app, sub, file } = await startWorkers();
  try {
    let mark = app.output().length;
    writeFileSync(file, JSON.stringify(config({ messageTtl: "2h" })));
    app.child.kill("SIGHUP");
    await app.waitFor(/worker 1: reload: applied: [^\n]*messageTtl/, 5000, mark);
    await app.waitFor(/worker 2: reload: applied: [^\n]*messageTtl/, 5000, mark);

    mark = app.output().length;
    writeFileSync(file, JSON.stringify(config({ messageTtl: "many" })));
    app.child.kill("SIGHUP");
    await app.waitFor(/reload refused: .* has 1 problem; the running configuration stays/, 5000, mark);
    await sleep(200);
    assert.doesNotMatch(app.output().slice(mark), /worker \d: (SIGHUP|reload)/);
    assert.equal((await catchUp(sub, "x")).status, 304, "still serving");
  } finally {
    assert.equal(await app.stop(), 0);
  }
});

test("with the message log, the primary writes it once and a restarted service serves every message from any worker", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pushwire-workers-log-"));
  const servers = config().servers as Array<{ locations: unknown[] }>;
  servers[1]!.locations.push({ path: "/metrics", metrics: true });
  const extra = { messageLog: { path: join(dir, "log"), fsync: "batch" }, servers };
  let cluster = await startWorkers(extra);
  for (const body of ["a1", "a2", "a3"]) assert.equal((await publishTo(cluster.pub, "kept", body)).status, 200);
  await bothServed(cluster.app, "POST", "/pub?id=kept");
  // The primary writes the log and has no listener: every worker's /metrics shows its figures (sent each second).
  await sleep(1200);
  const mark = cluster.app.output().length;
  for (const metrics of await Promise.all([0, 1].map(async () => (await request(cluster.pub, "/metrics")).text))) {
    assert.match(metrics, /^pushwire_message_log_segments [1-9]\d*$/m);
    assert.match(metrics, /^pushwire_message_log_failed 0$/m);
    assert.match(metrics, /^pushwire_message_log_fsync_seconds_count [1-9]\d*$/m, "the three publishes were fsynced");
    const bytes = Number(/^pushwire_message_log_bytes (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(bytes > 0, `log bytes ${bytes}`);
  }
  await bothServed(cluster.app, "GET", "/metrics", mark);
  assert.equal(await cluster.app.stop(), 0);
  assert.doesNotMatch(cluster.app.output(), /worker \d: message log/, "no worker opens the log");

  cluster = await startWorkers(extra);
  try {
    assert.match(cluster.app.output(), /message log: \S+ fsync=batch restored 1 channel\(s\) and 3 message\(s\)/);
    const mark = cluster.app.output().length;
    for (const reply of await Promise.all(Array.from({ length: 4 }, () => catchUp(cluster.sub, "kept")))) {
      assert.equal(reply.status, 200);
      assert.equal(reply.text, "a1a2a3");
    }
    await bothServed(cluster.app, "GET", "/sub?id=kept", mark);
  } finally {
    assert.equal(await cluster.app.stop(), 0);
  }
});

test("--workers takes 1-256 or auto; a worker that cannot listen stops the service with exit 3", async () => {
  const usage = spawnSync(process.execPath, [BUNDLE, "--workers", "0"], { encoding: "utf8" });
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /--workers: must be a whole number from 1 to 256, or "auto"/);
  const dir = mkdtempSync(join(tmpdir(), "pushwire-workers-"));
  const file = join(dir, "pushwire.json");
  writeFileSync(file, JSON.stringify(config({ workers: "lots" })));
  const invalid = spawnSync(process.execPath, [BUNDLE, "--config", file], { encoding: "utf8" });
  assert.equal(invalid.status, 1);
  assert.match(invalid.stderr, /workers: must be a whole number from 1 to 256, or "auto"/);

  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  const port = (taken.address() as AddressInfo).port;
  try {
    const busy = config({ workers: 2 }) as { servers: Array<{ listen: string }> };
    busy.servers[0]!.listen = `127.0.0.1:${port}`;
    writeFileSync(file, JSON.stringify(busy));
    const result = spawnSync(process.execPath, [BUNDLE, "--config", file], { encoding: "utf8", timeout: 15_000 });
    assert.equal(result.status, 3, result.stdout + result.stderr);
    assert.match(result.stderr, /worker \d: cannot listen: .*EADDRINUSE/);
    assert.match(result.stderr, /workers: worker \d pid \d+ exited with code 3 before it could serve/);
  } finally {
    taken.close();
  }
});

test("channel info and maxSubscribersPerChannel count the subscribers of every worker", async () => {
  const { app, sub, pub } = await startWorkers({ maxSubscribersPerChannel: 3 });
  try {
    const info = async (): Promise<number> => {
      const reply = await request(pub, "/pub?id=count");
      return reply.status === 200 ? (JSON.parse(reply.text) as { subscribers: number }).subscribers : -reply.status;
    };
    const polls = await holdPolls(sub, "/sub?id=count", 3);
    let seen = 0;
    for (const until = Date.now() + 3000; Date.now() < until && seen !== 3; ) seen = await Promise.all([info(), info()]).then(([a, b]) => (a === 3 && b === 3 ? 3 : Math.min(a, b)));
    assert.equal(seen, 3, "both workers' channel info counts the three held long-polls");
    const refused = await Promise.all([request(sub, "/sub?id=count"), request(sub, "/sub?id=count")]);
    for (const reply of refused) {
      assert.equal(reply.status, 403, "the cap holds on both workers");
      assert.equal(reply.headers["x-nginx-pushstream-explain"], "Subscribers limit per channel has been exceeded.");
    }
    await waitFor(() => new Set([...app.output().matchAll(/worker (\d+): access \S+ "GET \/sub\?id=count HTTP\/1\.1" 403/g)].map((m) => m[1])).size === 2, 2000, "both workers to refuse");
    assert.equal((await publishTo(pub, "count", "bye")).status, 200);
    for (const reply of await Promise.all(polls.map((p) => p.reply))) assert.equal(reply.text, "bye");
  } finally {
    assert.equal(await app.stop(), 0);
  }
});

test("statistics, /metrics and /health on any worker speak for the machine: every worker listed, subscribers summed", async () => {
  const { app, sub, pub, pids } = await startWorkers({
    servers: [
      { listen: "127.0.0.1:0", locations: [{ path: "/sub", subscriber: "long-polling", channelsPath: "$arg_id", longpollingConnectionTtl: "20s" }] },
      {
        listen: "127.0.0.1:0",
        locations: [
          { path: "/pub", publisher: "admin", channelsPath: "$arg_id", storeMessages: true },
          { path: "/stats", channelsStatistics: true, channelsPath: "$arg_id" },
          { path: "/metrics", metrics: true },
          { path: "/health", health: true },
          { path: "/dashboard/", dashboard: true },
        ],
      },
    ],
  });
  try {
    const polls = await holdPolls(sub, "/sub?id=seen", 4);
    assert.equal((await publishTo(pub, "other", "x")).status, 200);
    await sleep(1300); // each worker reports its readings once a second
    for (let i = 0; i < 2; i++) {
      const summary = JSON.parse((await request(pub, "/stats")).text) as { subscribers: number; published_messages: number; by_worker: Array<{ pid: string; subscribers: number }> };
      assert.equal(summary.subscribers, 4, `the held long-polls of both workers: ${JSON.stringify(summary)}`);
      assert.equal(summary.published_messages, 1);
      assert.deepEqual(summary.by_worker.map((w) => Number(w.pid)).sort(), pids.slice(1).sort(), "every worker listed");
      assert.deepEqual(summary.by_worker.map((w) => w.subscribers), [2, 2]);

      const health = JSON.parse((await request(pub, "/health")).text) as { subscribers: number; workers: number; worker: number };
      assert.equal(health.subscribers, 4);
      assert.equal(health.workers, 2);

      const metrics = (await request(pub, "/metrics")).text;
      assert.match(metrics, /^pushwire_subscribers\{worker="1"\} 2$/m);
      assert.match(metrics, /^pushwire_subscribers\{worker="2"\} 2$/m);
      assert.match(metrics, /^pushwire_published_messages_total\{worker="1"\} 1$/m);
      assert.match(metrics, /^pushwire_published_messages_total\{worker="2"\} 1$/m);
      assert.match(metrics, /^pushwire_held_connections\{worker="2",mode="long-polling"\} 2$/m);
      assert.match(metrics, /^pushwire_publish_duration_seconds_count\{worker="1"\} \d+$/m);

      for (let j = 0; j < 2; j++) { // an odd number of requests per round: the next round starts on the other worker
        const now = JSON.parse((await request(pub, "/dashboard/api/now")).text) as {
          subscribers: number; heldByMode: Record<string, number>; totals: { published: number }; workers: Array<{ worker: number; pid: number; subscribers: number; rss: number; self: boolean }>;
        };
        assert.equal(now.subscribers, 4, "the dashboard counts both workers' held long-polls");
        assert.equal(now.heldByMode["long-polling"], 4);
        assert.equal(now.totals.published, 1, "a message every worker holds a copy of is counted once");
        assert.deepEqual(now.workers.map((w) => [w.pid, w.subscribers]).sort(), pids.slice(1).map((pid) => [pid, 2]).sort());
        assert.equal(now.workers.filter((w) => w.self).length, 1);
        assert.ok(now.workers.every((w) => w.rss > 0));
      }
    }
    await bothServed(app, "GET", "/dashboard/api/now");
    await bothServed(app, "GET", "/stats");
    await bothServed(app, "GET", "/metrics");
    const channel = JSON.parse((await request(pub, "/stats?id=seen")).text) as { subscribers: number };
    assert.equal(channel.subscribers, 4);
    for (const poll of polls) {
      poll.reply.catch(() => undefined); // cut by the test: no answer expected
      poll.abort();
    }
  } finally {
    assert.equal(await app.stop(), 0);
  }
});

test("kill -9 of the primary: the workers exit with it (node:cluster ends a worker whose primary is gone), none is left orphaned", async () => {
  const { app, sub, pids } = await startWorkers();
  const polls = await holdPolls(sub, "/sub?id=orphan", 4);
  app.child.kill("SIGKILL");
  // A held long-poll is cut, or answered 304 when the worker saw its link close first (it then drains):
  // either way the client reconnects, and systemd restarts the service (Restart=on-failure).
  for (const outcome of await Promise.all(polls.map((p) => p.reply.catch((error: Error) => error)))) {
    assert.ok(outcome instanceof Error || outcome.status === 304, `cut or 304, not ${outcome instanceof Error ? "" : outcome.status}`);
  }
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  await waitFor(() => !alive(pids[1]!) && !alive(pids[2]!), 5000, "both workers to exit");
});

test("default scheduling (the kernel's): a worker near its open-file limit stops accepting, the other takes the new connections, none is closed unanswered", async () => {
  // ulimit -n 200: a worker stops at 136 descriptors (64 kept free), about 110 connections;
  // without the stop it would take all 190 below and close those past its limit unanswered.
  const limited = ["/bin/sh", "-c", `ulimit -n 200 && exec "${process.execPath}" "$0" "$@"`];
  const servers = [
    { listen: "127.0.0.1:0", locations: [{ path: "/sub", subscriber: "long-polling", channelsPath: "$arg_id", longpollingConnectionTtl: "30s" }] },
    { listen: "127.0.0.1:0", locations: [{ path: "/pub", publisher: "admin", channelsPath: "$arg_id" }] },
  ];
  const { app, sub, pub, pids } = await startWorkers({ servers }, 2, "default", limited);
  assert.match(app.output(), /connections=kernel/);
  const count = 190;
  // Worker 2 stopped: every connection waits for worker 1, which takes them until its limit.
  process.kill(pids[2]!, "SIGSTOP");
  const polls: PendingRequest[] = [];
  try {
    for (let i = 0; i < count; i++) polls.push(openRequest(sub, "/sub?id=gate", { timeoutMs: 20_000 }));
    const [, inUse] = await app.waitFor(/worker 1: not accepting new connections for now: (\d+) of 200 descriptors in use/, 10_000);
    assert.ok(Number(inUse) >= 136 && Number(inUse) < 200, `stopped at ${inUse} descriptors`);
  } finally {
    process.kill(pids[2]!, "SIGCONT");
  }
  let held = 0;
  for (const until = Date.now() + 10_000; Date.now() < until && held !== count; await sleep(100)) {
    held = (JSON.parse((await request(pub, "/pub?id=gate")).text) as { subscribers: number }).subscribers;
  }
  assert.equal(held, count, "every long-poll held by one of the two workers");
  const mark = app.output().length;
  assert.equal((await publishTo(pub, "gate", "over the limit")).status, 200);
  for (const reply of await Promise.all(polls.map((p) => p.reply))) {
    assert.equal(reply.status, 200);
    assert.equal(reply.text, "over the limit");
  }
  await bothServed(app, "GET", "/sub?id=gate", mark);
  // Its connections answered and closed, worker 1 takes new ones again.
  await app.waitFor(/worker 1: accepting new connections again: \d+ of 200 descriptors in use/, 5000, mark);
  assert.equal(await app.stop(), 0);
});

test("the events channel speaks for the machine: one channel_created, a client_subscribed from each worker, the same list on both", async () => {
  const servers = [
    {
      listen: "127.0.0.1:0",
      locations: [
        { path: "/sub", subscriber: "long-polling", channelsPath: "$arg_id", longpollingConnectionTtl: "20s" },
        { path: "/ev", subscriber: "polling", channelsPath: "$arg_id", allowConnectionsToEventsChannel: true, messageTemplate: "~event-type~ ~text~\n" },
      ],
    },
    { listen: "127.0.0.1:0", locations: [{ path: "/pub", publisher: "admin", channelsPath: "$arg_id", storeMessages: true }] },
  ];
  const { app, sub } = await startWorkers({ eventsChannelId: "events", servers });
  try {
    const polls = await holdPolls(sub, "/sub?id=watched", 2);
    const expected = [
      'channel_created {"type": "channel_created", "channel": "watched"}',
      'client_subscribed {"type": "client_subscribed", "channel": "watched"}',
      'client_subscribed {"type": "client_subscribed", "channel": "watched"}',
    ];
    const read = async (): Promise<string[]> => {
      const reply = await request(sub, "/ev?id=events", { headers: { "If-Modified-Since": EPOCH } });
      return reply.status === 200 ? reply.text.split("\n").filter((line) => line !== "") : [];
    };
    let lists: string[][] = [];
    for (const until = Date.now() + 3000; Date.now() < until; await sleep(100)) {
      lists = [await read(), await read()];
      if (lists.every((list) => list.length === expected.length)) break;
    }
    for (const list of lists) assert.deepEqual(list, expected, app.output());
    await bothServed(app, "GET", "/ev?id=events");
    for (const poll of polls) {
      poll.reply.catch(() => undefined); // cut by the test: no answer expected
      poll.abort();
    }
  } finally {
    assert.equal(await app.stop(), 0);
  }
});

test("a channel the primary sweeps (messages expired, nobody listening) leaves every worker, and the events channel says so on both", async () => {
  const servers = [
    {
      listen: "127.0.0.1:0",
      locations: [{ path: "/ev", subscriber: "polling", channelsPath: "$arg_id", allowConnectionsToEventsChannel: true, messageTemplate: "~event-type~ ~text~\n" }],
    },
    { listen: "127.0.0.1:0", locations: [{ path: "/pub", publisher: "admin", channelsPath: "$arg_id", storeMessages: true }] },
  ];
  const { app, sub, pub } = await startWorkers({ eventsChannelId: "events", messageTtl: "1s", channelInactivityTime: "1s", servers });
  try {
    assert.equal((await publishTo(pub, "fleeting", "soon gone")).status, 200);
    const statuses = async (): Promise<number[]> => [(await request(pub, "/pub?id=fleeting")).status, (await request(pub, "/pub?id=fleeting")).status];
    assert.deepEqual(await statuses(), [200, 200]);
    const mark = app.output().length;
    let seen: number[] = [];
    for (const until = Date.now() + 6000; Date.now() < until; await sleep(200)) {
      seen = await statuses();
      if (seen.every((status) => status === 404)) break;
    }
    assert.deepEqual(seen, [404, 404], "neither worker knows the channel any more");
    await bothServed(app, "GET", "/pub?id=fleeting", mark);
    // Events expire like any message (messageTtl 1 s): channel_created is gone by now, channel_destroyed is fresh.
    const destroyed = 'channel_destroyed {"type": "channel_destroyed", "channel": "fleeting"}';
    const mark2 = app.output().length;
    for (let i = 0; i < 2; i++) {
      const reply = await request(sub, "/ev?id=events", { headers: { "If-Modified-Since": EPOCH } });
      assert.ok(reply.text.split("\n").includes(destroyed), `worker's events: ${reply.text}`);
    }
    await bothServed(app, "GET", "/ev?id=events", mark2);
  } finally {
    assert.equal(await app.stop(), 0);
  }
});
