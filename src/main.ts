import { join, resolve } from "node:path";
import cluster from "node:cluster";
import { randomBytes } from "node:crypto";
import { availableParallelism, tmpdir } from "node:os";
import { applyHttpSettings, PushServer } from "./app.js";
import { stopAcceptingNearFileLimit } from "./cluster/accept-limit.js";
import { Primary } from "./cluster/primary.js";
import { SOCKET_ENV, STARTED_MESSAGE, STOP_MESSAGE, Supervisor, WORKER_ENV } from "./cluster/supervisor.js";
import { workerChannels } from "./cluster/worker-link.js";
import { systemClock } from "./core/clock.js";
import type { Restored } from "./persist/logged-channels.js";
import { keepLog, openChannels, type OpenedChannels } from "./persist/open-channels.js";
import { allModesConfig } from "./config/layouts/all-modes.js";
import { bitrixPush2Config } from "./config/layouts/bitrix-push2.js";
import { bitrixVmConfig } from "./config/layouts/bitrixvm.js";
import { configChanges, summarizeChanges } from "./config/diff.js";
import { parseRedisUrl, REDIS_DEFAULTS } from "./config/redis.js";
import { redisBrokerFactory } from "./redis/redis-broker.js";
import { effectiveConfig, loadConfigFile, MESSAGE_LOG_DEFAULTS, normalizeConfig, parseWorkers, type ConfigResult, type PushwireConfig } from "./config/schema.js";
import { didYouMean } from "./config/suggest.js";
import { configWarnings } from "./config/warnings.js";
import { Logger, type LogLevel } from "./log.js";
import { encodeReading } from "./observe/readings.js";
import { StatsLog } from "./observe/stats-log.js";
import { MessageLogError } from "./persist/log-files.js";
import { locationRole } from "./roles.js";
import { BUILD_COMMIT, VERSION } from "./version.js";

/** Exit codes: what went wrong, for systemd and scripts. */
const EXIT_OK = 0;
const EXIT_CONFIG = 1;
const EXIT_USAGE = 2;
const EXIT_LISTEN = 3;
const EXIT_MESSAGE_LOG = 4;
/** An uncaught exception: a bug (sysexits' EX_SOFTWARE). */
const EXIT_SOFTWARE = 70;

const HELP = `pushwire ${VERSION} — real-time HTTP push server speaking the nginx-push-stream-module protocol

Usage: pushwire [--config FILE] [--message-log DIR] [--workers N] [--redis URL] [--check] [--print-config] [--log-level LEVEL] [--version] [--help]
       pushwire [--layout bitrix|bitrix-push2|all] [--ssl-cert FILE --ssl-key FILE] [--message-log DIR] [--workers N] [--check] [--print-config] …

  --config FILE      JSON configuration (keys = push_stream_* directives, camelCased).
                     Without it: the built-in BitrixVM layout — long-polling subscribers on
                     :8893 /bitrix/sub, admin publisher on 127.0.0.1:8895 /bitrix/pub/.
  --layout NAME      built-in layout: bitrix (default; push-stream, nginx_version 2),
                     bitrix-push2 (Bitrix Push server 2.0, "version 4": protobuf, signed ids;
                     the key comes from PUSHWIRE_SECURITY_KEY), or all (bitrix plus one
                     location per mode, statistics, /metrics, /health, each with a note:
                     \`--print-config --layout all > pushwire.json\` is a starter file)
  --ssl-cert FILE    built-in layout only: PEM certificate (chain) for TLS on :8894
  --ssl-key FILE     built-in layout only: its PEM private key
  --message-log DIR  keep published messages in a log in DIR (created if missing), replayed at
                     start, so a restart or a crash loses none that was answered 200 (fsync
                     "batch"; the systemd unit uses /var/lib/pushwire). Overrides the file's
                     messageLog.path. Without it and without messageLog: memory only.
  --workers N|auto   serve from N processes that share the ports (node:cluster; "auto" = one
                     per core): a primary sequences every publish and writes the message log,
                     each worker keeps a copy of every channel. Overrides the file's "workers".
                     Default 1: one process. Node, and bun on Linux (deno runs one process).
  --redis URL        share every channel with the other pushwire nodes that use this Redis
                     (redis://[user:password@]host[:port][/db]): a publish on any node reaches
                     the subscribers of all, stored messages live in Redis. Sets the file's
                     broker.redis.url (Sentinel: broker.redis.sentinels and name in the file).
  --check            validate the configuration, print one line per problem, exit 0 or 1
  --print-config     print the effective configuration as JSON (a starting point for a file)
  --log-level LEVEL  debug, info (default), warn, error
  --version          print the version and the commit it was built from
  --help             this text

Signals: SIGTERM/SIGINT answer held subscribers (304) and exit 0. SIGHUP re-reads the
configuration and certificates; held subscribers and stored messages stay. With workers,
signal the primary (the service's main pid): it passes both on to every worker.
Exit codes: 0 ok, 1 invalid configuration, 2 bad command line, 3 cannot listen,
4 cannot open the message log (in use by another pushwire, not writable),
70 internal error (a bug; the stack is logged).
`;

