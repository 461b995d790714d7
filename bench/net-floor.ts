/**
 * The floor under pushwire's memory per held long-poll on Node: a bare node:net server (no HTTP
 * parsing at all) that keeps every connection once its first bytes arrive. Prints RSS and heap per
 * held socket, as one JSON line, for comparison with held-memory.ts (the same holders, real server).
 *
 *   npx tsc -p tsconfig.json && node --expose-gc build/bench/net-floor.js [N=10000]
 *
 * Bounded: N ≤ 19000, loopback only, gives up after 30 s.
 */
import { createServer, type Socket } from "node:net";
import { Holders, sleep } from "./holders.js";

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
  console.log(JSON.stringify({
    figure: "memory per held socket, bare node:net",
    held: held.size,
    heapUsedBytes: Math.round((after.heapUsed - before.heapUsed) / held.size),
    rssBytes: Math.round((after.rss - before.rss) / held.size),
    runtime: `node ${process.version}`,
  }));
  holders.stop();
  for (const socket of held) socket.destroy();
  server.close();
  process.exit(0);
}

void main(Math.min(Number(process.argv[2] ?? 10000), 19000));
