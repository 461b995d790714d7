/**
 * The floor under pushwire on Node: a bare node:net server (no HTTP parsing at all) that keeps every
 * connection once its first bytes arrive, then writes one prebuilt 200 response to all of them.
 * Prints RSS and heap per held socket and the fan-out time and CPU, as one JSON line, for comparison
 * with held-memory.ts and the suite (the same holders, the real server).
 *
 *   npx tsc -p tsconfig.json && node --expose-gc build/bench/net-floor.js [N=10000]
 *
 * Bounded: N ≤ 19000, loopback only, gives up after 30 s.
 */
import { createServer, type Socket } from "node:net";
import { Holders, sleep } from "./holders.js";
import { cpuSeconds } from "./proc-stats.js";

const RESPONSE = Buffer.from(
  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nLast-Modified: Thu, 26 Nov 2026 00:00:00 GMT\r\nEtag: W/1\r\n" +
  `Content-Length: 64\r\n\r\n{"bench":"${"x".repeat(52)}"}`,
);

async function main(count: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with node --expose-gc");
  const held = new Set<Socket>();
  const server = createServer((socket) => {
    socket.once("data", () => held.add(socket));
    socket.on("error", () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const holders = new Holders(2);
  await sleep(500);
  gc();
  const before = process.memoryUsage();
  await holders.open(port, "/bitrix/sub?CHANNEL_ID=held", count);
  const until = Date.now() + 30_000;
  while (held.size < count && Date.now() < until) await sleep(50);
  await sleep(500);
  gc();
  gc();
  const after = process.memoryUsage();
  await holders.arm();
  const cpu0 = cpuSeconds(process.pid);
  const t0 = Number(process.hrtime.bigint());
  for (const socket of held) socket.write(RESPONSE);
  const cpuMs = (cpuSeconds(process.pid) - cpu0) * 1000;
  const delivered = await holders.waitDelivered(held.size, 30_000);
  console.log(JSON.stringify({
    figure: "bare node:net: memory per held socket, one write to each",
    held: held.size,
    heapUsedBytes: Math.round((after.heapUsed - before.heapUsed) / held.size),
    rssBytes: Math.round((after.rss - before.rss) / held.size),
    fanOutMs: Math.round((delivered.lastNs - t0) / 1e6),
    fanOutCpuMs: Math.round(cpuMs),
    delivered: delivered.delivered,
    runtime: `node ${process.version}`,
  }));
  holders.stop();
  for (const socket of held) socket.destroy();
  server.close();
  process.exit(0);
}

void main(Math.min(Number(process.argv[2] ?? 10000), 19000));