const LAYOUTS = ["bitrix", "bitrix-push2", "all"] as const;
type Layout = (typeof LAYOUTS)[number];

/** Every option word, for "did you mean". */
const OPTIONS = ["--config", "--check", "--print-config", "--log-level", "--layout", "--ssl-cert", "--ssl-key", "--message-log", "--workers", "--redis", "--version", "--help"];

interface Options {
  config?: string;
  check: boolean;
  printConfig: boolean;
  logLevel: LogLevel;
  sslCert?: string;
  sslKey?: string;
  layout: Layout;
  messageLog?: string;
  workers?: number | "auto";
  redis?: string;
}

function parseArgs(argv: string[]): Options | string {
  const options: Options = { check: false, printConfig: false, logLevel: "info", layout: "bitrix" };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (name) {
      case "--config":
      case "-c": {
        const file = value();
        if (!file) return `${name} needs a file name`;
        options.config = file;
        break;
      }
      case "--ssl-cert":
      case "--ssl-key": {
        const file = value();
        if (!file) return `${name} needs a file name`;
        if (name === "--ssl-cert") options.sslCert = file;
        else options.sslKey = file;
        break;
      }
      case "--message-log": {
        const dir = value();
        if (!dir) return `${name} needs a directory`;
        options.messageLog = dir;
        break;
      }
      case "--redis": {
        const url = value();
        if (!url) return `${name} needs a URL like redis://127.0.0.1:6379`;
        try {
          parseRedisUrl(url);
        } catch (error) {
          return `--redis: ${(error as Error).message}`;
        }
        options.redis = url;
        break;
      }
      case "--workers": {
        const errors: string[] = [];
        const workers = parseWorkers(value(), errors, "--workers");
        if (workers === undefined) return errors[0]!;
        options.workers = workers;
        break;
      }
      case "--layout": {
        const given = value();
        const layout = LAYOUTS.find((name) => name === given);
        if (!layout) return `--layout takes bitrix, bitrix-push2 or all${didYouMean(given ?? "", LAYOUTS, "")}`;
        options.layout = layout;
        break;
      }
      case "--check":
      case "-t":
        options.check = true;
        break;
      case "--print-config":
        options.printConfig = true;
        break;
      case "--log-level": {
        const level = value();
        if (level !== "debug" && level !== "info" && level !== "warn" && level !== "error") return "--log-level takes debug, info, warn or error";
        options.logLevel = level;
        break;
      }
      default:
        return `unknown argument ${arg}${didYouMean(name!, OPTIONS, "")}`;
    }
  }
  if (!options.sslCert !== !options.sslKey) return "--ssl-cert and --ssl-key go together";
  if (options.layout !== "bitrix" && options.config) return "--layout names a built-in layout; it does not go with --config";
  if (options.sslCert && options.config) return "--ssl-cert/--ssl-key apply to the built-in layout; with --config put an \"ssl\" block on the server";
  return options;
}

function loadConfig(options: Options): { result: ConfigResult; source: string } {
  const loaded = loadConfigOnly(options);
  const config = loaded.result.config;
  if (config && options.messageLog) {
    config.messageLog = { ...MESSAGE_LOG_DEFAULTS, ...config.messageLog, path: resolve(options.messageLog) };
  }
  if (config && options.workers !== undefined) config.workers = options.workers;
  if (config && options.redis) config.broker = { redis: { ...REDIS_DEFAULTS, sentinels: [], ...config.broker?.redis, url: options.redis } };
  return loaded;
}

