import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect } from "node:net";
import { delimiter, join } from "node:path";
import { freePort, sleep } from "./helpers.js";

/**
 * A real redis-server for the tests, on a free loopback port, without persistence. One answer
 * for every suite and for `tools/ensure-redis` (the step of `npm test` that installs Debian's
 * package where it can): where the binary is, or why the Redis suites skip.
 */

/** $PUSHWIRE_REDIS_SERVER, else redis-server on the PATH or in /usr/bin, /usr/local/bin. */
export function findRedisServer(): string | null {
  const chosen = process.env["PUSHWIRE_REDIS_SERVER"];
  if (chosen) return existsSync(chosen) ? chosen : null;
  const dirs = [...(process.env["PATH"] ?? "").split(delimiter), "/usr/bin", "/usr/local/bin", "/usr/sbin"];
  for (const dir of dirs) {
    if (dir && existsSync(join(dir, "redis-server"))) return join(dir, "redis-server");
  }
  return null;
}

/** What a skipped Redis suite says; false when the suites run. */
export function redisSkipReason(): string | false {
  if (findRedisServer()) return false;
  const chosen = process.env["PUSHWIRE_REDIS_SERVER"];
  return chosen ? `PUSHWIRE_REDIS_SERVER=${chosen} does not exist` : "no redis-server found; install Debian's redis-server or set PUSHWIRE_REDIS_SERVER";
}

export interface RunningRedis {
  port: number;
  child: ChildProcess;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop). */
  restart(): Promise<void>;
}

/** PING answered (+PONG, or -NOAUTH from a server that wants a password: it is up all the same). */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => socket.write("PING\r\n"));
    socket.once("data", (chunk) => {
      socket.destroy();
      resolve(/^(\+PONG|-NOAUTH)/.test(chunk.toString("latin1")));
    });
    socket.once("error", () => resolve(false));
  });
}

/** Starts redis-server on a free port (or `port`), no RDB/AOF files, and waits until it answers; `extra` arguments go last. */
export async function startRedis(port?: number, extra: string[] = []): Promise<RunningRedis> {
  return launchRedis(["--save", "", "--appendonly", "no", ...extra], port);
}

/**
 * A Sentinel (redis-server --sentinel, so only Debian's redis-server is needed) watching the
 * master on `masterPort` under `name`, with a quorum of 1 and short timeouts (down after 500 ms,
 * failover timeout 2 s): a test's failover takes a few seconds. Its configuration file lives in
 * a temporary folder (a Sentinel rewrites it).
 */
export async function startSentinel(masterPort: number, name: string): Promise<RunningRedis> {
  const file = join(mkdtempSync(join(tmpdir(), "pushwire-sentinel-")), "sentinel.conf");
  writeFileSync(file, [
    `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
    `sentinel down-after-milliseconds ${name} 500`,
    `sentinel failover-timeout ${name} 2000`,
    `sentinel parallel-syncs ${name} 1`,
    "",
  ].join("\n"));
  return launchRedis(["--sentinel"], undefined, file);
}

async function launchRedis(extra: string[], port?: number, configFile?: string): Promise<RunningRedis> {
  const binary = findRedisServer();
  if (!binary) throw new Error(String(redisSkipReason()));
  const chosen = port ?? (await freePort());
  const launch = async (): Promise<ChildProcess> => {
    const args = [...(configFile ? [configFile] : []), "--port", String(chosen), "--bind", "127.0.0.1", "--daemonize", "no", "--loglevel", "warning", ...extra];
    const child = spawn(binary, args, { stdio: "ignore" });
    for (const until = Date.now() + 10_000; Date.now() < until; await sleep(20)) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode} on port ${chosen}`);
      if (await answersPing(chosen)) return child;
    }
    child.kill("SIGKILL");
    throw new Error(`redis-server did not answer on port ${chosen} within 10 s`);
  };
  const running: RunningRedis = {
    port: chosen,
    child: await launch(),
    stop: () => new Promise<void>((resolve) => {
      const { child } = running;
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    }),
    restart: async () => {
      running.child = await launch();
    },
  };
  return running;
}
