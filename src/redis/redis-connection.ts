import { connect, type Socket } from "node:net";
import type { RedisAddress } from "../config/redis.js";
import { encodeCommand, RespError, RespParser, RespProtocolError, type RespReply } from "./resp.js";

/** How long one Sentinel gets to answer where the master is. */
const SENTINEL_TIMEOUT_MS = 1000;

/**
 * The master's host and port as the first Sentinel that knows it says (each asked in turn, the
 * next on error, timeout or "unknown"); rejects when none does.
 */
export async function locateMaster(sentinel: NonNullable<RedisAddress["sentinel"]>): Promise<{ host: string; port: number }> {
  const failures: string[] = [];
  for (const { host, port } of sentinel.sentinels) {
    try {
      const reply = await askOnce(host, port, ["SENTINEL", "get-master-addr-by-name", sentinel.name]);
      if (Array.isArray(reply) && reply.length === 2 && Buffer.isBuffer(reply[0]) && Buffer.isBuffer(reply[1])) {
        return { host: reply[0].toString("latin1"), port: Number(reply[1].toString("latin1")) };
      }
      failures.push(`${host}:${port} does not know "${sentinel.name}"`);
    } catch (error) {
      failures.push(`${host}:${port}: ${(error as Error).message}`);
    }
  }
  throw new Error(`no Sentinel gave the master "${sentinel.name}" (${failures.join("; ")})`);
}

/** One command on a connection of its own, closed after the reply. */
function askOnce(host: string, port: number, args: string[]): Promise<RespReply> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const parser = new RespParser();
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(SENTINEL_TIMEOUT_MS, () => fail(new Error("no answer")));
    socket.once("connect", () => socket.write(encodeCommand(args)));
    socket.on("data", (chunk: Buffer) => {
      let replies: RespReply[];
      try {
        replies = parser.push(chunk);
      } catch (error) {
        return fail(error as Error);
      }
      if (replies.length === 0) return;
      socket.destroy();
      const [reply] = replies;
      if (reply instanceof RespError) reject(new Error(reply.message));
      else resolve(reply!);
    });
    socket.on("error", fail);
  });
}

/** Redis cannot be reached (or the connection was lost before the reply): the caller answers 503. */
export class RedisUnavailable extends Error {}

/** Redis answered the command with an error reply. */
export class RedisReplyError extends Error {
  constructor(readonly reply: RespError) {
    super(reply.message);
  }
}

export interface RedisConnectionOptions {
  /** Names the connection in errors ("publisher", "subscriber"). */
  name: string;
  /**
   * "commands": request/reply, pipelined. "subscriber": Redis's subscribe mode — only
   * subscribe/unsubscribe go out, and every message comes to `onMessage`.
   */
  mode: "commands" | "subscriber";
  /** Called each time the connection is (re)established and logged in (subscriptions restored). */
  onReady?: () => void;
  /** Called once per loss, with why; reconnecting has begun. */
  onDown?: (error: Error) => void;
  onMessage?: (channel: Buffer, message: Buffer) => void;
  /** Subscribe mode: Redis confirmed a subscription (sent on connecting, or by `subscribe`): messages now flow. */
  onSubscribed?: (channel: string) => void;
  connectTimeoutMs?: number;
  /**
   * A command unanswered this long means Redis is stuck (or the network): the connection is
   * dropped, so its commands are rejected and it connects again. 0 = wait for ever.
   */
  commandTimeoutMs?: number;
}

interface Pending {
  resolve(reply: RespReply): void;
  reject(error: Error): void;
  /** When it was sent (the command timeout's watch). */
  sentAt: number;
}

const FIRST_PAUSE_MS = 100;
const MAX_PAUSE_MS = 5000;

/**
 * One connection to Redis. Commands are pipelined and their replies matched in order. It
 * reconnects by itself after a growing pause (100 ms doubling to 5 s); commands sent before a
 * loss are rejected with RedisUnavailable — never sent twice, as a publish must not be — and
 * commands while it is down are rejected at once, so a publisher hears of it now, not after a
 * timeout. Subscriptions are kept and restored on every reconnect; `onReady` then lets the
 * caller catch up on what it missed meanwhile.
 */
