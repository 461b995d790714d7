/**
 * Groundwork for workers (issue 15): what it costs to sequence every publish in the primary and
 * hand the message to every worker. One worker publishes as fast as the path allows (a window of
 * requests in flight, as a publisher location would); the primary stamps each with a sequence
 * number and sends it to every worker; each worker reads it back. Prints one JSON line per
 * transport: messages per second through the primary, publish→every-worker latency (p50/p99, from
 * process.hrtime, which is one monotonic clock for all processes), and CPU per message of the
 * primary and of the workers.
 *
 *   npx tsc -p tsconfig.json && node build/bench/cluster-ipc.js [workers=2] [messages=100000]
 *
 * Transports: node:cluster's IPC channel with JSON and with "advanced" (structured clone)
 * serialization, and a unix socket per worker with length-prefixed frames. Bounded in count; no network.
 */
import cluster from "node:cluster";
import { createConnection, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cpuSeconds } from "./proc-stats.js";

type Transport = "ipc-json" | "ipc-advanced" | "unix-socket";
const TRANSPORTS: Transport[] = ["ipc-json", "ipc-advanced", "unix-socket"];
/** Publishes in flight from the publishing worker (a publisher answers each when it is sequenced). */
const WINDOW = 64;
const BODY = `{"bench":"${"x".repeat(52)}"}`;

interface Publish { t: string; at: number; body: string }
interface Sequenced { seq: number; at: number; body: string; origin: number }

if (cluster.isPrimary) void primary();
else worker();

async function primary(): Promise<void> {
  const workers = Math.max(1, Number(process.argv[2] ?? 2));
  const messages = Math.max(1000, Number(process.argv[3] ?? 100_000));
  for (const transport of TRANSPORTS) console.log(JSON.stringify(await measure(transport, workers, messages)));
  process.exit(0);
}

async function measure(transport: Transport, count: number, messages: number): Promise<Record<string, unknown>> {
  cluster.setupPrimary({ serialization: transport === "ipc-advanced" ? "advanced" : "json" });
  const path = join(tmpdir(), `pushwire-ipc-${process.pid}.sock`);
  const sockets: Socket[] = [];
  const server = transport === "unix-socket" ? createServer((socket) => sockets.push(socket)) : undefined;
  if (server) await new Promise<void>((resolve) => server.listen(path, resolve));
  const workers = Array.from({ length: count }, (_, i) => cluster.fork({ BENCH_TRANSPORT: transport, BENCH_SOCKET: path, BENCH_INDEX: String(i), BENCH_MESSAGES: String(messages) }));
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once("message", resolve))));
  let seq = 0;
  const cpu0 = cpuSeconds(process.pid);
  const workerCpu0 = workers.map((w) => cpuSeconds(w.process.pid!));
  const started = Date.now();
  const sequence = (publish: Publish): void => {
    const sequenced: Sequenced = { seq: ++seq, at: publish.at, body: publish.body, origin: 0 };
    if (transport === "unix-socket") {
      const frame = encode(sequenced);
      for (const socket of sockets) socket.write(frame);
    } else {
      for (const w of workers) w.send(sequenced);
    }
  };
  if (transport === "unix-socket") {
    await waitUntil(() => sockets.length === count);
    for (const socket of sockets) readFrames(socket, (value) => sequence(value as Publish));
  } else {
    for (const w of workers) w.on("message", (value: Publish) => { if (value.t === "publish") sequence(value); });
  }
  for (const w of workers) w.send({ t: "go" });
  const reports = await Promise.all(workers.map((w) => new Promise<{ latencies: number[] }>((resolve) => w.on("message", (m: { t?: string; latencies?: number[] }) => { if (m.t === "done") resolve(m as { latencies: number[] }); }))));
  const seconds = (Date.now() - started) / 1000;
  const primaryCpu = cpuSeconds(process.pid) - cpu0;
  const workerCpu = workers.reduce((sum, w, i) => sum + cpuSeconds(w.process.pid!) - workerCpu0[i]!, 0);
  for (const w of workers) w.kill();
  server?.close();
  const latencies = reports.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const at = (q: number): number => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]! * 1000) / 1000;
  return {
    figure: "primary sequences, every worker receives",
    transport, workers: count, messages: seq,
    messagesPerSecond: Math.round(seq / seconds),
    latencyMs: { p50: at(0.5), p99: at(0.99), max: at(1) },
    cpuUsPerMessage: { primary: round((primaryCpu / seq) * 1e6), workers: round((workerCpu / seq) * 1e6) },
    runtime: `node ${process.version}`,
  };
}

function worker(): void {
  const transport = process.env["BENCH_TRANSPORT"] as Transport;
  const index = Number(process.env["BENCH_INDEX"]);
  const messages = Number(process.env["BENCH_MESSAGES"]);
  const publishing = index === 0;
  const latencies: number[] = [];
  let sent = 0;
  let received = 0;
  let socket: Socket | undefined;
  const send = (publish: Publish): void => {
    if (socket) socket.write(encode(publish));
    else process.send!(publish);
  };
  const publishOne = (): void => {
    sent++;
    send({ t: "publish", at: Number(process.hrtime.bigint()) / 1e6, body: BODY });
  };
  const onSequenced = (message: Sequenced): void => {
    received++;
    latencies.push(Number(process.hrtime.bigint()) / 1e6 - message.at);
    // The publisher's answer leaves once its message is sequenced: the next publish takes its place.
    if (publishing && sent < messages) publishOne();
    if (received === messages) process.send!({ t: "done", latencies });
  };
  process.on("message", (message: { t?: string } & Sequenced) => {
    if (message.t === "go") {
      if (publishing) for (let i = 0; i < WINDOW && sent < messages; i++) publishOne();
    } else if (message.t === undefined) {
      onSequenced(message);
    }
  });
  if (transport === "unix-socket") {
    socket = createConnection(process.env["BENCH_SOCKET"]!, () => process.send!({ t: "ready" }));
    readFrames(socket, (value) => onSequenced(value as Sequenced));
  } else {
    process.send!({ t: "ready" });
  }
}

/** A frame: 4-byte big-endian length, then JSON. */
function encode(value: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(value));
  const frame = Buffer.allocUnsafe(4 + json.length);
  frame.writeUInt32BE(json.length, 0);
  json.copy(frame, 4);
  return frame;
}

function readFrames(socket: Socket, onFrame: (value: unknown) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let at = 0;
    while (pending.length - at >= 4) {
      const length = pending.readUInt32BE(at);
      if (pending.length - at - 4 < length) break;
      onFrame(JSON.parse(pending.toString("utf8", at + 4, at + 4 + length)));
      at += 4 + length;
    }
    pending = pending.subarray(at);
  });
}

async function waitUntil(condition: () => boolean): Promise<void> {
  for (const until = Date.now() + 10_000; !condition() && Date.now() < until;) await new Promise((r) => setTimeout(r, 10));
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
