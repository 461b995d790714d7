/**
 * The soak (`npm run soak -- --seconds 600`; CI runs `--seconds 60 --ci`): dist/pushwire.js as
 * its own process under mixed traffic for a bounded time — publishes, long-polls (some cut short
 * and retried), streaming and WebSocket subscribers that reconnect with their cursor, and channels
 * created, read and deleted — then the figures:
 * - RSS, V8 heap after a collection, libuv handles and open fds of the server: growth per minute
 *   (least squares over the samples after the warm-up), and handles/fds once the clients left,
 *   against before they came;
 * - delivered against expected: every live subscriber must get every message of its channels once
 *   (ids 1, 2, 3… per channel, over reconnects), every deleted channel's subscriber its messages and
 *   the deletion;
 * - the server's log lines at error level (there must be none) and at warn level.
 *
 *   node build/bench/soak.js --seconds 600 [--rate 100] [--seed 1] [--ci]
 *
 * With --ci it exits 1 when a figure is past its bound (SOAK_BOUNDS). Loopback only.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Prng } from "../test/support/prng.js";
import { WsClient } from "../test/support/ws-client.js";
import { sleep } from "./holders.js";
import { rssBytes } from "./proc-stats.js";
import { freePort, stopChild, waitListening } from "./servers.js";
import type { ProbeSample } from "./soak-probe.js";

const REPO_DIR = join(__dirname, "..", "..");
const EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT";
/** One line per message, every field a subscriber needs to check it and to resume after it. */
const TEMPLATE = "~channel~|~id~|~tag~|~time~|~text~\n";

/**
 * CI bounds: generous (a shared 2-core box), there to catch a leak, not noise. The heap after a
 * collection is the telling figure; RSS still ramps up in the first minutes (V8 and malloc
 * growing their pools) and only flattens in longer runs, so its bound is loose.
 */
const SOAK_BOUNDS = {
  heapGrowthMbPerMinute: 1,
  externalGrowthMbPerMinute: 2,
  rssGrowthMbPerMinute: 48,
  /** Handles and fds left once every client is gone, over the count before any came. */
  leftoverHandles: 3,
  leftoverFds: 3,
};

interface Options {
  seconds: number;
  /** Messages published per second, over all channels. */
  rate: number;
  seed: number;
  ci: boolean;
  channels: number;
  pollers: number;
  streams: number;
  sockets: number;
}

function parseOptions(args: string[]): Options {
  const value = (name: string, fallback: number): number => {
    const at = args.indexOf(name);
    return at >= 0 ? Number(args[at + 1]) : fallback;
  };
  return {
    seconds: value("--seconds", 60),
    rate: value("--rate", 100),
    seed: value("--seed", 1),
    ci: args.includes("--ci"),
    channels: value("--channels", 20),
    pollers: value("--pollers", 20),
    streams: value("--streams", 10),
    sockets: value("--sockets", 10),
  };
}

/** Small rings and TTLs so storage reaches its steady size early in the run (what is stored is not a leak). */
function soakConfig(subPort: number, pubPort: number): Record<string, unknown> {
  const live = {
    channelsPath: "$arg_id", lastReceivedMessageTag: "$arg_tag", lastReceivedMessageTime: "$arg_time",
    messageTemplate: TEMPLATE, pingMessageInterval: "3s", subscriberConnectionTtl: "20s",
  };
  return {
    maxMessagesStoredPerChannel: 100,
    messageTtl: "20s",
    servers: [
      {
        listen: `127.0.0.1:${subPort}`,
        locations: [
          { path: "/lp", subscriber: "long-polling", channelsPath: "$arg_id", messageTemplate: TEMPLATE, longpollingConnectionTtl: "5s" },
          { path: "/stream", subscriber: "streaming", ...live },
          { path: "/ws", subscriber: "websocket", ...live },
        ],
      },
      { listen: `127.0.0.1:${pubPort}`, locations: [{ path: "/pub", publisher: "admin", channelsPath: "$arg_id", storeMessages: true }] },
    ],
  };
}

