import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../src/core/clock.js";
import { LATENCY_BUCKETS } from "../src/core/latency-histogram.js";
import { Logger } from "../src/log.js";
import { loggedChannels } from "../src/persist/logged-channels.js";
import type { StoreLimits } from "../src/store/channel-store.js";
import { sleep } from "./holders.js";
import { cpuSeconds, rssBytes } from "./proc-stats.js";
import { Report, round } from "./report.js";
import { BENCH_SOURCE_DIR, freePort, pushwireBenchConfig, stopChild, waitListening } from "./servers.js";

/**
 * What the message log (issue 14) costs and how fast it comes back:
 *
 *   npm run bench:log [-- --seconds 8 --messages 1000000 --channels 100000 --replayOnly 1]
 *
 * 1. Publish rate with wrk (-t2 -c50 keep-alive, 64-byte bodies, 10k channels) with the log at
 *    each fsync policy ÷ without it, each against a fresh pushwire; the log-less run is done
 *    first and last and averaged, so drift of a noisy box does not favour either side.
 * 2. fsync latency in `batch` (p50/p99 of the server's own histogram, from /metrics).
 * 3. Replay: `--messages` stored messages in `--channels` channels published over HTTP into a
 *    pushwire with the log, the process killed (SIGKILL), a new one started on the directory:
 *    the replay time it logs, its RSS after replay ÷ the RSS of the live one that held the same
 *    data, and the log's size ÷ the live stored data.
 * 4. Compaction of that log (in this process): its time and the longest event-loop block.
 */

interface Options {
  seconds: number;
  messages: number;
  channels: number;
  /** 0: publish rates and replay; 1: replay only. */
  replayOnly: number;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { seconds: 8, messages: 1_000_000, channels: 100_000, replayOnly: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i]!.replace(/^--/, "") as keyof Options;
    if (!(key in options)) throw new Error(`unknown option ${argv[i]} (--seconds, --messages, --channels, --replayOnly 1)`);
    options[key] = Number(argv[i + 1]);
  }
  return options;
}

const BUNDLE = join(__dirname, "..", "..", "dist", "pushwire.js");

interface Server {
  child: ChildProcess;
  pid: number;
  pubPort: number;
  output(): string;
}

