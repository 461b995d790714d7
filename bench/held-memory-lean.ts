/**
 * Memory per held long-poll and publish fan-out, node:http against the lean subscriber listener
 * (`subscriberParser`). For each parser and count, a fresh process starts pushwire (BitrixVM layout,
 * ephemeral loopback ports); a child process opens the long-polls, spread over 127.0.0.x source
 * addresses, and the server must hold them all; heap and RSS growth per held connection are
 * measured after GC. With --fanout, one publish then answers every held long-poll and the time
 * until the client has all answers is reported. One JSON line per run.
 *
 *   npx tsc -p tsconfig.json && node build/bench/held-memory-lean.js [counts=2000,10000,19000] [--fanout]
 *
 * HELD_SNAPSHOT=/tmp/x writes V8 heap snapshots before and after (to see what a connection holds).
 *
 * Bounded: N ≤ 19000 (this machine's open-file cap is 20000 per process), loopback only, each run
 * gives up after 60 s.
 */
import { fork } from "node:child_process";
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { bitrixVmConfig } from "../src/config/layouts/bitrixvm.js";
import { normalizeConfig, type SubscriberParser } from "../src/config/schema.js";
import { PushServer } from "../src/app.js";
import { silentLogger } from "../src/log.js";

const CURSOR = "tag=99&time=Wed,%2001%20Jan%202031%2000:00:00%20GMT"; // newer than anything: the request is held
const GIVE_UP_MS = 60_000;
const now = (): number => performance.timeOrigin + performance.now();

const [mode, ...args] = process.argv.slice(2);
if (mode === "--client") client(Number(args[0]), Number(args[1]));
else if (mode === "--measure") void measure(args[0] as SubscriberParser, Number(args[1]), args[2] === "fanout");
else void orchestrate();

/**
 * Runs each (parser, count) in its own process, so one run's heap does not blur the next; then
 * prints the marginal cost per connection between consecutive counts (the growth from N1 to N2
 * divided by N2 − N1), which leaves out what a server grows once whatever its load (V8's young
 * generation, table sizes).
 */
async function orchestrate(): Promise<void> {
  const counts = (mode && !mode.startsWith("--") ? mode : "2000,10000,19000").split(",").map((n) => Math.min(Number(n), 19000));
  const fanout = process.argv.includes("--fanout");
  const runs = new Map<string, Array<{ connections: number; heap: number; rss: number }>>();
  for (const count of counts) {
    for (const parser of ["node", "lean"] as const) {
      const child = fork(__filename, ["--measure", parser, String(count), fanout ? "fanout" : ""], { execArgv: ["--expose-gc"], stdio: ["ignore", "pipe", "inherit", "ipc"] });
      let out = "";
      child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
      await new Promise((resolve) => child.once("exit", resolve));
      process.stdout.write(out);
      for (const line of out.split("\n").filter((l) => l.startsWith("{"))) {
        const figures = JSON.parse(line) as { connections: number; heapBytesPerConnection: number; rssBytesPerConnection: number };
        const list = runs.get(parser) ?? [];
        list.push({ connections: figures.connections, heap: figures.heapBytesPerConnection * figures.connections, rss: figures.rssBytesPerConnection * figures.connections });
        runs.set(parser, list);
      }
    }
  }
  for (const [parser, list] of runs) {
    for (let i = 1; i < list.length; i++) {
      const [a, b] = [list[i - 1]!, list[i]!];
      const span = b.connections - a.connections;
      console.log(JSON.stringify({
        figure: "marginal memory per held long-poll", parser, from: a.connections, to: b.connections,
        heapBytesPerConnection: Math.round((b.heap - a.heap) / span), rssBytesPerConnection: Math.round((b.rss - a.rss) / span),
      }));
    }
  }
}

