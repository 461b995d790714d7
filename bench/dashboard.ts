/**
 * What the dashboard costs the server: pushwire (dist/pushwire.js, the BitrixVM layout, whose
 * loopback listener serves /dashboard/) holds HELD long-polls and takes RATE publishes a second
 * (to channels other than the held ones, so the held set stays what it is); the server's CPU
 * (/proc, user + system) is measured over windows of WINDOW seconds with no dashboard open and
 * with one open (its EventSource feed read as a browser would), alternating, ROUNDS times
 * (closed/open, open/closed, …).
 * Prints one JSON line: CPU in % of one core for each window, the means and the difference, and
 * the time of one sampler period measured in this process on a store of the same size (HELD
 * held connections, HELD + 1000 channels), without sockets.
 *
 *   npm run bench:dashboard -- [HELD=19000] [RATE=1000] [WINDOW=15] [ROUNDS=4]
 *   PUSHWIRE_BENCH_CONTROL=1 npm run bench:dashboard   (the same, the dashboard never opened: the noise)
 *
 * Bounded: at most 19 000 held long-polls (the server's open-file limit is 20 000 here), 5 000 msg/s.
 */
import { get, type IncomingMessage } from "node:http";
import type { PushContext } from "../src/context.js";
import { ServerMetrics } from "../src/context.js";
import { systemClock } from "../src/core/clock.js";
import { Refusal } from "../src/core/refusal.js";
import { TimerWheel } from "../src/core/timer-wheel.js";
import { DashboardFeed } from "../src/dashboard/feed.js";
import { silentLogger } from "../src/log.js";
import { memoryChannels } from "../src/store/channels.js";
import { Holders, sleep } from "./holders.js";
import { cpuSeconds } from "./proc-stats.js";
import { Publisher } from "./publisher.js";
import { startPushwire } from "./servers.js";

const HELD = Math.min(Number(process.argv[2] ?? 19_000), 19_000);
const RATE = Math.min(Number(process.argv[3] ?? 1000), 5000);
const WINDOW_S = Math.max(Number(process.argv[4] ?? 15), 2);
const ROUNDS = Math.max(Number(process.argv[5] ?? 4), 1);
/** PUSHWIRE_BENCH_CONTROL=1: the same windows with no dashboard ever opened — the noise floor of the figure. */
const CONTROL = process.env["PUSHWIRE_BENCH_CONTROL"] === "1";
/** Sockets per holder process stay well under its own open-file limit. */
const PER_HOLDER = 10_000;
const BUSY_CHANNELS = 1000;
const TICK_MS = 10;
const BODY = '{"bench":"dashboard","text":"a chat message of about this size"}';

/** Publishes RATE messages a second in 10 ms batches, round-robin over BUSY_CHANNELS channels, until stopped. */
function publishSteadily(publisher: Publisher): () => void {
  const perTick = RATE * TICK_MS / 1000;
  let owed = 0;
  let k = 0;
  const timer = setInterval(() => {
    owed += perTick;
    const channels: string[] = [];
    for (; owed >= 1; owed--) channels.push(`busy-${k++ % BUSY_CHANNELS}`);
    if (channels.length > 0) publisher.publish(channels, () => BODY);
  }, TICK_MS);
  return () => clearInterval(timer);
}

/** The dashboard's feed, read as the page reads it; resolves once its first frame is in. */
function openDashboard(port: number): Promise<{ frames: () => number; close: () => void }> {
  return new Promise((resolve, reject) => {
    let frames = 0;
    let response: IncomingMessage | undefined;
    const request = get({ host: "127.0.0.1", port, path: "/dashboard/feed", agent: false }, (res) => {
      response = res;
      if (res.statusCode !== 200) return reject(new Error(`/dashboard/feed: ${res.statusCode}`));
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        const before = frames;
        frames += chunk.split("\n\nevent: ").length - 1 + (chunk.startsWith("event: ") ? 1 : 0);
        if (before === 0 && frames > 0) resolve({ frames: () => frames, close: () => request.destroy() });
      });
    });
    request.on("error", (error) => (response ? undefined : reject(error)));
  });
}

