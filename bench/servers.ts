import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bitrixVmConfig } from "../src/config/layouts/bitrixvm.js";
import { childPids } from "./proc-stats.js";
import { sleep } from "./holders.js";

/** A server under test, started by the bench as its own process on loopback. */
export interface BenchServer {
  name: string;
  /** The process that holds the connections (nginx: the one worker); with several workers, their parent. */
  pid: number;
  /** Several processes serve (pushwire's workers, nginx's workers): memory and CPU are `pid`'s and its children's. */
  tree?: boolean;
  subPort: number;
  pubPort: number;
  stop(): Promise<void>;
}

/** Where the bench finds its files (bench/*.conf, *.lua) from build/bench/. */
export const BENCH_SOURCE_DIR = join(__dirname, "..", "..", "bench");
const REPO_DIR = join(__dirname, "..", "..");
/** Held long-polls must outlast the whole run, so idle holders never cycle. */
const HOLD = "600s";

/** A free loopback TCP port (asked of the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

export async function waitListening(port: number, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${deadlineMs} ms`);
}

/** Ends a child process and waits for it (SIGKILL if it lingers). */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill(signal);
  });
}

/** Children still running if the bench dies, with the signal that ends them (and their own children). */
const running = new Map<ChildProcess, NodeJS.Signals>();
process.on("exit", () => {
  // nginx's master stops its worker on SIGTERM; a SIGKILLed master would leave the worker behind.
  for (const [child, signal] of running) child.kill(signal);
});

/**
 * The pushwire bench configuration: the BitrixVM layout on free loopback ports, holds of 600 s,
 * and the `~text~` template so both servers send the same bytes (Nchan has no templates).
 * Channels may be created by subscribers, as Nchan allows by default. The layout's WebSocket
 * location (/bitrix/subws/) likewise: open 600 s, and pinged only every 600 s (as bench/nchan.conf),
 * so no ping frame lands in a measurement as a "delivery".
 */
export function pushwireBenchConfig(subPort: number, pubPort: number): Record<string, unknown> {
  const layout = bitrixVmConfig() as { servers: Array<{ listen: string; locations: Array<Record<string, unknown>> }> };
  const [sub, pub] = layout.servers;
  sub!.listen = `127.0.0.1:${subPort}`;
  pub!.listen = `127.0.0.1:${pubPort}`;
  const subscriber = (type: string): Record<string, unknown> => {
    const location = sub!.locations.find((l) => l.subscriber === type);
    if (!location) throw new Error(`the BitrixVM layout has no ${type} location`);
    return location;
  };
  const common = { authorizedChannelsOnly: false, messageTemplate: "~text~" };
  Object.assign(subscriber("long-polling"), { ...common, longpollingConnectionTtl: HOLD });
  Object.assign(subscriber("websocket"), { ...common, subscriberConnectionTtl: HOLD, pingMessageInterval: HOLD });
  return layout;
}

/** Where both servers take WebSocket subscribers (BitrixVM's path; bench/nchan.conf has the same). */
export const WEBSOCKET_SUB_PATH = "/bitrix/subws/";

/** Starts dist/pushwire.js (it must be built) as a child process. */
/**
 * The node flags systemd/pushwire.service starts pushwire with (between the node binary and the
 * bundle on its ExecStart line): the bench measures pushwire as it is deployed.
 */
export function unitNodeArgs(): string[] {
  const unit = readFileSync(join(REPO_DIR, "systemd", "pushwire.service"), "utf8");
  const words = /^ExecStart=(.*)$/m.exec(unit)?.[1]?.split(/\s+/) ?? [];
  const bundle = words.findIndex((word) => word.endsWith("pushwire.js"));
  return bundle > 1 ? words.slice(1, bundle) : [];
}

export async function startPushwire(extraNodeArgs: string[] = [], workers = 1, pushwireArgs: string[] = []): Promise<BenchServer> {
  const bundle = join(REPO_DIR, "dist", "pushwire.js");
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run npm run build`);
  const dir = mkdtempSync(join(tmpdir(), "pushwire-bench-"));
  const [subPort, pubPort] = [await freePort(), await freePort()];
  const configFile = join(dir, "pushwire.json");
  writeFileSync(configFile, JSON.stringify(pushwireBenchConfig(subPort, pubPort)));
  const child = spawn(process.execPath, [...extraNodeArgs, bundle, "--config", configFile, "--log-level", "warn", ...(workers > 1 ? ["--workers", String(workers)] : []), ...pushwireArgs], {
    stdio: ["ignore", "inherit", "inherit"],
    cwd: dir,
  });
  running.set(child, "SIGKILL");
  await waitListening(pubPort, 10_000);
  await waitListening(subPort, 10_000);
  // Every worker listening: the first may answer while the others still start.
  for (const until = Date.now() + 10_000; workers > 1 && childPids(child.pid!).length < workers && Date.now() < until; ) await sleep(50);
  await sleep(workers > 1 ? 500 : 0);
  return {
    name: "pushwire",
    pid: child.pid!,
    tree: workers > 1,
    subPort,
    pubPort,
    async stop() {
      await stopChild(child, "SIGTERM");
      running.delete(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** True when nginx and its Nchan module are installed (bench/peer-nchan.sh). */
export function nchanAvailable(): boolean {
  if (!existsSync("/usr/lib/nginx/modules/ngx_nchan_module.so")) return false;
  return spawnSync("nginx", ["-v"], { stdio: "ignore" }).status === 0;
}

/** Starts nginx + Nchan with bench/nchan.conf as a non-daemon child; stop() ends it and its worker. */
export async function startNchan(workerCount = 1): Promise<BenchServer> {
  const prefix = mkdtempSync(join(tmpdir(), "nchan-bench-"));
  mkdirSync(join(prefix, "logs"));
  const [subPort, pubPort] = [await freePort(), await freePort()];
  const conf = readFileSync(join(BENCH_SOURCE_DIR, "nchan.conf"), "utf8")
    .replaceAll("@PREFIX@", prefix)
    .replaceAll("@SUB_PORT@", String(subPort))
    .replaceAll("@PUB_PORT@", String(pubPort))
    .replace("worker_processes 1;", `worker_processes ${workerCount};`);
  const confFile = join(prefix, "nginx.conf");
  writeFileSync(confFile, conf);
  const master = spawn("nginx", ["-c", confFile, "-p", prefix, "-e", join(prefix, "error.log")], { stdio: ["ignore", "inherit", "inherit"] });
  running.set(master, "SIGTERM");
  await waitListening(pubPort, 10_000);
  await waitListening(subPort, 10_000);
  // The master listens before it forks its worker.
  let workers = childPids(master.pid!);
  for (const until = Date.now() + 5000; workers.length < workerCount && Date.now() < until; workers = childPids(master.pid!)) await sleep(50);
  if (workers.length !== workerCount) {
    await stopChild(master, "SIGTERM");
    running.delete(master);
    throw new Error(`expected ${workerCount} nginx worker(s), found ${workers.length}`);
  }
  return {
    name: "nchan",
    pid: workerCount === 1 ? workers[0]! : master.pid!,
    tree: workerCount > 1,
    subPort,
    pubPort,
    async stop() {
      await stopChild(master, "SIGTERM");
      running.delete(master);
      const errors = readFileSync(join(prefix, "error.log"), "utf8").split("\n").filter((l) => /\[(error|crit|alert|emerg)\]/.test(l));
      if (errors.length) process.stderr.write(`nchan error.log: ${errors.length} error line(s), first: ${errors[0]}\n`);
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}