/** Child of a measuring process: opens the connections; reports when all are written, then when all are answered. */
function client(port: number, count: number): void {
  let written = 0;
  let answered = 0;
  const sockets: Socket[] = [];
  const onData = function (this: Socket & { answered?: boolean }): void {
    if (this.answered) return;
    this.answered = true;
    if (++answered === count) process.send!({ answeredAt: now() });
  };
  for (let i = 0; i < count; i++) {
    const socket = connect({ port, host: "127.0.0.1", localAddress: `127.0.0.${2 + (i % 100)}` }, () => {
      socket.write(`GET /bitrix/sub?CHANNEL_ID=bench&${CURSOR} HTTP/1.1\r\nHost: bench\r\n\r\n`);
      if (++written === count) process.send!({ written: true });
    });
    socket.on("data", onData);
    socket.on("error", () => {});
    sockets.push(socket);
  }
}

async function measure(parser: SubscriberParser, count: number, fanout: boolean): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with node --expose-gc");
  const raw = bitrixVmConfig() as { servers: Array<{ listen: string }> } & Record<string, unknown>;
  for (const server of raw.servers) server.listen = "127.0.0.1:0";
  raw.subscriberParser = parser;
  const result = normalizeConfig(raw);
  if (!result.config) throw new Error(result.errors.join("; "));
  const push = await PushServer.start(result.config, { log: silentLogger });
  const [sub, pub] = push.listeners.map((l) => l.address.port);
  await fetch(`http://127.0.0.1:${pub}/bitrix/pub/?CHANNEL_ID=bench`, { method: "POST", body: '{"warm":1}' });

  gc();
  if (process.env.HELD_SNAPSHOT) require("node:v8").writeHeapSnapshot(`${process.env.HELD_SNAPSHOT}-${parser}-before.heapsnapshot`);
  const before = process.memoryUsage();
  const child = fork(__filename, ["--client", String(sub), String(count)]);
  const messages: Array<Record<string, unknown>> = [];
  let wake: (() => void) | undefined;
  child.on("message", (m: Record<string, unknown>) => {
    messages.push(m);
    wake?.();
  });
  const until = Date.now() + GIVE_UP_MS;
  const waitFor = async (done: () => boolean): Promise<boolean> => {
    while (!done() && Date.now() < until) await new Promise<void>((r) => ((wake = r), setTimeout(r, 50)));
    return done();
  };
  await waitFor(() => messages.some((m) => m.written));
  await waitFor(() => push.ctx.held.size >= count);
  gc();
  gc();
  const after = process.memoryUsage();
  if (process.env.HELD_SNAPSHOT) require("node:v8").writeHeapSnapshot(`${process.env.HELD_SNAPSHOT}-${parser}-after.heapsnapshot`);
  const figures: Record<string, unknown> = {
    figure: "memory per held long-poll",
    parser,
    connections: count,
    held: push.ctx.held.size,
    heapBytesPerConnection: Math.round((after.heapUsed - before.heapUsed) / count),
    rssBytesPerConnection: Math.round((after.rss - before.rss) / count),
    externalBytesPerConnection: Math.round((after.external + after.arrayBuffers - before.external - before.arrayBuffers) / count),
  };
  if (fanout) {
    const started = now();
    const reply = await fetch(`http://127.0.0.1:${pub}/bitrix/pub/?CHANNEL_ID=bench`, { method: "POST", body: '{"fanout":1}' });
    const publishedMs = now() - started;
    await reply.arrayBuffer();
    const all = await waitFor(() => messages.some((m) => m.answeredAt));
    const answeredAt = messages.find((m) => m.answeredAt)?.answeredAt as number | undefined;
    figures.publishReplyMs = Math.round(publishedMs * 10) / 10;
    figures.allAnsweredMs = all && answeredAt ? Math.round((answeredAt - started) * 10) / 10 : "not all answered";
  }
  figures.runtime = `node ${process.version}`;
  console.log(JSON.stringify(figures));
  child.kill();
  await push.close(100);
  process.exit(0);
}
