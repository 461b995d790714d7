import { connect, type Socket } from "node:net";
import { encodeCommand, RespError, RespParser, RespProtocolError, type RespReply } from "./resp.js";

/** Where a Redis server is and how to log in (parsed from `redis://[user:password@]host[:port][/db]`). */
export interface RedisAddress {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
}

/** A `redis://` URL as a RedisAddress; throws on anything else (the configuration check says why). */
export function parseRedisUrl(url: string): RedisAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`not a URL: ${JSON.stringify(url)} (redis://host:port[/db])`);
  }
  if (parsed.protocol !== "redis:") throw new Error(`${JSON.stringify(url)}: only redis:// is supported (TLS to Redis is not)`);
  const address: RedisAddress = { host: parsed.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1", port: parsed.port ? Number(parsed.port) : 6379 };
  if (parsed.username) address.username = decodeURIComponent(parsed.username);
  if (parsed.password) address.password = decodeURIComponent(parsed.password);
  const path = parsed.pathname.replace(/^\//, "");
  if (path !== "") {
    if (!/^\d+$/.test(path)) throw new Error(`${JSON.stringify(url)}: the path must be a database number`);
    address.db = Number(path);
  }
  return address;
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
  connectTimeoutMs?: number;
}

interface Pending {
  resolve(reply: RespReply): void;
  reject(error: Error): void;
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
  /** Replies the login steps (AUTH, SELECT) still owe before commands may go out. */
  private handshake = 0;

  constructor(
    readonly address: RedisAddress,
    private readonly options: RedisConnectionOptions,
  ) {
    this.open();
  }

  /** Sends a command; resolves with its reply, rejects with RedisReplyError or RedisUnavailable. */
  command(args: ReadonlyArray<string | Buffer | number>): Promise<RespReply> {
    if (this.options.mode !== "commands") return Promise.reject(new Error(`redis ${this.options.name}: a subscriber connection sends no commands`));
    if (this.state !== "ready") return Promise.reject(this.unavailable());
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
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
    this.socket?.destroy();
    this.failPending(new RedisUnavailable(`redis ${this.options.name}: closed`));
  }

  private unavailable(): RedisUnavailable {
    return new RedisUnavailable(`redis ${this.options.name} at ${this.address.host}:${this.address.port} is ${this.state === "closed" ? "closed" : "unreachable"}`);
  }

  private open(): void {
    const socket = connect({ host: this.address.host, port: this.address.port });
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

  /** AUTH and SELECT go first; their replies are checked before anything else is sent. */
  private login(socket: Socket): void {
    socket.setTimeout(0);
    const steps: Array<Array<string | number>> = [];
    const { username, password, db } = this.address;
    if (password !== undefined) steps.push(username ? ["AUTH", username, password] : ["AUTH", password]);
    if (db !== undefined && db !== 0) steps.push(["SELECT", db]);
    this.handshake = steps.length;
    for (const step of steps) socket.write(encodeCommand(step));
    if (this.handshake === 0) this.ready(socket);
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
      if (this.handshake > 0) {
        if (reply instanceof RespError) return void socket.destroy(new Error(`login refused: ${reply.message}`));
        if (--this.handshake === 0) this.ready(socket);
      } else if (this.options.mode === "subscriber") this.pushed(reply);
      else this.answer(reply);
    }
  }

  /** Subscribe mode: ["message", channel, payload]; confirmations of (un)subscribe need nothing. */
  private pushed(reply: RespReply): void {
    if (!Array.isArray(reply) || reply.length !== 3) return;
    const [kind, channel, payload] = reply;
    if (Buffer.isBuffer(kind) && kind.toString("latin1") === "message" && Buffer.isBuffer(channel) && Buffer.isBuffer(payload)) {
      this.options.onMessage?.(channel, payload);
    }
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

  private lost(socket: Socket, error: Error): void {
    if (socket !== this.socket || this.state === "closed") return;
    this.socket = undefined;
    socket.destroy();
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
