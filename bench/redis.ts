/**
 * Several machines (issue 16): 3 pushwire nodes sharing 1 redis-server, all on this box (so the
 * nodes, Redis, wrk and the holders share its cores: every figure is a floor for real machines).
 * Prints one JSON line per figure and the Markdown table.
 *
 *   npm run bench:redis                          every phase
 *   npm run bench:redis -- --only fanout,publish,latency --fanout 30000 --wrk-seconds 10
 *
 * Phases:
 * - fanout: one message published through node 1 to F long-polls on one channel, a third held on
 *   each node;
 * - publish: wrk keep-alive publishes (10k channels) through node 1, then through all three at
 *   once (three wrk, one per node), with Redis's CPU per 1000 publishes;
 * - latency: p99 publish→receive at 1000 msg/s, publishes to node 1, 1000 re-polling long-polls
 *   on node 2 (every message crosses Redis).
 * Loopback only; bounded in count and time. Needs redis-server (and wrk for the publish phase).
 */
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { startRedis } from "../test/support/redis-server.js";
import { Holders, sleep } from "./holders.js";
import { fanOut, latencyRun, log, NO_CURSOR_SUB, runWrk, waitSubscribers, wrkRates } from "./measure.js";
import { cpuSeconds } from "./proc-stats.js";
import { Report, round } from "./report.js";
import { BENCH_SOURCE_DIR, startPushwire, unitNodeArgs, type BenchServer } from "./servers.js";

const NODES = 3;
const LATENCY_RATE = 1000;
const LATENCY_SUBSCRIBERS = 1000;
const LATENCY_MS = 10_000;

interface Options {
  only: Set<string>;
  fanout: number;
  wrkSeconds: number;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const option = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  const options: Options = {
    only: new Set(option("--only")?.split(",") ?? ["fanout", "publish", "latency"]),
    fanout: Number(option("--fanout") ?? 30_000),
    wrkSeconds: Number(option("--wrk-seconds") ?? 10),
  };
  const report = new Report();
  const redis = await startRedis();
  const redisPid = redis.child.pid!;
  const nodeArgs = unitNodeArgs();
  const nodes: BenchServer[] = [];
  const holders = new Holders(Math.max(4, Math.ceil(options.fanout / 15_000)));
  try {
    for (let i = 0; i < NODES; i++) {
      const node = await startPushwire(nodeArgs, 1, ["--redis", `redis://127.0.0.1:${redis.port}`]);
      node.name = `node${i + 1}`;
      nodes.push(node);
    }
    log(`${NODES} nodes (pids ${nodes.map((n) => n.pid).join(", ")}) on redis-server pid ${redisPid} port ${redis.port}`);
    if (options.only.has("fanout")) await fanOutOverNodes(options, nodes, holders, redisPid, report);
    if (options.only.has("publish")) await publishRates(options, nodes, redisPid, report);
    if (options.only.has("latency")) await crossNodeLatency(nodes, holders, report);
  } finally {
    holders.stop();
    for (const node of nodes) await node.stop();
    await redis.stop();
  }
  process.stdout.write(`\n${report.table()}\n`);
  return 0;
}

/** One message through node 1 to `options.fanout` long-polls, a third on each node. */
async function fanOutOverNodes(options: Options, nodes: BenchServer[], holders: Holders, redisPid: number, report: Report): Promise<void> {
  const channel = "fan";
  const share = Math.floor(options.fanout / nodes.length);
  let held = 0;
  for (const node of nodes) {
    await holders.open(node.subPort, NO_CURSOR_SUB + channel, share);
    held += await waitSubscribers(node, channel, share, 60_000);
  }
  await sleep(1000);
  const redisCpu0 = cpuSeconds(redisPid);
  // The publishing node's CPU is what fanOut measures; the other nodes deliver their thirds in parallel.
  const fan = await fanOut(nodes[0]!, holders, [channel], held);
  log(`fan-out over ${nodes.length} nodes: ${fan.delivered}/${held} in ${round(fan.ms)} ms; Redis CPU ${round((cpuSeconds(redisPid) - redisCpu0) * 1000)} ms`);
  report.add({
    figure: `fan-out: 1 message through node 1 to ${held} long-polls, ${share} on each of ${nodes.length} nodes`,
    unit: "ms",
    pushwire: round(fan.ms),
    detail: { delivered: fan.delivered, node1CpuMs: round(fan.cpuMs), holdersCpuMs: round(fan.clientCpuMs) },
  });
  await holders.closeSockets();
}