export class RedisConnection {
  state: "connecting" | "ready" | "down" | "closed" = "connecting";
  private socket: Socket | undefined;
  private parser = new RespParser();
  private readonly pending: Pending[] = [];
  private pendingHead = 0;
  private readonly channels = new Set<string>();
  private pause = FIRST_PAUSE_MS;
  private retry: NodeJS.Timeout | undefined;
  /** onDown was called for the current loss (once per loss, not per failed retry). */
  private saidDown = false;
  /** Checks of the replies the login steps (AUTH, SELECT, ROLE) still owe before commands may go out. */
  private checks: Array<(reply: RespReply) => string | undefined> = [];
  /** One watch for the whole connection, not a timer per command. */
  private readonly watch: NodeJS.Timeout | undefined;

  constructor(
    readonly address: RedisAddress,
    private readonly options: RedisConnectionOptions,
  ) {
    const timeout = options.commandTimeoutMs ?? 0;
    if (timeout > 0) {
      this.watch = setInterval(() => this.checkStuck(timeout), Math.max(50, Math.min(1000, timeout / 4)));
      this.watch.unref();
    }
    this.open();
  }

  /** Commands sent and not yet answered. */
  get inFlight(): number {
    return this.pending.length - this.pendingHead;
  }

  private checkStuck(timeout: number): void {
    const oldest = this.pending[this.pendingHead];
    if (!oldest || this.state !== "ready" || performance.now() - oldest.sentAt < timeout) return;
    this.socket?.destroy(new Error(`no reply in ${timeout} ms`));
  }

