/**
 * Memory per held long-poll: starts pushwire in this process with the BitrixVM layout on
 * ephemeral ports, has a child process open N long-polls (spread over 127.0.0.x source addresses)
 * that the server must hold, and prints heap and RSS growth per held connection as one JSON line.
 *
 *   npx tsc -p tsconfig.json && node --expose-gc build/bench/held-memory.js [N=5000]
 *
 * Bounded: N ≤ 19000 (this machine's open-file cap), loopback only, gives up after 30 s.
 */
import { fork } from "node:child_process";
import { connect } from "node:net";
import { bitrixVmConfig } from "../src/config/bitrixvm.js";
import { normalizeConfig } from "../src/config/schema.js";
import { PushServer } from "../src/http/server.js";
import { silentLogger } from "../src/log.js";

const CURSOR = "tag=99&time=Wed,%2001%20Jan%202031%2000:00:00%20GMT"; // newer than anything: the request is held

if (process.argv[2] === "--client") {
  // Child: open the connections, report when all are written.
  const port = Number(process.argv[3]);
  const count = Number(process.argv[4]);
  let written = 0;
  for (let i = 0; i < count; i++) {
    const socket = connect({ port, host: "127.0.0.1", localAddress: `127.0.0.${2 + (i % 100)}` }, () => {
      socket.write(`GET /bitrix/sub?CHANNEL_ID=bench&${CURSOR} HTTP/1.1\r\nHost: bench\r\n\r\n`);
      if (++written === count) process.send!("ready");
    });
    socket.on("error", () => {});
  }
} else {
  void main(Math.min(Number(process.argv[2] ?? 5000), 19000));
}

async function main(count: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with node --expose-gc");
  const raw = bitrixVmConfig() as { servers: Array<{ listen: string }> };
  for (const server of raw.servers) server.listen = "127.0.0.1:0";
  const result = normalizeConfig(raw);
  if (!result.config) throw new Error(result.errors.join("; "));
  const push = await PushServer.start(result.config, { log: silentLogger });
  const [sub, pub] = push.listeners.map((l) => l.address.port);
  await fetch(`http://127.0.0.1:${pub}/bitrix/pub/?CHANNEL_ID=bench`, { method: "POST", body: '{"warm":1}' });

  gc();
  const before = process.memoryUsage();
  const client = fork(__filename, ["--client", String(sub), String(count)]);
  await new Promise((resolve) => client.once("message", resolve));
  const until = Date.now() + 30_000;
  while (push.ctx.held.size < count && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  gc();
  gc();
  const after = process.memoryUsage();
  console.log(JSON.stringify({
    figure: "memory per held long-poll",
    held: push.ctx.held.size,
    heapBytesPerConnection: Math.round((after.heapUsed - before.heapUsed) / count),
    rssBytesPerConnection: Math.round((after.rss - before.rss) / count),
    runtime: `node ${process.version}`,
  }));
  client.kill();
  await push.close(100);
  process.exit(0);
}
