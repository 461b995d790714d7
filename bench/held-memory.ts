/**
 * Where the memory of a held long-poll goes: starts pushwire in this process (the bench layout on
 * free loopback ports), has the holder processes open N long-polls that the server holds, and
 * prints the growth per held connection of V8's heap, of memory outside it (Buffers) and of RSS,
 * as one JSON line. `npm run bench` measures the built server from outside; this splits the figure.
 *
 *   npx tsc -p tsconfig.json && node --expose-gc build/bench/held-memory.js [N=5000] [--heap-snapshot]
 *
 * Bounded: N ≤ 19000 (this machine's open-file cap), loopback only, gives up after 30 s.
 */
import { writeHeapSnapshot } from "node:v8";
import { normalizeConfig } from "../src/config/schema.js";
import { PushServer } from "../src/app.js";
import { silentLogger } from "../src/log.js";
import { Holders, sleep } from "./holders.js";
import { freePort, pushwireBenchConfig } from "./servers.js";

async function main(count: number, snapshot: boolean): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with node --expose-gc");
  const result = normalizeConfig(pushwireBenchConfig(await freePort(), await freePort()));
  if (!result.config) throw new Error(result.errors.join("; "));
  const push = await PushServer.start(result.config, { log: silentLogger });
  const [sub] = push.listeners.map((l) => l.address.port);
  const holders = new Holders(2);
  await sleep(500);
  gc();
  const before = process.memoryUsage();
  await holders.open(sub!, "/bitrix/sub?CHANNEL_ID=held", count);
  const until = Date.now() + 30_000;
  while (push.ctx.held.size < count && Date.now() < until) await sleep(50);
  await sleep(500);
  gc();
  gc();
  const after = process.memoryUsage();
  const held = push.ctx.held.size;
  const per = (key: keyof NodeJS.MemoryUsage): number => Math.round((after[key] - before[key]) / held);
  console.log(JSON.stringify({
    figure: "memory per held long-poll, in process",
    held,
    heapUsedBytes: per("heapUsed"),
    externalBytes: per("external"),
    arrayBuffersBytes: per("arrayBuffers"),
    rssBytes: per("rss"),
    runtime: `node ${process.version}`,
  }));
  if (snapshot) console.log(`heap snapshot: ${writeHeapSnapshot()}`);
  holders.stop();
  await push.close(100);
  process.exit(0);
}

void main(Math.min(Number(process.argv[2] ?? 5000), 19000), process.argv.includes("--heap-snapshot"));