function loadConfigOnly(options: Options): { result: ConfigResult; source: string } {
  if (!options.config) {
    // Absolute, so that --print-config writes a file that works from any folder.
    const tls = options.sslCert ? { certificate: resolve(options.sslCert), certificateKey: resolve(options.sslKey!) } : undefined;
    if (options.layout === "bitrix-push2") {
      return { result: normalizeConfig(bitrixPush2Config(process.env["PUSHWIRE_SECURITY_KEY"] ?? "", tls)), source: "built-in bitrix-push2 layout" };
    }
    if (options.layout === "all") return { result: normalizeConfig(allModesConfig(tls)), source: "built-in all-modes layout" };
    return { result: normalizeConfig(bitrixVmConfig(tls)), source: "built-in BitrixVM layout" };
  }
  const result = loadConfigFile(options.config);
  // A key kept out of the file (systemd EnvironmentFile, secrets): the environment fills an empty securityKey.
  const envKey = process.env["PUSHWIRE_SECURITY_KEY"];
  if (result.config && result.config.http.securityKey === "" && envKey) result.config.http.securityKey = envKey;
  return { result, source: options.config };
}

/** "127.0.0.1:8895 [/bitrix/pub/ publisher admin, / deny]" for each listener, with the bound port. */
function describe(push: PushServer): string {
  return push.listeners.map(({ config, address }) => {
    const host = (config.ssl ? "https://" : "") + (address.family === "IPv6" ? `[${address.address}]` : address.address);
    const routes = config.locations.map((l) => `${l.path} ${locationRole(l)}`);
    return `${host}:${address.port} [${routes.join(", ")}]`;
  }).join(" ");
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(HELP);
    return EXIT_OK;
  }
  if (argv.includes("--version") || argv.includes("-v")) {
    process.stdout.write(`pushwire ${VERSION} (commit ${BUILD_COMMIT})\n`);
    return EXIT_OK;
  }
  const options = parseArgs(argv);
  if (typeof options === "string") {
    process.stderr.write(`pushwire: ${options}\nTry 'pushwire --help'.\n`);
    return EXIT_USAGE;
  }
  const { result, source } = loadConfig(options);
  if (result.errors) {
    for (const error of result.errors) process.stderr.write(`pushwire: config: ${error}\n`);
    process.stderr.write(`pushwire: configuration ${source} is invalid (${result.errors.length} problem${result.errors.length > 1 ? "s" : ""})\n`);
    return EXIT_CONFIG;
  }
  if (options.printConfig) {
    const printed = effectiveConfig(result.raw);
    if (options.messageLog) printed.messageLog = { ...(printed.messageLog as object | undefined), ...result.config.messageLog };
    if (options.redis) printed.broker = result.config.broker;
    process.stdout.write(`${JSON.stringify(printed, null, 2)}\n`);
    return EXIT_OK;
  }
  if (options.check) {
    const warnings = configWarnings(result.config, { check: true });
    for (const warning of warnings) process.stderr.write(`pushwire: config: warning: ${warning}\n`);
    process.stdout.write(`pushwire: configuration ${source} is ok${warnings.length > 0 ? ` (${warnings.length} warning${warnings.length > 1 ? "s" : ""})` : ""}\n`);
    return EXIT_OK;
  }

  const workerIndex = Number(process.env[WORKER_ENV] ?? 0);
  if (cluster.isWorker && workerIndex > 0) return runWorker(options, source, result, new Logger(options.logLevel, `worker ${workerIndex}: `), workerIndex);
  const log = new Logger(options.logLevel);
  const workers = workerCount(result.config.workers);
  if (workers > 1) {
    const unsupported = clusterUnsupported(result.config);
    if (!unsupported) return runPrimary(options, source, result, log, workers);
    log.warn(`workers: ${workers} asked for, but ${unsupported}; running one process`);
  }
  let push: PushServer;
  try {
    push = await PushServer.start(result.config, { log });
  } catch (error) {
    if (error instanceof MessageLogError) {
      log.error(`cannot open the message log: ${error.message}`);
      return EXIT_MESSAGE_LOG;
    }
    log.error(`cannot listen: ${(error as Error).message}`);
    return EXIT_LISTEN;
  }
  return serve(push, options, source, result, log);
}