/** wrk through node 1, then three wrk at once, one per node; Redis's CPU per 1000 publishes in each. */
async function publishRates(options: Options, nodes: BenchServer[], redisPid: number, report: Report): Promise<void> {
  if (spawnSync("wrk", ["-v"], { stdio: "ignore" }).error) return log("wrk is not installed (apt-get install wrk); no publish-rate figures");
  runWrk(nodes[0]!, 2, "keep-alive"); // warm-up: channels created, code compiled, script loaded
  let redisCpu0 = cpuSeconds(redisPid);
  const one = runWrk(nodes[0]!, options.wrkSeconds, "keep-alive");
  const requestsOne = one.rps * options.wrkSeconds;
  const redisPerThousandOne = ((cpuSeconds(redisPid) - redisCpu0) / requestsOne) * 1000 * 1000;
  report.add({
    figure: "publish rate through 1 of 3 nodes, wrk -t2 -c50 keep-alive, 10k channels",
    unit: "req/s",
    pushwire: Math.round(one.rps),
    detail: { non2xx: one.non2xx, errors: one.errors, node1CpuUsPerRequest: one.cpuUsPerRequest },
  });
  redisCpu0 = cpuSeconds(redisPid);
  const all = await Promise.all(nodes.map((node) => wrkAsync(node, options.wrkSeconds)));
  const total = all.reduce((sum, r) => sum + r.rps, 0);
  const redisPerThousandAll = ((cpuSeconds(redisPid) - redisCpu0) / (total * options.wrkSeconds)) * 1000 * 1000;
  log(`through all ${nodes.length} nodes: ${all.map((r) => Math.round(r.rps)).join(" + ")} = ${Math.round(total)} req/s`);
  report.add({
    figure: `publish rate through all ${nodes.length} nodes at once, 3 × wrk -t1 -c17 keep-alive`,
    unit: "req/s",
    pushwire: Math.round(total),
    detail: { perNode: all.map((r) => Math.round(r.rps)).join("/"), non2xx: all.reduce((s, r) => s + r.non2xx, 0) },
  });
  report.add({
    figure: "Redis CPU per 1000 publishes (through 1 node / through all 3)",
    unit: "ms",
    pushwire: round(redisPerThousandOne, 1),
    detail: { throughAll: round(redisPerThousandAll, 1) },
  });
}

/** wrk -t1 -c17 against one node, without blocking the others' runs. */
function wrkAsync(node: BenchServer, seconds: number): Promise<{ rps: number; non2xx: number }> {
  const args = ["-t1", "-c17", `-d${seconds}s`, "--timeout", "5s", "-s", join(BENCH_SOURCE_DIR, "publish-many.lua"), `http://127.0.0.1:${node.pubPort}/bitrix/pub/`];
  return new Promise((resolve) => {
    const child = spawn("wrk", args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.on("exit", () => {
      const { rps, non2xx } = wrkRates(out);
      log(`${node.name}: wrk keep-alive (one of ${NODES} at once): ${rps} req/s${non2xx ? `, ${non2xx} non-2xx` : ""}`);
      resolve({ rps, non2xx });
    });
  });
}

/** p99 at 1000 msg/s: publishes to node 1, subscribers on node 2. */
async function crossNodeLatency(nodes: BenchServer[], holders: Holders, report: Report): Promise<void> {
  const [first, second] = nodes;
  const figures = await latencyRun(second!, holders, { rate: LATENCY_RATE, subscribers: LATENCY_SUBSCRIBERS, ms: LATENCY_MS, prefix: "lat-", publishPort: first!.pubPort });
  report.add({
    figure: `publish→receive p99 across nodes (publish to node 1, ${LATENCY_SUBSCRIBERS} long-polls on node 2) at ${LATENCY_RATE} msg/s`,
    unit: "ms",
    pushwire: round(figures["p99"]!, 2),
    target: "≤ 10",
    detail: { p50: round(figures["p50"]!, 2), max: round(figures["max"]!, 2), received: figures["received"]!, sent: figures["sent"]! },
  }, (f) => f.pushwire <= 10);
}

main().then((code) => process.exit(code), (error: unknown) => {
  process.stderr.write(`bench: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