// --- the server

interface SoakServer {
  child: ChildProcess;
  subPort: number;
  pubPort: number;
  errorLines: string[];
  warnLines: string[];
  sample(): Promise<Sample>;
  stop(): Promise<void>;
}

interface Sample {
  atMs: number;
  rss: number;
  heapUsed: number;
  external: number;
  handles: number;
  fds: number;
  kinds: Record<string, number>;
}

async function startServer(): Promise<SoakServer> {
  const bundle = join(REPO_DIR, "dist", "pushwire.js");
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run npm run build`);
  const dir = mkdtempSync(join(tmpdir(), "pushwire-soak-"));
  const [subPort, pubPort] = [await freePort(), await freePort()];
  const configFile = join(dir, "pushwire.json");
  writeFileSync(configFile, JSON.stringify(soakConfig(subPort, pubPort)));
  const probe = join(__dirname, "soak-probe.js");
  const child = spawn(process.execPath, ["--expose-gc", "-r", probe, bundle, "--config", configFile, "--log-level", "info"], {
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    cwd: dir,
  });
  process.on("exit", () => child.kill("SIGKILL"));
  const errorLines: string[] = [];
  const warnLines: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on("line", (line) => {
      // `[timestamp ]level message`
      if (/^(?:\S+ )?error /.test(line)) errorLines.push(line);
      else if (/^(?:\S+ )?warn /.test(line)) warnLines.push(line);
    });
  }
  await waitListening(pubPort, 10_000);
  await waitListening(subPort, 10_000);
  const started = Date.now();
  const pid = child.pid!;
  return {
    child, subPort, pubPort, errorLines, warnLines,
    sample: () => new Promise<Sample>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the probe did not answer")), 10_000);
      child.once("message", (probed: ProbeSample) => {
        clearTimeout(timer);
        resolve({ atMs: Date.now() - started, rss: rssBytes(pid), heapUsed: probed.heapUsed, external: probed.external, handles: probed.handles, fds: readdirSync(`/proc/${pid}/fd`).length, kinds: probed.kinds });
      });
      child.send("sample");
    }),
    async stop() {
      await stopChild(child, "SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// --- what subscribers received

/** One subscriber's account: per channel, the last id it got; anything else is a gap or a repeat. */
class Ledger {
  delivered = 0;
  duplicates = 0;
  gaps = 0;
  private readonly last = new Map<string, number>();
  private rest = "";
  /** The last message's cursor, to resume after it. */
  tag = "0";
  time = EPOCH;

  constructor(
    readonly kind: string,
    readonly channels: readonly string[],
  ) {}

  /** Takes rendered lines (pieces of them may arrive apart). Pings (-1), deletions (-2), timeouts (-3) are skipped. */
  take(text: string): void {
    const lines = (this.rest + text).split("\n");
    this.rest = lines.pop()!;
    for (const line of lines) {
      const [channel, idText, tag, time] = line.split("|");
      const id = Number(idText);
      if (!channel || !(id > 0)) continue;
      const last = this.last.get(channel) ?? 0;
      if (id <= last) {
        this.duplicates++;
        continue;
      }
      this.gaps += id - last - 1;
      this.delivered++;
      this.last.set(channel, id);
      this.tag = tag!;
      this.time = time!;
    }
  }

  /** Messages of its channels it has not got yet. */
  owed(published: ReadonlyMap<string, number>): number {
    let owed = 0;
    for (const channel of this.channels) owed += (published.get(channel) ?? 0) - (this.last.get(channel) ?? 0);
    return owed;
  }
}

// --- traffic

interface Traffic {
  server: SoakServer;
  rng: Prng;
  agent: Agent;
  /** Publishers and channel churn run while this holds. */
  publishing: boolean;
  /** Subscribers run until this is set (after the last publish has reached them). */
  stopping: boolean;
  /** Messages accepted per channel (their ids are 1…n). */
  published: Map<string, number>;
  ledgers: Ledger[];
  counts: Record<string, number>;
}

function count(traffic: Traffic, what: string, by = 1): void {
  traffic.counts[what] = (traffic.counts[what] ?? 0) + by;
}

/** One request; resolves with the response (body read) or rejects. `abortAfterMs` cuts it short. */
function exchange(traffic: Traffic, port: number, path: string, method = "GET", headers: Record<string, string> = {}, body?: string, abortAfterMs?: number): Promise<{ res: IncomingMessage; text: string } | "aborted"> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, headers, agent: traffic.agent }, (res) => {
      let text = "";
      res.setEncoding("latin1");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ res, text }));
      res.on("error", reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
    req.on("error", (error) => (aborted ? resolve("aborted") : reject(error)));
    let aborted = false;
    if (abortAfterMs !== undefined) {
      setTimeout(() => {
        aborted = true;
        req.destroy();
      }, abortAfterMs);
    }
    req.end(body);
  });
}

async function publishOne(traffic: Traffic, channel: string): Promise<void> {
  const seq = (traffic.published.get(channel) ?? 0) + 1;
  const reply = await exchange(traffic, traffic.server.pubPort, `/pub?id=${channel}`, "POST", {}, String(seq));
  if (reply === "aborted" || reply.res.statusCode !== 200) throw new Error(`publish to ${channel} failed`);
  traffic.published.set(channel, (traffic.published.get(channel) ?? 0) + 1);
}

/** `rate` messages a second, round robin over the channels, one publish per channel at a time (ids stay in order). */
async function publishers(traffic: Traffic, channels: string[], rate: number): Promise<void> {
  const perChannelGapMs = (1000 * channels.length) / rate;
  await Promise.all(channels.map(async (channel, i) => {
    await sleep((i * perChannelGapMs) / channels.length);
    while (traffic.publishing) {
      const started = Date.now();
      await publishOne(traffic, channel);
      count(traffic, "publishes");
      await sleep(Math.max(0, perChannelGapMs - (Date.now() - started)));
    }
  }));
}

/** A long-poll loop with the cursor of the last answer; one poll in 20 is cut short and retried. */
async function longPoller(traffic: Traffic, ledger: Ledger): Promise<void> {
  const path = `/lp?id=${ledger.channels.join("/")}`;
  let tag = "0";
  let time = EPOCH;
  while (!traffic.stopping) {
    const cut = traffic.rng.chance(0.05) ? traffic.rng.between(5, 300) : undefined;
    const reply = await exchange(traffic, traffic.server.subPort, path, "GET", { "If-None-Match": tag, "If-Modified-Since": time }, undefined, cut);
    if (reply === "aborted") {
      count(traffic, "long-polls cut short");
      continue;
    }
    count(traffic, `long-poll ${reply.res.statusCode}`);
    ledger.take(reply.text);
    tag = String(reply.res.headers.etag ?? tag);
    time = String(reply.res.headers["last-modified"] ?? time);
  }
}

/** A streaming subscriber that reconnects every 5–15 s (and when the server ends it) from its last message. */
async function streamer(traffic: Traffic, ledger: Ledger): Promise<void> {
  while (!traffic.stopping) {
    const path = `/stream?id=${ledger.channels.join("/")}&tag=${ledger.tag}&time=${encodeURIComponent(ledger.time)}`;
    await new Promise<void>((resolve) => {
      const req = request({ host: "127.0.0.1", port: traffic.server.subPort, path, agent: false }, (res) => {
        res.setEncoding("latin1");
        res.on("data", (chunk: string) => ledger.take(chunk));
        res.on("end", resolve);
        res.on("error", resolve);
      });
      req.on("error", () => resolve());
      req.on("close", () => resolve());
      const stop = setInterval(() => traffic.stopping && req.destroy(), 100);
      setTimeout(() => req.destroy(), traffic.rng.between(5000, 15000));
      req.on("close", () => clearInterval(stop));
      req.end();
    });
    count(traffic, "stream reconnects");
  }
}

/** A WebSocket subscriber, reconnecting like the streaming one. */
async function socketReader(traffic: Traffic, ledger: Ledger): Promise<void> {
  while (!traffic.stopping) {
    const client = await WsClient.upgrade(traffic.server.subPort, `/ws?id=${ledger.channels.join("/")}&tag=${ledger.tag}&time=${encodeURIComponent(ledger.time)}`);
    const until = Date.now() + traffic.rng.between(5000, 15000);
    try {
      while (!traffic.stopping && Date.now() < until) {
        const frame = await client.nextFrame(Math.max(1, until - Date.now())).catch(() => undefined);
        if (!frame) break;
        if (frame.opcode === 0x1) ledger.take(frame.payload.toString("latin1"));
      }
    } finally {
      client.destroy();
    }
    count(traffic, "websocket reconnects");
  }
}

/**
 * Channels that come and go: a WebSocket subscriber on a new channel, three messages, the channel
 * deleted; the subscriber must get the three and the deletion (id -2), then be closed.
 */
async function churn(traffic: Traffic): Promise<void> {
  for (let k = 0; traffic.publishing; k++) {
    const channel = `gone${k}`;
    const client = await WsClient.upgrade(traffic.server.subPort, `/ws?id=${channel}`);
    try {
      for (let n = 0; n < 3; n++) await publishOne(traffic, channel);
      const deleted = await exchange(traffic, traffic.server.pubPort, `/pub?id=${channel}`, "DELETE");
      if (deleted === "aborted" || deleted.res.statusCode !== 200) throw new Error(`DELETE ${channel}: ${deleted === "aborted" ? "aborted" : deleted.res.statusCode}`);
      count(traffic, "churn expected", 4);
      let got = 0;
      for (;;) {
        const frame = await client.nextFrame(5000).catch(() => undefined);
        if (!frame) break;
        if (frame.opcode === 0x1) got++;
      }
      count(traffic, "churn delivered", got);
      if (!client.closed && !client.ended) count(traffic, "churn sockets left open");
    } finally {
      client.destroy();
    }
    await sleep(200);
  }
}

// --- figures

/** Least-squares slope of value over time, per minute. */
function perMinute(samples: readonly Sample[], pick: (s: Sample) => number): number {
  const n = samples.length;
  if (n < 2) return 0;
  const xs = samples.map((s) => s.atMs / 60_000);
  const ys = samples.map(pick);
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

const MB = 1024 * 1024;

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const server = await startServer();
  const rng = new Prng(options.seed);
  const traffic: Traffic = { server, rng, agent: new Agent({ keepAlive: true, maxSockets: 64 }), publishing: true, stopping: false, published: new Map(), ledgers: [], counts: {} };
  const samples: Sample[] = [];
  let exitCode = 0;
  try {
    const before = await server.sample();
    const channels = Array.from({ length: options.channels }, (_, i) => `ch${i}`);
    const pickTwo = (): string[] => {
      const a = rng.pick(channels);
      let b = rng.pick(channels);
      while (b === a) b = rng.pick(channels);
      return [a, b];
    };
    const ledgerFor = (kind: string): Ledger => {
      const ledger = new Ledger(kind, pickTwo());
      traffic.ledgers.push(ledger);
      return ledger;
    };
    const loops: Promise<void>[] = [];
    for (let i = 0; i < options.pollers; i++) loops.push(longPoller(traffic, ledgerFor("long-poll")));
    for (let i = 0; i < options.streams; i++) loops.push(streamer(traffic, ledgerFor("streaming")));
    for (let i = 0; i < options.sockets; i++) loops.push(socketReader(traffic, ledgerFor("websocket")));
    const producers = [publishers(traffic, channels, options.rate), churn(traffic)];
    loops.push(...producers);
    const failure = Promise.all(loops).then(() => undefined, (error: unknown) => error);

    const sampleEveryMs = Math.max(1000, Math.min(10_000, (options.seconds * 1000) / 30));
    const endAt = Date.now() + options.seconds * 1000;
    process.stdout.write(`soak: ${options.seconds} s, ${options.rate} msg/s over ${options.channels} channels, ${options.pollers} long-polls, ${options.streams} streams, ${options.sockets} WebSockets, churn; server pid ${server.child.pid}\n`);
    while (Date.now() < endAt) {
      const raced = await Promise.race([sleep(Math.min(sampleEveryMs, endAt - Date.now())).then(() => "tick"), failure]);
      if (raced !== "tick" && raced !== undefined) throw raced;
      samples.push(await server.sample());
      const last = samples.at(-1)!;
      process.stdout.write(`  ${Math.round(last.atMs / 1000)} s: rss ${(last.rss / MB).toFixed(1)} MB, heap ${(last.heapUsed / MB).toFixed(1)} MB, external ${(last.external / MB).toFixed(1)} MB, handles ${last.handles}, fds ${last.fds}, published ${traffic.counts.publishes ?? 0}\n`);
    }
    traffic.publishing = false;
    await Promise.all(producers);
    // Everything published must reach every subscriber (they keep reading and reconnecting): wait for the stragglers.
    const owed = (): number => traffic.ledgers.reduce((sum, ledger) => sum + ledger.owed(traffic.published), 0);
    for (const until = Date.now() + 15_000; Date.now() < until && owed() > 0;) await sleep(100);
    traffic.stopping = true;
    const stopped = await Promise.race([Promise.all(loops).then(() => true, () => true), sleep(20_000).then(() => false)]);
    if (!stopped) throw new Error("the traffic did not stop within 20 s");
    traffic.agent.destroy();
    // Closed connections leave the server within its linger and close-wait times (5 s).
    let after = await server.sample();
    for (const until = Date.now() + 8000; Date.now() < until && (after.handles > before.handles || after.fds > before.fds);) {
      await sleep(500);
      after = await server.sample();
    }

    // Growth over the run once warm: storage fills its rings in the first 20 s.
    const warm = samples.filter((s) => s.atMs >= Math.max(20_000, samples.at(-1)!.atMs * 0.25));
    const expected = traffic.ledgers.reduce((sum, l) => sum + l.channels.reduce((n, c) => n + (traffic.published.get(c) ?? 0), 0), 0);
    const delivered = traffic.ledgers.reduce((sum, l) => sum + l.delivered, 0);
    const figures = {
      seconds: options.seconds,
      published: [...traffic.published.values()].reduce((a, b) => a + b, 0),
      expected,
      delivered,
      missing: expected - delivered,
      missingBy: Object.fromEntries(["long-poll", "streaming", "websocket"].map((kind) => [kind, traffic.ledgers.filter((l) => l.kind === kind).reduce((sum, l) => sum + l.owed(traffic.published), 0)])),
      gaps: traffic.ledgers.reduce((sum, l) => sum + l.gaps, 0),
      duplicates: traffic.ledgers.reduce((sum, l) => sum + l.duplicates, 0),
      churnExpected: traffic.counts["churn expected"] ?? 0,
      churnDelivered: traffic.counts["churn delivered"] ?? 0,
      churnSocketsLeftOpen: traffic.counts["churn sockets left open"] ?? 0,
      rssGrowthMbPerMinute: round(perMinute(warm, (s) => s.rss) / MB),
      heapGrowthMbPerMinute: round(perMinute(warm, (s) => s.heapUsed) / MB),
      externalGrowthMbPerMinute: round(perMinute(warm, (s) => s.external) / MB),
      handlesGrowthPerMinute: round(perMinute(warm, (s) => s.handles)),
      fdsGrowthPerMinute: round(perMinute(warm, (s) => s.fds)),
      rssMb: [round(samples[0]!.rss / MB), round(samples.at(-1)!.rss / MB)],
      heapMb: [round(samples[0]!.heapUsed / MB), round(samples.at(-1)!.heapUsed / MB)],
      handlesBeforeAndAfter: [before.handles, after.handles],
      fdsBeforeAndAfter: [before.fds, after.fds],
      errorLines: server.errorLines.length,
      warnLines: server.warnLines.length,
      counts: traffic.counts,
    };
    process.stdout.write(`${JSON.stringify(figures)}\n`);
    process.stdout.write([
      `delivered ${delivered} of ${expected} expected (missing ${figures.missing}, gaps ${figures.gaps}, duplicates ${figures.duplicates}); deleted channels: ${figures.churnDelivered} of ${figures.churnExpected}`,
      `growth per minute (after warm-up): rss ${figures.rssGrowthMbPerMinute} MB, heap ${figures.heapGrowthMbPerMinute} MB, external ${figures.externalGrowthMbPerMinute} MB, handles ${figures.handlesGrowthPerMinute}, fds ${figures.fdsGrowthPerMinute}`,
      `once the clients left: handles ${before.handles} → ${after.handles} (${JSON.stringify(after.kinds)}), fds ${before.fds} → ${after.fds}`,
      `log: ${server.errorLines.length} error lines, ${server.warnLines.length} warn lines`,
      ...server.errorLines.slice(0, 5).map((line) => `  ${line}`),
    ].join("\n") + "\n");
    if (options.ci) exitCode = verdict(figures, before, after);
  } finally {
    traffic.publishing = false;
    traffic.stopping = true;
    traffic.agent.destroy();
    WsClient.destroyAll();
    await server.stop();
  }
  return exitCode;
}

interface Verdicted {
  missing: number;
  duplicates: number;
  gaps: number;
  churnExpected: number;
  churnDelivered: number;
  churnSocketsLeftOpen: number;
  errorLines: number;
  heapGrowthMbPerMinute: number;
  externalGrowthMbPerMinute: number;
  rssGrowthMbPerMinute: number;
}

function verdict(figures: Verdicted, before: Sample, after: Sample): number {
  const problems: string[] = [];
  if (figures.missing !== 0 || figures.gaps !== 0) problems.push(`${figures.missing} messages missing, ${figures.gaps} gaps`);
  if (figures.duplicates !== 0) problems.push(`${figures.duplicates} duplicates`);
  if (figures.churnDelivered !== figures.churnExpected || figures.churnSocketsLeftOpen) problems.push("a deleted channel's subscriber missed its messages or stayed open");
  if (figures.errorLines !== 0) problems.push(`${figures.errorLines} error lines in the log`);
  if (figures.heapGrowthMbPerMinute > SOAK_BOUNDS.heapGrowthMbPerMinute) problems.push(`heap grows ${figures.heapGrowthMbPerMinute} MB/min`);
  if (figures.externalGrowthMbPerMinute > SOAK_BOUNDS.externalGrowthMbPerMinute) problems.push(`Buffers outside the heap grow ${figures.externalGrowthMbPerMinute} MB/min`);
  if (figures.rssGrowthMbPerMinute > SOAK_BOUNDS.rssGrowthMbPerMinute) problems.push(`rss grows ${figures.rssGrowthMbPerMinute} MB/min`);
  if (after.handles - before.handles > SOAK_BOUNDS.leftoverHandles) problems.push(`${after.handles - before.handles} handles left: ${JSON.stringify(after.kinds)}`);
  if (after.fds - before.fds > SOAK_BOUNDS.leftoverFds) problems.push(`${after.fds - before.fds} fds left`);
  for (const problem of problems) process.stderr.write(`soak: FAIL ${problem}\n`);
  if (!problems.length) process.stdout.write(`soak: ok (bounds ${JSON.stringify(SOAK_BOUNDS)})\n`);
  return problems.length ? 1 : 0;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`soak: ${(error as Error).stack ?? error}\n`);
    process.exit(1);
  },
);