/** pushwire on free loopback ports, with a /metrics location and, when `logDir` is given, the message log. */
async function startServer(dir: string, logDir: string | undefined, fsync: string, http: Record<string, unknown> = {}): Promise<Server> {
  const [subPort, pubPort] = [await freePort(), await freePort()];
  const config = pushwireBenchConfig(subPort, pubPort) as Record<string, unknown> & { servers: Array<{ locations: Array<Record<string, unknown>> }> };
  config.servers[1]!.locations.unshift({ path: "/metrics", metrics: true });
  Object.assign(config, http);
  if (logDir) config.messageLog = { path: logDir, fsync };
  const file = join(dir, `pushwire-${pubPort}.json`);
  writeFileSync(file, JSON.stringify(config));
  const child = spawn(process.execPath, [BUNDLE, "--config", file], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  await waitListening(pubPort, 120_000);
  return { child, pid: child.pid!, pubPort, output: () => out };
}

async function metrics(server: Server): Promise<string> {
  return (await fetch(`http://127.0.0.1:${server.pubPort}/metrics`)).text();
}

function sample(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

/** A quantile of a /metrics histogram: the upper bound of the bucket where it falls. */
function histogramQuantile(text: string, name: string, q: number): number {
  const count = sample(text, `${name}_count`);
  for (const bound of LATENCY_BUCKETS) {
    const cumulative = Number(new RegExp(`^${name}_bucket\\{le="${bound}"\\} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
    if (cumulative >= q * count) return bound;
  }
  return Infinity;
}

function wrkRate(server: Server, seconds: number): { rps: number; cpuUs: number; non2xx: number } {
  const args = ["-t2", "-c50", `-d${seconds}s`, "--timeout", "5s", "-s", join(BENCH_SOURCE_DIR, "publish-many.lua"), `http://127.0.0.1:${server.pubPort}/bitrix/pub/`];
  const cpu0 = cpuSeconds(server.pid);
  const run = spawnSync("wrk", args, { encoding: "utf8", timeout: (seconds + 30) * 1000 });
  const cpu = cpuSeconds(server.pid) - cpu0;
  const out = run.stdout ?? "";
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    cpuUs: round((cpu / requests) * 1e6),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0),
  };
}

async function publishRates(options: Options, report: Report, work: string): Promise<void> {
  if (spawnSync("wrk", ["-v"], { stdio: "ignore" }).error) {
    process.stderr.write("bench: wrk is not installed (apt-get install wrk); no publish-rate figures\n");
    return;
  }
  const runs: Array<{ policy: string; rps: number; cpuUs: number; fsyncP50?: number; fsyncP99?: number }> = [];
  for (const policy of ["none", "off", "batch", "always", "none"]) {
    const logDir = policy === "none" ? undefined : mkdtempSync(join(work, `log-${policy}-`));
    const server = await startServer(work, logDir, policy);
    const rate = wrkRate(server, options.seconds);
    const text = await metrics(server);
    const run = { policy, rps: rate.rps, cpuUs: rate.cpuUs } as (typeof runs)[number];
    if (policy === "batch" || policy === "always") {
      run.fsyncP50 = histogramQuantile(text, "pushwire_message_log_fsync_seconds", 0.5) * 1000;
      run.fsyncP99 = histogramQuantile(text, "pushwire_message_log_fsync_seconds", 0.99) * 1000;
    }
    process.stderr.write(`bench: log ${policy}: ${rate.rps} req/s, ${rate.cpuUs} µs CPU/publish${rate.non2xx ? `, ${rate.non2xx} non-2xx` : ""}${run.fsyncP99 !== undefined ? `, fsync p50 ≤ ${run.fsyncP50} ms p99 ≤ ${run.fsyncP99} ms (${sample(text, "pushwire_message_log_fsync_seconds_count")} fsyncs)` : ""}\n`);
    await stopChild(server.child, "SIGTERM");
    runs.push(run);
  }
  const baseline = (runs[0]!.rps + runs.at(-1)!.rps) / 2;
  const targets: Record<string, number | undefined> = { off: 0.9, batch: 0.7, always: undefined };
  for (const run of runs.slice(1, -1)) {
    const ratio = round(run.rps / baseline, 2);
    const target = targets[run.policy];
    report.add({
      figure: `publish rate with fsync "${run.policy}" ÷ without the log (wrk -t2 -c50, keep-alive)`,
      unit: "ratio",
      pushwire: ratio,
      target: target === undefined ? "" : `≥ ${target}`,
      detail: { withLog: Math.round(run.rps), withoutLog: Math.round(baseline), cpuUsPerPublish: run.cpuUs, withoutLogCpuUs: runs[0]!.cpuUs },
    }, () => (target === undefined ? undefined : ratio >= target));
    if (run.policy === "batch") {
      report.add({ figure: 'fsync latency p99 in "batch" (server histogram bucket bound)', unit: "ms", pushwire: run.fsyncP99!, detail: { p50: run.fsyncP50 } });
    }
  }
}

/** Sends `count` POSTs over `connections` keep-alive sockets, `depth` in flight on each, round-robin over `channels`. */
async function publishMany(port: number, count: number, channels: number, connections = 16, depth = 32): Promise<number> {
  let next = 0;
  let ok = 0;
  const body = (n: number): string => `{"n":${n},"text":"${"m".repeat(80)}"}`;
  const one = (): Promise<void> => new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let inFlight = 0;
    const send = (): void => {
      let batch = "";
      while (inFlight < depth && next < count) {
        const n = next++;
        const text = body(n);
        batch += `POST /bitrix/pub/?CHANNEL_ID=r${n % channels} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`;
        inFlight++;
      }
      if (batch) socket.write(batch);
      else if (inFlight === 0) socket.end();
    };
    socket.on("connect", send);
    let carry = "";
    socket.on("data", (chunk: Buffer) => {
      // Count status lines; a line split across reads is carried to the next.
      const text = carry + chunk.toString("latin1");
      let at = 0;
      let cut = -1;
      while ((at = text.indexOf("HTTP/1.1 ", at)) !== -1) {
        if (at + 12 > text.length) {
          cut = at;
          break;
        }
        inFlight--;
        if (text.startsWith("200", at + 9)) ok++;
        at += 9;
      }
      carry = cut >= 0 ? text.slice(cut) : text.slice(-11);
      send();
    });
    socket.on("end", () => resolve());
    socket.on("close", () => resolve());
    socket.on("error", reject);
  });
  await Promise.all(Array.from({ length: connections }, one));
  return ok;
}

async function replay(options: Options, report: Report, work: string): Promise<void> {
  const logDir = mkdtempSync(join(work, "log-replay-"));
  const http = { maxNumberOfChannels: 0, maxMessagesStoredPerChannel: Math.ceil(options.messages / options.channels) + 10, messageTtl: "24h" };
  const live = await startServer(work, logDir, "batch", http);
  const started = Date.now();
  const ok = await publishMany(live.pubPort, options.messages, options.channels);
  const publishSeconds = (Date.now() - started) / 1000;
  await sleep(3000); // let compaction, if any, and the heap settle
  const liveText = await metrics(live);
  const liveRss = rssBytes(live.pid);
  const stored = sample(liveText, "pushwire_stored_messages");
  const storedBytes = sample(liveText, "pushwire_stored_message_bytes");
  const memoryUsed = sample(liveText, "pushwire_memory_used_bytes");
  const logBytes = sample(liveText, "pushwire_message_log_bytes");
  process.stderr.write(`bench: published ${ok}/${options.messages} in ${publishSeconds.toFixed(1)} s; live: ${stored} stored, RSS ${(liveRss / 1048576).toFixed(0)} MiB, log ${(logBytes / 1048576).toFixed(0)} MiB\n`);
  live.child.kill("SIGKILL");
  await new Promise((resolve) => live.child.once("exit", resolve));
  await sleep(2000); // systemd's RestartSec=2 (systemd/pushwire.service); the kernel reclaims the old process meanwhile

  const scale = `${options.messages.toLocaleString("en")} messages in ${options.channels.toLocaleString("en")} channels`;
  const restartAt = Date.now();
  const restored = await startServer(work, logDir, "batch", http);
  const untilListening = (Date.now() - restartAt) / 1000;
  const line = /restored (\d+) channel\(s\) and (\d+) message\(s\) from (\d+) file\(s\) in (\d+) ms/.exec(restored.output());
  const replaySeconds = line ? Number(line[4]) / 1000 : NaN;
  await sleep(3000);
  const replayRss = rssBytes(restored.pid);
  const replayedStored = sample(await metrics(restored), "pushwire_stored_messages");
  process.stderr.write(`bench: restart: ${line?.[0] ?? "no restored line"}; listening after ${untilListening.toFixed(2)} s; RSS ${(replayRss / 1048576).toFixed(0)} MiB\n`);
  await stopChild(restored.child, "SIGTERM");
  // Once more after a clean stop: the same files, read with no process just killed.
  const again = await startServer(work, logDir, "batch", http);
  const againLine = /restored (\d+) channel\(s\) and (\d+) message\(s\) from (\d+) file\(s\) in (\d+) ms/.exec(again.output());
  const againSeconds = againLine ? Number(againLine[4]) / 1000 : NaN;
  process.stderr.write(`bench: second restart: ${againLine?.[0] ?? "no restored line"}\n`);
  await stopChild(again.child, "SIGTERM");

  report.add({
    figure: `replay of ${scale}, 2 s after kill -9`,
    unit: "s",
    pushwire: round(replaySeconds, 2),
    target: options.messages >= 1_000_000 ? "≤ 3 s" : "",
    detail: { restoredMessages: replayedStored, liveStoredMessages: stored, processListeningAfterSeconds: round(untilListening, 2), afterCleanStopSeconds: round(againSeconds, 2) },
  }, (f) => (options.messages >= 1_000_000 ? f.pushwire <= 3 && replayedStored === stored : undefined));
  report.add({
    figure: `RSS after replay ÷ RSS live with the same data (${scale})`,
    unit: "ratio",
    pushwire: round(replayRss / liveRss, 2),
    target: "≤ 1.2",
    detail: { replayRssMiB: round(replayRss / 1048576), liveRssMiB: round(liveRss / 1048576) },
  }, (f) => f.pushwire <= 1.2);
  report.add({
    figure: "message log size ÷ live stored data (memory estimate)",
    unit: "ratio",
    pushwire: round(logBytes / memoryUsed, 2),
    detail: { logMiB: round(logBytes / 1048576), memoryEstimateMiB: round(memoryUsed / 1048576), storedBodyMiB: round(storedBytes / 1048576), logPerStoredBody: round(logBytes / storedBytes, 2) },
  });
  await compaction(logDir, http, report, scale);
}

/**
 * Compaction of the replayed log, in this process: how long the snapshot takes, how much smaller
 * the log gets, and the longest the event loop was held meanwhile (a 1 ms timer's worst lateness).
 */
async function compaction(logDir: string, http: { maxNumberOfChannels: number; maxMessagesStoredPerChannel: number }, report: Report, scale: string): Promise<void> {
  const limits = { ...testLimits(), maxNumberOfChannels: http.maxNumberOfChannels, maxMessagesStoredPerChannel: http.maxMessagesStoredPerChannel, messageTtl: 86400 };
  const channels = loggedChannels(limits, systemClock, "", { path: logDir, fsync: "batch", segmentSize: 64 * 1024 * 1024, compactMinBytes: 1 << 40 }, new Logger("warn"));
  const before = channels.messageLog.logBytes;
  let worst = 0;
  let last = performance.now();
  const probe = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 1);
    last = now;
  }, 1);
  const started = performance.now();
  await channels.messageLog.compact();
  const seconds = (performance.now() - started) / 1000;
  clearInterval(probe);
  const after = channels.messageLog.logBytes;
  channels.messageLog.close();
  process.stderr.write(`bench: compaction of ${scale}: ${seconds.toFixed(2)} s, log ${(before / 1048576).toFixed(0)} → ${(after / 1048576).toFixed(0)} MiB, event loop held ≤ ${worst.toFixed(1)} ms\n`);
  report.add({
    figure: `compaction of ${scale}: longest event-loop block`,
    unit: "ms",
    pushwire: round(worst, 1),
    target: "a few ms",
    detail: { seconds: round(seconds, 2), logMiBBefore: round(before / 1048576), logMiBAfter: round(after / 1048576) },
  });
}

/** push-stream's store limits with nothing capped (what the in-process compaction run starts from). */
function testLimits(): StoreLimits {
  return {
    maxMessagesStoredPerChannel: 0, messageTtl: 86400, maxChannelIdLength: 0, maxNumberOfChannels: 0, maxNumberOfWildcardChannels: 0,
    wildcardChannelPrefix: "", channelInactivityTime: 30, maxSubscribersPerChannel: 0, channelDeletedMessageText: "Channel deleted",
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const work = mkdtempSync(join(tmpdir(), "pushwire-bench-log-"));
  const report = new Report();
  try {
    if (!options.replayOnly) await publishRates(options, report, work);
    await replay(options, report, work);
  } finally {
    if (process.env["PUSHWIRE_BENCH_KEEP"]) process.stderr.write(`bench: kept ${work}\n`);
    else rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(`\n${report.table()}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