/** One sampler period (ms, mean of 100) on an in-memory store shaped like the one the server holds. */
function tickMsInProcess(): number {
  const limits = {
    maxMessagesStoredPerChannel: 1000, messageTtl: 86400, maxChannelIdLength: 0, maxNumberOfChannels: 0, maxNumberOfWildcardChannels: 0,
    wildcardChannelPrefix: "", channelInactivityTime: 30, maxSubscribersPerChannel: 0, channelDeletedMessageText: "", sharedMemorySize: 0,
  };
  const channels = memoryChannels(limits, systemClock);
  const held = new Set(Array.from({ length: HELD }, () => ({ mode: "long-polling", shutdown() {}, abort() {} })));
  for (let i = 0; i < HELD + BUSY_CHANNELS; i++) {
    const channel = channels.store.obtain(`c-${i}`);
    if (channel instanceof Refusal) throw new Error(channel.explain);
    if (i < BUSY_CHANNELS) channels.broker.publish([channel], Buffer.from(BODY), { eventId: "", eventType: "", store: true });
  }
  const ctx: PushContext = {
    ...channels, http: undefined as never, wheel: new TimerWheel(100, Date.now()), clock: systemClock, log: silentLogger,
    held, draining: false, metrics: new ServerMetrics(),
  };
  const feed = new DashboardFeed(ctx, () => []);
  feed.watch({ send() {}, end() {} });
  for (let i = 0; i < 20; i++) feed.tick();
  const t = process.hrtime.bigint();
  for (let i = 0; i < 100; i++) feed.tick();
  const ms = Number(process.hrtime.bigint() - t) / 1e6 / 100;
  feed.close();
  return Math.round(ms * 100) / 100;
}

/** CPU of `pid` over `seconds`, in % of one core. */
async function cpuPercent(pid: number, seconds: number): Promise<number> {
  const cpu = cpuSeconds(pid);
  const t = process.hrtime.bigint();
  await sleep(seconds * 1000);
  const wall = Number(process.hrtime.bigint() - t) / 1e9;
  return Math.round((cpuSeconds(pid) - cpu) / wall * 1000) / 10;
}

const mean = (values: number[]): number => Math.round(values.reduce((a, b) => a + b, 0) / values.length * 100) / 100;

async function main(): Promise<void> {
  const server = await startPushwire();
  const holders = new Holders(Math.max(1, Math.ceil(HELD / PER_HOLDER)));
  const publisher = await Publisher.open(server.pubPort, 4);
  let stopPublishing = (): void => {};
  try {
    // Held long-polls, one channel each (as Bitrix's one channel per user), on channels nobody publishes to.
    const opened = await holders.open(server.subPort, "/bitrix/sub?CHANNEL_ID=held-{i}", HELD);
    stopPublishing = publishSteadily(publisher);
    await sleep(3000); // channels created, stores filled a little, the JIT warm
    const closed: number[] = [];
    const open: number[] = [];
    let frames = 0;
    // Closed then open, then open then closed, …: a drift of the baseline (stores filling up) favours neither.
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) closed.push(await cpuPercent(server.pid, WINDOW_S));
      const dashboard = CONTROL ? { frames: () => 0, close: () => {} } : await openDashboard(server.pubPort);
      open.push(await cpuPercent(server.pid, WINDOW_S));
      frames += dashboard.frames();
      dashboard.close();
      await sleep(500);
      if (round % 2 === 1) closed.push(await cpuPercent(server.pid, WINDOW_S));
    }
    const sentBefore = publisher.sent;
    const drained = await publisher.drained(10_000);
    console.log(JSON.stringify({
      held: opened,
      publishRate: RATE,
      published: sentBefore,
      refused: publisher.refused,
      allAnswered: drained,
      windowSeconds: WINDOW_S,
      cpuPercentClosed: closed,
      cpuPercentOpen: open,
      meanClosed: mean(closed),
      meanOpen: mean(open),
      control: CONTROL,
      dashboardCostPercentOfCore: Math.round((mean(open) - mean(closed)) * 100) / 100,
      dashboardFrames: frames,
      samplerPeriodMsInProcess: tickMsInProcess(),
    }));
  } finally {
    stopPublishing();
    publisher.close();
    await holders.closeSockets().catch(() => {});
    holders.stop();
    await server.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
