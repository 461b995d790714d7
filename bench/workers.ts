/**
 * Workers (issue 15): pushwire with `--workers N` measured in one run, beside nginx + Nchan with
 * the same number of nginx workers where a row compares them. Prints one JSON line per figure
 * and the Markdown table.
 *
 *   npm run bench:workers                                   every phase
 *   npm run bench:workers -- --only fanout,held,publish,latency
 *   npm run bench:workers -- --held 70000 --fanout 19000 --no-peer
 *
 * Phases:
 * - fanout: one message to F long-polls on one channel, with 1 and with 2 workers (median of 3);
 * - held: 4 workers hold H long-polls on one channel (RSS of the primary and workers per held
 *   long-poll, descriptors per worker: how evenly they spread), then one message to all of them;
 * - publish: wrk -t2 -c50 keep-alive and one connection per publish, 2 workers against Nchan with 2;
 * - latency: p99 publish→receive at 1000 msg/s, 1 worker against 2 (publishes land on either).
 * `NODE_CLUSTER_SCHED_POLICY=rr npm run bench:workers` measures node:cluster's round-robin instead
 * of pushwire's default (the kernel's). Loopback only; bounded in count and time. Holders: raw sockets in several processes over
 * 127.0.0.2–201 (each process may open 20000 files).
 */
import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { Holders, sleep } from "./holders.js";
import { fanOut, latencyRun, log, NO_CURSOR_SUB, runWrk, serverRssBytes, waitSubscribers } from "./measure.js";
import { childPids, openDescriptors } from "./proc-stats.js";
import { quantile, Report, round } from "./report.js";
import { nchanAvailable, startNchan, startPushwire, unitNodeArgs, type BenchServer } from "./servers.js";

const ROUNDS = 3;

interface Options {
  only: Set<string>;
  held: number;
  fanout: number;
  peer: boolean;
  wrkSeconds: number;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const option = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  const options: Options = {
    only: new Set(option("--only")?.split(",") ?? ["fanout", "held", "publish", "latency"]),
    held: Number(option("--held") ?? 70_000),
    fanout: Number(option("--fanout") ?? 19_000),
    peer: !args.includes("--no-peer") && nchanAvailable(),
    wrkSeconds: Number(option("--wrk-seconds") ?? 10),
  };
  const report = new Report();
  const nodeArgs = unitNodeArgs();
  // Enough holder processes that none passes ~19.9k sockets.
  const holders = new Holders(Math.max(4, Math.ceil(Math.max(options.held, options.fanout) / 15_000)));
  try {
    if (options.only.has("fanout")) await fanOutByWorkers(options, nodeArgs, holders, report);
    if (options.only.has("held")) await heldWithWorkers(options, nodeArgs, holders, report);
    if (options.only.has("publish")) await publishWithWorkers(options, nodeArgs, report);
    if (options.only.has("latency")) await latencyByWorkers(nodeArgs, holders, report);
  } finally {
    holders.stop();
  }
  process.stdout.write(`\n${report.table()}\n`);
  return 0;
}

/** One message to `options.fanout` long-polls on one channel, with 1 and with 2 workers. */
async function fanOutByWorkers(options: Options, nodeArgs: string[], holders: Holders, report: Report): Promise<void> {
  const times = new Map<number, { ms: number[]; cpuMs: number[]; clientCpuMs: number[] }>();
  for (const workers of [1, 2]) {
    const server = await startPushwire(nodeArgs, workers);
    const row = { ms: [] as number[], cpuMs: [] as number[], clientCpuMs: [] as number[] };
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const channel = `fan${round}`;
        await holders.open(server.subPort, NO_CURSOR_SUB + channel, options.fanout);
        await waitSubscribers(server, channel, options.fanout, 60_000);
        await sleep(1000);
        const fan = await fanOut(server, holders, [channel], options.fanout);
        row.ms.push(fan.ms);
        row.cpuMs.push(fan.cpuMs);
        row.clientCpuMs.push(fan.clientCpuMs);
        await holders.closeSockets();
        await sleep(500);
      }
    } finally {
      await server.stop();
    }
    times.set(workers, row);
    log(`${workers} worker(s): fan-out to ${options.fanout}: ${row.ms.map((ms) => round(ms)).join(", ")} ms`);
  }
  const one = median(times.get(1)!.ms);
  const two = median(times.get(2)!.ms);
  const cpu = (workers: number, key: "cpuMs" | "clientCpuMs"): number => round(median(times.get(workers)![key]));
  // Server and holders share this machine's cores: with both busy the whole time, the fan-out
  // cannot end before (server CPU + holders' CPU) / cores. What 2 workers could reach here at best:
  const floorTwo = (cpu(2, "cpuMs") + cpu(2, "clientCpuMs")) / availableParallelism();
  log(`2 workers: server ${cpu(2, "cpuMs")} ms + holders ${cpu(2, "clientCpuMs")} ms of CPU over ${availableParallelism()} cores: no fan-out under ${round(floorTwo)} ms here (ratio ${round(floorTwo / one, 3)})`);
  report.add({
    figure: `fan-out: 1 message to ${options.fanout} long-polls on one channel, 2 workers ÷ 1 worker`,
    unit: "ratio",
    pushwire: round(two / one, 3),
    target: "≤ 0.6",
    detail: {
      oneWorkerMs: round(one),
      twoWorkersMs: round(two),
      serverCpuMs: { one: cpu(1, "cpuMs"), two: cpu(2, "cpuMs") },
      holdersCpuMs: { one: cpu(1, "clientCpuMs"), two: cpu(2, "clientCpuMs") },
      cpuBoundRatio: round(floorTwo / one, 3),
      rounds: ROUNDS,
    },
  }, (f) => f.pushwire <= 0.6);
}

