import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { sleep, type Holders } from "./holders.js";
import { cpuSeconds, rssBytes, treeCpuSeconds, treeRssBytes } from "./proc-stats.js";
import { Publisher, timedBody } from "./publisher.js";
import { quantile, round } from "./report.js";
import { BENCH_SOURCE_DIR, type BenchServer } from "./servers.js";

/** Measurements every bench phase shares: a server's CPU and memory, a fan-out, a wrk publish run, its subscriber count. */

/** CPU seconds the server has used: its process, or with several workers the whole tree. */
export function serverCpuSeconds(server: BenchServer): number {
  return server.tree ? treeCpuSeconds(server.pid) : cpuSeconds(server.pid);
}

/** Resident memory of the server: its process, or with several workers the whole tree. */
export function serverRssBytes(server: BenchServer): number {
  return server.tree ? treeRssBytes(server.pid) : rssBytes(server.pid);
}

/**
 * Publishes one message to each channel (one publish per channel, pipelined over 10 connections)
 * and times from just before the first write to the last subscriber's first byte.
 */
export async function fanOut(server: BenchServer, holders: Holders, channels: string[], expected: number): Promise<{ ms: number; delivered: number; cpuMs: number; clientCpuMs: number }> {
  const publisher = await Publisher.open(server.pubPort, Math.min(10, channels.length));
  await holders.arm();
  const cpu0 = serverCpuSeconds(server);
  const clientCpu0 = holders.cpuSeconds();
  const t0 = Number(process.hrtime.bigint());
  publisher.publish(channels, timedBody);
  const answered = publisher.drained(30_000).then(() => (Number(process.hrtime.bigint()) - t0) / 1e6);
  const result = await holders.waitDelivered(expected, 30_000);
  const publishedMs = await answered;
  const cpuMs = (serverCpuSeconds(server) - cpu0) * 1000;
  const clientCpuMs = (holders.cpuSeconds() - clientCpu0) * 1000;
  publisher.close();
  // A fan-out that did not reach everyone has no time (NaN, null in JSON), never a flattering one.
  const ms = result.delivered < expected ? NaN : (result.lastNs - t0) / 1e6;
  if (result.delivered < expected || publisher.refused) {
    log(`${server.name}: fan-out delivered ${result.delivered}/${expected}, ${result.failed} failed, ${publisher.refused} publishes refused`);
  }
  log(`${server.name}: ${channels.length} publish(es) → ${result.delivered} delivered in ${round(ms)} ms (publishes answered in ${round(publishedMs)} ms), server CPU ${round(cpuMs)} ms, holders' CPU ${round(clientCpuMs)} ms`);
  return { ms, delivered: result.delivered, cpuMs, clientCpuMs };
}

export function runWrk(server: BenchServer, seconds: number, mode: "keep-alive" | "close"): { rps: number; non2xx: number; errors: string; cpuUsPerRequest: number } {
  const args = ["-t2", "-c50", `-d${seconds}s`, "--timeout", "5s", "-s", join(BENCH_SOURCE_DIR, "publish-many.lua"), `http://127.0.0.1:${server.pubPort}/bitrix/pub/`];
  if (mode === "close") args.push("--", "close");
  const cpu0 = serverCpuSeconds(server);
  const run = spawnSync("wrk", args, { encoding: "utf8", timeout: (seconds + 30) * 1000 });
  const cpu = serverCpuSeconds(server) - cpu0;
  const out = run.stdout ?? "";
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const cpuUsPerRequest = round((cpu / requests) * 1e6);
  const { rps, non2xx } = wrkRates(out);
  const errors = /Socket errors:.*/.exec(out)?.[0] ?? "";
  log(`${server.name}: wrk ${mode}: ${rps} req/s, server CPU ${cpuUsPerRequest} µs/request${non2xx ? `, ${non2xx} non-2xx` : ""}${errors ? `, ${errors}` : ""}`);
  return { rps, non2xx, errors, cpuUsPerRequest };
}

/** Requests per second and non-2xx answers from wrk's output. */
export function wrkRates(out: string): { rps: number; non2xx: number } {
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0),
  };
}

/** Waits until the server counts `count` subscribers on the channel (its channel info), or the deadline. */
export async function waitSubscribers(server: BenchServer, channel: string, count: number, deadlineMs: number): Promise<number> {
  const until = Date.now() + deadlineMs;
  let seen = 0;
  while (Date.now() < until) {
    try {
      const response = await fetch(`http://127.0.0.1:${server.pubPort}/bitrix/pub/?CHANNEL_ID=${channel}`, { headers: { Accept: "application/json" } });
      const text = await response.text();
      seen = Number(/"subscribers":\s*(\d+)/.exec(text)?.[1] ?? 0);
      if (seen >= count) return seen;
    } catch {
      // not there yet
    }
    await sleep(100);
  }
  log(`${server.name}: only ${seen}/${count} subscribers on ${channel} after ${deadlineMs} ms`);
  return seen;
}

export function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}


/**
 * p99 publish→receive with long-polls that re-poll (cursor from Last-Modified/Etag): `subscribers`
 * long-polls on channels of their own (`prefix` + i), one publish after another at `rate` msg/s
 * for `ms`, every message collected (a server behind catches up from its store, for ≤ 15 s).
 * With `publishPort`, the publishes go to another node (Redis) than the one holding the subscribers.
 */
export async function latencyRun(server: BenchServer, holders: Holders, plan: { rate: number; subscribers: number; ms: number; prefix: string; publishPort?: number }): Promise<Record<string, number>> {
  const { rate, prefix } = plan;
  const channels = Array.from({ length: plan.subscribers }, (_, i) => prefix + i);
  await holders.open(server.subPort, NO_CURSOR_SUB + prefix + "{i}", plan.subscribers);
  await waitSubscribers(server, channels[channels.length - 1]!, 1, 30_000);
  await holders.follow();
  await sleep(1000);
  const publisher = await Publisher.open(plan.publishPort ?? server.pubPort, 10);
  const cpu0 = serverCpuSeconds(server);
  const start = Date.now();
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = Date.now() - start;
      const due = Math.min(Math.floor((elapsed * rate) / 1000), Math.floor((plan.ms * rate) / 1000));
      const batch: string[] = [];
      for (; publisher.sent + batch.length < due; next = (next + 1) % channels.length) batch.push(channels[next]!);
      if (batch.length) publisher.publish(batch, timedBody);
      if (elapsed >= plan.ms) {
        clearInterval(tick);
        resolve();
      }
    }, 5);
  });
  const answeredInWindow = publisher.answered;
  await publisher.drained(10_000);
  const latenciesMs: number[] = [];
  let failed = 0;
  for (const until = Date.now() + 15_000; latenciesMs.length < publisher.sent && Date.now() < until;) {
    await sleep(500);
    const result = await holders.report();
    for (const ns of result.latenciesNs) latenciesMs.push(ns / 1e6);
    failed = result.failed;
  }
  const cpu = serverCpuSeconds(server) - cpu0;
  const wall = (Date.now() - start) / 1000;
  publisher.close();
  await holders.closeSockets();
  const sorted = latenciesMs.sort((a, b) => a - b);
  const figures = { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN, received: sorted.length, sent: publisher.sent, answeredInWindow, failed,
    serverCpuUsPerMessage: round((cpu / publisher.sent) * 1e6), serverCpuPercent: round((cpu / wall) * 100) };
  log(`${server.name}: latency ${JSON.stringify(figures)}`);
  return figures;
}

/** A long-poll without a cursor, on the channel that follows (BitrixVM's path). */
export const NO_CURSOR_SUB = "/bitrix/sub?CHANNEL_ID=";