/** A worker: the store is a copy of the primary's, fed over its socket; the rest is a normal pushwire. */
async function runWorker(options: Options, source: string, result: LoadedConfig, log: Logger, index: number): Promise<number> {
  const { http } = result.config;
  let channels;
  try {
    channels = await workerChannels(socketPath(process.env[SOCKET_ENV] ?? ""), index, http, systemClock, http.eventsChannelId, log, () => {
      log.error("workers: the primary is gone; stopping");
      process.kill(process.pid, "SIGTERM");
    });
  } catch (error) {
    log.error(`workers: cannot reach the primary: ${(error as Error).message}`);
    return EXIT_SOFTWARE;
  }
  let push: PushServer;
  try {
    push = await PushServer.start({ ...result.config, messageLog: undefined, broker: undefined }, { log, channels, peers: channels.link });
  } catch (error) {
    log.error(`cannot listen: ${(error as Error).message}`);
    return EXIT_LISTEN;
  }
  const { ctx } = push;
  channels.link.startReporting(() => encodeReading(ctx, index));
  const stopGate = stopAcceptingNearFileLimit(push, ctx.metrics.openFiles, log);
  process.send?.(STARTED_MESSAGE);
  return serve(push, options, source, result, log, () => {
    stopGate();
    channels.link.close();
  });
}

/**
 * The primary of `count` workers: it opens the store (and replays the message log), serves the
 * workers' socket, forks them, and waits for the signals it passes on. It holds no client connection.
 */
async function runPrimary(options: Options, source: string, result: LoadedConfig, log: Logger, count: number): Promise<number> {
  const config = result.config;
  let channels: OpenedChannels;
  try {
    channels = openChannels(config, systemClock, log, undefined, redisBrokerFactory(config.broker?.redis, log));
  } catch (error) {
    log.error(`cannot open the message log: ${(error as Error).message}`);
    return EXIT_MESSAGE_LOG;
  }
  // With Redis, this primary holds the machine's one subscription and streams it to the workers.
  await channels.broker.start?.();
  const primary = new Primary(channels, systemClock, log);
  const socketName = primarySocketName();
  await primary.listen(socketPath(socketName));
  const supervisor = new Supervisor(count, socketName, log);
  const sweeper = setInterval(() => {
    try {
      channels.broker.sweep();
      keepLog(channels);
    } catch (error) {
      log.error(`sweep: ${(error as Error).stack ?? error}`);
    }
  }, 1000);
  try {
    await supervisor.start();
  } catch (code) {
    clearInterval(sweeper);
    primary.close();
    if (typeof code === "number") return code;
    log.error(`workers: cannot start them: ${(code as Error).stack ?? code}`);
    return EXIT_SOFTWARE;
  }
  log.info(`pushwire ${VERSION} started pid=${process.pid} runtime=${runtime()} config="${source}" workers=${count} pids=${supervisor.pids.join(",")} connections=${supervisor.scheduling}: this primary ${config.broker ? "holds the Redis subscription" : "sequences every publish"}${config.messageLog ? " and writes the message log" : ""}; the workers share the listeners`);
  logMessageLog(log, config.messageLog, channels.restored, channels.history.epoch);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        log.warn(`${signal} again: exiting now`);
        resolve(EXIT_OK);
        return;
      }
      stopping = true;
      log.info(`${signal}: stopping ${count} workers`);
      supervisor.stop(config.http.workerShutdownTimeout * 1000).then(() => {
        clearInterval(sweeper);
        primary.close();
        log.info("stopped");
        resolve(EXIT_OK);
      });
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGHUP", () => {
      if (stopping) return;
      const result = reloadedConfig(options, source, log);
      if (!result) return;
      applyHttpSettings(config.http, result.config.http);
      log.info(`SIGHUP: reloading ${source} in ${count} workers`);
      supervisor.reload();
    });
  });
}