  /** Sends a command; resolves with its reply, rejects with RedisReplyError or RedisUnavailable. */
  command(args: ReadonlyArray<string | Buffer | number>): Promise<RespReply> {
    if (this.options.mode !== "commands") return Promise.reject(new Error(`redis ${this.options.name}: a subscriber connection sends no commands`));
    if (this.state !== "ready") return Promise.reject(this.unavailable());
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject, sentAt: performance.now() });
      this.socket!.write(encodeCommand(args));
    });
  }

  /** Subscribes (now if connected, else on connecting) and keeps the subscription across reconnects. */
  subscribe(channels: readonly string[]): void {
    const fresh = channels.filter((channel) => !this.channels.has(channel));
    for (const channel of fresh) this.channels.add(channel);
    if (fresh.length && this.state === "ready") this.socket!.write(encodeCommand(["SUBSCRIBE", ...fresh]));
  }

  unsubscribe(channels: readonly string[]): void {
    const gone = channels.filter((channel) => this.channels.delete(channel));
    if (gone.length && this.state === "ready") this.socket!.write(encodeCommand(["UNSUBSCRIBE", ...gone]));
  }

  /** Ends the connection for good: pending commands are rejected, no reconnect. */
  close(): void {
    this.state = "closed";
    clearTimeout(this.retry);
    clearInterval(this.watch);
    this.socket?.destroy();
    this.failPending(new RedisUnavailable(`redis ${this.options.name}: closed`));
  }

  private unavailable(): RedisUnavailable {
    return new RedisUnavailable(`redis ${this.options.name} at ${this.address.host}:${this.address.port} is ${this.state === "closed" ? "closed" : "unreachable"}`);
  }

  private open(): void {
    const { sentinel } = this.address;
    if (!sentinel) return this.connectTo(this.address.host, this.address.port);
    locateMaster(sentinel).then(({ host, port }) => {
      if (this.state === "closed") return;
      this.address.host = host;
      this.address.port = port;
      this.connectTo(host, port);
    }, (error: Error) => this.lost(undefined, error));
  }

  private connectTo(host: string, port: number): void {
    const socket = connect({ host, port });
    this.socket = socket;
    this.parser = new RespParser();
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.setTimeout(this.options.connectTimeoutMs ?? 5000, () => socket.destroy(new Error("connect timed out")));
    socket.once("connect", () => this.login(socket));
    socket.on("data", (chunk: Buffer) => this.received(socket, chunk));
    socket.on("error", (error) => this.lost(socket, error));
    socket.on("close", () => this.lost(socket, new Error("connection closed")));
  }

  /**
   * AUTH and SELECT go first, and through a Sentinel a ROLE check (a Sentinel's answer may be
   * stale during a failover); their replies are checked before anything else is sent.
   */
  private login(socket: Socket): void {
    socket.setTimeout(0);
    const steps: Array<Array<string | number>> = [];
    this.checks = [];
    const { username, password, db, sentinel } = this.address;
    if (password !== undefined) steps.push(username ? ["AUTH", username, password] : ["AUTH", password]);
    if (db !== undefined && db !== 0) steps.push(["SELECT", db]);
    for (let i = 0; i < steps.length; i++) this.checks.push(refusedLogin);
    if (sentinel) {
      steps.push(["ROLE"]);
      this.checks.push(notMaster);
    }
    for (const step of steps) socket.write(encodeCommand(step));
    if (this.checks.length === 0) this.ready(socket);
  }

  private ready(socket: Socket): void {
    this.state = "ready";
    this.saidDown = false;
    this.pause = FIRST_PAUSE_MS;
    if (this.options.mode === "subscriber" && this.channels.size) socket.write(encodeCommand(["SUBSCRIBE", ...this.channels]));
    this.options.onReady?.();
  }

  private received(socket: Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    let replies: RespReply[];
    try {
      replies = this.parser.push(chunk);
    } catch (error) {
      return void socket.destroy(error instanceof RespProtocolError ? error : new Error(String(error)));
    }
    for (const reply of replies) {
      if (this.checks.length > 0) {
        const refused = this.checks.shift()!(reply);
        if (refused) return void socket.destroy(new Error(refused));
        if (this.checks.length === 0) this.ready(socket);
      } else if (this.options.mode === "subscriber") this.pushed(reply);
      else {
        this.answer(reply);
        // A master demoted by a failover refuses writes: connect again, to whichever is master now.
        if (reply instanceof RespError && reply.code === "READONLY") return void socket.destroy(new Error(reply.message));
      }
    }
  }

  /** Subscribe mode: ["message", channel, payload], or ["subscribe", channel, count] confirming a subscription. */
  private pushed(reply: RespReply): void {
    if (!Array.isArray(reply) || reply.length !== 3) return;
    const [kind, channel, payload] = reply;
    if (!Buffer.isBuffer(kind) || !Buffer.isBuffer(channel)) return;
    const what = kind.toString("latin1");
    if (what === "message" && Buffer.isBuffer(payload)) this.options.onMessage?.(channel, payload);
    else if (what === "subscribe") this.options.onSubscribed?.(channel.toString("utf8"));
  }

  private answer(reply: RespReply): void {
    const waiting = this.pending[this.pendingHead++];
    if (this.pendingHead === this.pending.length) {
      this.pending.length = 0;
      this.pendingHead = 0;
    }
    if (!waiting) return; // a reply nobody asked for: nothing to match it to
    if (reply instanceof RespError) waiting.reject(new RedisReplyError(reply));
    else waiting.resolve(reply);
  }

  /** The connection (or, through a Sentinel, finding the master: no socket yet) failed. */
  private lost(socket: Socket | undefined, error: Error): void {
    if (socket !== this.socket || this.state === "closed") return;
    this.socket = undefined;
    socket?.destroy();
    this.state = "down";
    this.failPending(new RedisUnavailable(`redis ${this.options.name}: ${error.message}; the command may or may not have run`));
    if (!this.saidDown) {
      this.saidDown = true;
      this.options.onDown?.(error);
    }
    this.retry = setTimeout(() => {
      if (this.state === "closed") return;
      this.state = "connecting";
      this.open();
    }, this.pause);
    this.retry.unref();
    this.pause = Math.min(MAX_PAUSE_MS, this.pause * 2);
  }

  private failPending(error: Error): void {
    const waiting = this.pending.slice(this.pendingHead);
    this.pending.length = 0;
    this.pendingHead = 0;
    for (const { reject } of waiting) reject(error);
  }
}

function refusedLogin(reply: RespReply): string | undefined {
  return reply instanceof RespError ? `login refused: ${reply.message}` : undefined;
}

/** ROLE's first element is "master" on a master. */
function notMaster(reply: RespReply): string | undefined {
  const role = Array.isArray(reply) && Buffer.isBuffer(reply[0]) ? reply[0].toString("latin1") : String(reply);
  return role === "master" ? undefined : `not the master (its role: ${role}); asking the Sentinels again`;
}