/** 4 workers hold `options.held` long-polls: memory per held long-poll, then one message to all of them. */
async function heldWithWorkers(options: Options, nodeArgs: string[], holders: Holders, report: Report): Promise<void> {
  const server = await startPushwire(nodeArgs, 4);
  try {
    await sleep(1000);
    const base = serverRssBytes(server);
    const channel = "held";
    const opened = await holders.open(server.subPort, NO_CURSOR_SUB + channel, options.held);
    const held = await waitSubscribers(server, channel, options.held, 120_000);
    await sleep(2000);
    const perHeld = (serverRssBytes(server) - base) / held;
    const spread = childPids(server.pid).map(openDescriptors);
    log(`4 workers: ${opened} opened, ${held} held, ${round(perHeld / 1024, 2)} KB RSS each (primary and workers); descriptors per worker ${spread.join("/")}`);
    report.add({
      figure: `held long-polls with 4 workers (opened ${opened})`,
      unit: "held",
      pushwire: held,
      target: `≥ ${options.held}`,
    }, (f) => f.pushwire >= options.held);
    report.add({ figure: `RSS per held long-poll, ${held} held, 4 workers`, unit: "KB", pushwire: round(perHeld / 1024, 2) });
    report.add({ figure: "open descriptors per worker (the spread of the held long-polls)", unit: "fds", pushwire: Math.max(...spread), detail: { perWorker: spread.join("/") } });
    const fan = await fanOut(server, holders, [channel], held);
    report.add({
      figure: `fan-out: 1 message to ${held} long-polls on one channel, 4 workers`,
      unit: "ms",
      pushwire: round(fan.ms),
      detail: { delivered: fan.delivered, serverCpuMs: round(fan.cpuMs) },
    });
    await holders.closeSockets();
  } finally {
    await server.stop();
  }
}

/** wrk against pushwire with 2 workers and nginx + Nchan with 2 workers. */
async function publishWithWorkers(options: Options, nodeArgs: string[], report: Report): Promise<void> {
  if (spawnSync("wrk", ["-v"], { stdio: "ignore" }).error) return log("wrk is not installed (bench/peer-nchan.sh); no publish-rate figures");
  const servers: BenchServer[] = [await startPushwire(nodeArgs, 2)];
  if (options.peer) servers.push(await startNchan(2));
  try {
    for (const server of servers) runWrk(server, 2, "keep-alive"); // warm-up: channels created, code compiled
    for (const mode of ["keep-alive", "close"] as const) {
      const rates = new Map(servers.map((server) => [server.name, runWrk(server, options.wrkSeconds, mode)]));
      const pw = rates.get("pushwire")!;
      const peer = rates.get("nchan");
      report.add({
        figure: `publish rate, 2 workers, ${mode === "keep-alive" ? "wrk -t2 -c50 keep-alive" : "one connection per publish (close)"}, 10k channels`,
        unit: "req/s",
        pushwire: Math.round(pw.rps),
        ...(peer ? { nchan: Math.round(peer.rps) } : {}),
        target: "ratio ≥ 1.0",
        detail: Object.fromEntries([...rates].map(([k, v]) => [k, { non2xx: v.non2xx, errors: v.errors, serverCpuUsPerRequest: v.cpuUsPerRequest }])),
      }, (f) => (f.ratio !== undefined ? f.ratio >= 1.0 : undefined));
    }
  } finally {
    for (const server of servers) await server.stop();
  }
}

const LATENCY_RATE = 1000;
const LATENCY_SUBSCRIBERS = 1000;
const LATENCY_MS = 10_000;

/**
 * p99 from publish to receipt at 1000 msg/s over 1000 re-polling long-polls on channels of their
 * own, with 1 and with 2 workers: with 2, a publish lands on either worker and about half the
 * subscribers are on the other, so the primary's hop is in the figure.
 */
async function latencyByWorkers(nodeArgs: string[], holders: Holders, report: Report): Promise<void> {
  const p99 = new Map<number, number>();
  for (const workers of [1, 2]) {
    const server = await startPushwire(nodeArgs, workers);
    try {
      const figures = await latencyRun(server, holders, { rate: LATENCY_RATE, subscribers: LATENCY_SUBSCRIBERS, ms: LATENCY_MS, prefix: `lat${workers}-` });
      p99.set(workers, figures["p99"]!);
    } finally {
      await server.stop();
    }
  }
  report.add({
    figure: `publish→receive p99 at ${LATENCY_RATE} msg/s, 2 workers minus 1 worker`,
    unit: "ms",
    pushwire: round(p99.get(2)! - p99.get(1)!, 2),
    target: "≤ 5",
    detail: { oneWorkerP99: round(p99.get(1)!, 2), twoWorkersP99: round(p99.get(2)!, 2) },
  }, (f) => f.pushwire <= 5);
}

function median(values: number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}

main().then((code) => process.exit(code), (error: Error) => {
  process.stderr.write(`bench: failed: ${error.stack ?? error}\n`);
  process.exit(2);
});