/** The configuration re-read for a reload; undefined (each problem logged, and the refusal) when it is invalid. */
function reloadedConfig(options: Options, source: string, log: Logger): LoadedConfig | undefined {
  const { result } = loadConfig(options);
  if (!result.errors) return result;
  for (const error of result.errors) log.error(`reload: config: ${error}`);
  log.error(`reload refused: ${source} has ${result.errors.length} problem${result.errors.length > 1 ? "s" : ""}; the running configuration stays`);
  return undefined;
}

/** How many workers a configuration asks for; "auto" is one per core. */
function workerCount(workers: number | "auto" | undefined): number {
  if (workers === "auto") return availableParallelism();
  return workers ?? 1;
}

/** Why this runtime cannot run workers that share listening sockets, or undefined when it can. */
function clusterUnsupported(config: PushwireConfig): string | undefined {
  const versions = process.versions as Record<string, string | undefined>;
  if (versions.bun) {
    // Bun's node:cluster passes no sockets: its workers share a port only through SO_REUSEPORT,
    // which it sets on Linux; and port 0 would give each worker a port of its own.
    if (process.platform !== "linux") return `bun ${versions.bun}'s node:cluster shares listening sockets only on Linux`;
    if (config.servers.some((server) => server.listen.port === 0)) return `bun ${versions.bun}'s workers cannot share port 0 (each would get a port of its own)`;
  }
  if (versions.deno) return `deno ${versions.deno} has no node:cluster`;
  return undefined;
}

/**
 * The primary's socket: in Linux's abstract namespace (no file to clean up; written "@name", as
 * ss shows it, since an environment variable cannot hold the leading NUL), else a file in the
 * temporary folder.
 */
function primarySocketName(): string {
  const name = `pushwire-${process.pid}-${randomBytes(4).toString("hex")}`;
  return process.platform === "linux" ? `@${name}` : join(tmpdir(), `${name}.sock`);
}

function socketPath(name: string): string {
  return name.startsWith("@") ? `\0${name.slice(1)}` : name;
}

type LoadedConfig = Extract<ConfigResult, { errors?: undefined }>;

/** Runs a started pushwire (one process, or one worker) until a signal stops it. */
function serve(push: PushServer, options: Options, source: string, result: LoadedConfig, log: Logger, stopped?: () => void): Promise<number> {
  const http = result.config.http;
  const stats = new StatsLog(push.ctx, () => push.connections, log);

  return new Promise<number>((resolve) => {
    /** The configuration in force, in the file's shape: what a reload's log line compares against. */
    let running = result.raw;
    let stopping = false;
    let reloading = false;
    const stop = (signal: string): void => {
      // A worker hears a stop twice (systemd signals every process, and the primary passes it
      // on): it keeps draining; the primary kills it if it outlasts the grace.
      if (stopping && cluster.isWorker) return;
      if (stopping) {
        log.warn(`${signal} again: exiting now`);
        resolve(EXIT_OK);
        return;
      }
      stopping = true;
      stats.stop();
      const graceSeconds = push.ctx.http.workerShutdownTimeout;
      const health = push.healthListeners.length > 0 && graceSeconds > 0 ? `; health checks answer 503 for ${graceSeconds}s` : "";
      log.info(`${signal}: stopping, answering ${push.ctx.held.size} held subscriber(s)${health}`);
      push.close(graceSeconds * 1000).then(() => {
        stopped?.();
        log.info("stopped");
        resolve(EXIT_OK);
      });
    };
    const reload = async (): Promise<void> => {
      if (stopping) return;
      if (reloading) return log.warn("SIGHUP: a reload is still running; ignored");
      reloading = true;
      try {
        const result = reloadedConfig(options, source, log);
        if (!result) return;
        let report;
        try {
          report = await push.reload(result.config);
        } catch (error) {
          return log.error(`reload refused: ${(error as Error).message}; the running configuration stays`);
        }
        for (const key of report.needRestart) {
          const inForce = key === "messageLog" ? push.config.messageLog : key === "broker" ? push.config.broker : (push.ctx.http as unknown as Record<string, unknown>)[key];
          log.warn(`reload: ${key} changed but needs a restart; ${JSON.stringify(inForce) ?? "none"} stays in force`);
        }
        const needsRestart = (path: string): boolean => report.needRestart.some((key) => path === key || path.startsWith(`${key}.`));
        const applied = configChanges(effectiveConfig(running), effectiveConfig(result.raw)).filter((change) => !needsRestart(change.path));
        running = result.raw;
        const changes = [...applied.map((change) => change.text), ...report.changes];
        log.info(`reload: applied: ${changes.length > 0 ? summarizeChanges(changes) : "no change"}; listen: ${describe(push)}`);
        for (const warning of configWarnings(result.config)) log.warn(`reload: config: ${warning}`);
        stats.every(push.ctx.http.logStatsInterval);
      } finally {
        reloading = false;
      }
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    if (cluster.isWorker) process.on("message", (message) => message === STOP_MESSAGE && stop("stop from the primary"));
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGHUP", () => {
      log.info(`SIGHUP: reloading ${source}`);
      void reload();
    });
    // Only now that the signals are ours: a SIGHUP sent once "started" is logged must reload, not kill.
    log.info(`pushwire ${VERSION} started pid=${process.pid} runtime=${runtime()} config="${source}" listen: ${describe(push)}`);
    for (const warning of configWarnings(result.config)) log.warn(`config: ${warning}`);
    log.info(`limits maxMessagesStoredPerChannel=${http.maxMessagesStoredPerChannel} messageTtl=${http.messageTtl}s maxChannelIdLength=${http.maxChannelIdLength} maxNumberOfChannels=${http.maxNumberOfChannels} maxSubscribersPerChannel=${http.maxSubscribersPerChannel} clientMaxHeaderSize=${http.clientMaxHeaderSize} logStatsInterval=${http.logStatsInterval}s accessLog=${http.accessLog ? "on" : "off"} openFileLimit=${push.ctx.metrics.openFiles?.limit ?? "unknown"}`);
    logTls(log, push, options);
    if (!cluster.isWorker) logMessageLog(log, push.config.messageLog, push.restored, push.ctx.history.epoch);
    stats.every(http.logStatsInterval);
  });
}

/** Says where messages are kept, and what a replay restored. */
function logMessageLog(log: Logger, settings: PushwireConfig["messageLog"], restored: Restored | undefined, epoch: string): void {
  if (!settings || !restored) return log.info("message log: off (memory only: a restart empties every channel; --message-log DIR keeps them)");
  const { report } = restored;
  for (const note of report.notes) log.warn(`message log: ${note}`);
  if (report.epoch === undefined && report.files > 0) log.warn(`message log: records were lost; new epoch ${epoch}`);
  const skipped = [
    restored.expired > 0 ? `${restored.expired} expired` : "",
    restored.refusedChannels > 0 ? `${restored.refusedChannels} records over maxNumberOfChannels` : "",
  ].filter(Boolean).join(", ");
  log.info(`message log: ${settings.path} fsync=${settings.fsync} restored ${restored.channels} channel(s) and ${restored.messages} message(s) from ${report.files} file(s) in ${Math.round(restored.seconds * 1000)} ms${skipped ? ` (skipped: ${skipped})` : ""}`);
}

/** Says plainly whether TLS is served, and why not for the built-in layout. */
function logTls(log: Logger, push: PushServer, options: Options): void {
  const secure = push.listeners.filter((l) => l.config.ssl);
  if (secure.length > 0) {
    for (const { config, address } of secure) log.info(`tls on port ${address.port}: certificate ${config.ssl!.certificate} key ${config.ssl!.certificateKey} protocols ${config.ssl!.protocols.join(",")}`);
  } else if (!options.config) {
    log.info("tls off: no certificate given (--ssl-cert/--ssl-key), so the BitrixVM TLS port 8894 is not served");
  } else {
    log.info("tls off: no server in the configuration has an \"ssl\" block");
  }
}

function runtime(): string {
  const versions = process.versions as Record<string, string | undefined>;
  if (versions.bun) return `bun ${versions.bun}`;
  if (versions.deno) return `deno ${versions.deno}`;
  return `node ${process.version}`;
}

process.on("uncaughtException", (error) => {
  process.stderr.write(`error uncaught exception: ${error.stack ?? error}\n`);
  process.exit(EXIT_SOFTWARE);
});

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // Listeners are closed by now; exit even if a client keeps a socket half-open.
  setTimeout(() => process.exit(code), 10).unref();
});
