import assert from "node:assert/strict";
import { request as httpRequest, type Agent, type ClientRequest, type IncomingHttpHeaders } from "node:http";
import { connect, createServer as createNetServer, type AddressInfo } from "node:net";
import type { Message } from "../../src/core/message.js";
import { normalizeConfig } from "../../src/config/schema.js";
import { PushServer, type StartOptions } from "../../src/app.js";
import { silentLogger } from "../../src/log.js";
import { BITRIX_MESSAGE_TEMPLATE, bitrixVmConfig } from "../../src/config/layouts/bitrixvm.js";

export { BITRIX_MESSAGE_TEMPLATE };

/**
 * Test harness: a real pushwire on ephemeral loopback ports, and small HTTP clients that report
 * status, headers and body bytes exactly as they came over the socket.
 */

export type RawConfig = Record<string, unknown>;

/** Overrides for {@link bitrixLikeConfig}. */
export interface BitrixLikeOptions {
  http?: RawConfig;
  sub?: RawConfig;
  pub?: RawConfig;
  extraSubLocations?: RawConfig[];
}

/**
 * The built-in BitrixVM layout on ephemeral loopback ports, with a 2 s hold instead of 40 s.
 * `http` overrides top-level keys, `sub`/`pub` the /bitrix/sub and /bitrix/pub/ locations;
 * `extraSubLocations` are added to the subscriber server.
 */
export function bitrixLikeConfig(options: BitrixLikeOptions = {}): RawConfig {
  const layout = bitrixVmConfig() as { servers: Array<{ listen: string; locations: RawConfig[] }> } & RawConfig;
  const [subServer, pubServer] = layout.servers;
  const [subLocation, ...subRest] = subServer!.locations;
  const [pubLocation, ...pubRest] = pubServer!.locations;
  return {
    ...layout,
    ...options.http,
    servers: [
      {
        listen: "127.0.0.1:0",
        locations: [{ ...subLocation, longpollingConnectionTtl: "2s", ...options.sub }, ...(options.extraSubLocations ?? []), ...subRest],
      },
      { listen: "127.0.0.1:0", locations: [{ ...pubLocation, ...options.pub }, ...pubRest] },
    ],
  };
}

export interface Running {
  push: PushServer;
  /** Port of servers[i]. */
  port(i?: number): number;
  close(): Promise<void>;
}

/** Starts pushwire in this process from a raw (file-shaped) configuration. */
export async function start(raw: RawConfig, options: StartOptions = {}): Promise<Running> {
  const result = normalizeConfig(raw);
  if (result.errors) throw new Error(`bad test config: ${result.errors.join("; ")}`);
  const push = await PushServer.start(result.config, { log: silentLogger, tickMs: 20, ...options });
  return {
    push,
    port: (i = 0) => push.listeners[i]!.address.port,
    close: () => push.close(500),
  };
}

/**
 * Starts pushwire, runs `body`, and always closes the server, so a failing test leaves no listener.
 * `config` is a whole raw configuration (it has `servers`) or the overrides for bitrixLikeConfig.
 */
export async function withServer(
  config: RawConfig | BitrixLikeOptions,
  body: (app: Running) => Promise<void>,
  startOptions: StartOptions = {},
): Promise<void> {
  const app = await start("servers" in config ? config : bitrixLikeConfig(config as BitrixLikeOptions), startOptions);
  try {
    await body(app);
  } finally {
    await app.close();
  }
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  /** Header names exactly as sent, in order: [name, value, name, value, …]. */
  rawHeaders: string[];
  body: Buffer;
  text: string;
  /** The client's port, so tests can tell whether two replies came over one connection. */
  localPort: number;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Give up after this many ms (the reply then rejects); default 5000, 0 never gives up. */
  timeoutMs?: number;
  /** Connection pooling (keep-alive tests); default: a fresh connection per request. */
  agent?: Agent;
}

/** No test waits longer than ~3 s for an answer; a request still open after this fails instead of hanging the run. */
const GIVE_UP_MS = 5000;

/** A request that may stay open (a held long-poll): the reply, and a way to drop the connection. */
export interface PendingRequest {
  reply: Promise<Reply>;
  abort(): void;
}

/** Starts one HTTP/1.1 request without waiting, so a test can publish while it is held or abort it. */
export function openRequest(port: number, path: string, options: RequestOptions = {}): PendingRequest {
  let req!: ClientRequest;
  const timeoutMs = options.timeoutMs ?? GIVE_UP_MS;
  const reply = new Promise<Reply>((resolve, reject) => {
    req = httpRequest({ host: "127.0.0.1", port, path, method: options.method ?? "GET", headers: options.headers, agent: options.agent ?? false }, (res) => {
      const localPort = res.socket.localPort!;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body, text: body.toString("utf8"), localPort });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    if (timeoutMs) req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
  return { reply, abort: () => req.destroy() };
}

/** One HTTP/1.1 request on its own connection; gives up after 5 s unless `timeoutMs` says otherwise. */
export function request(port: number, path: string, options: RequestOptions = {}): Promise<Reply> {
  return openRequest(port, path, options).reply;
}

/** Publishes `body` on the publisher port; returns the reply. */
export function publish(port: number, channels: string, body: string, headers: Record<string, string> = {}): Promise<Reply> {
  return request(port, `/bitrix/pub/?CHANNEL_ID=${channels}`, { method: "POST", body, headers });
}

/** Publishes on server 1 and fails the test unless it was accepted (setup steps, not the subject). */
export async function publishOk(app: Running, channels: string, body: string, headers: Record<string, string> = {}): Promise<void> {
  const reply = await publish(app.port(1), channels, body, headers);
  assert.equal(reply.status, 200, `publish to ${channels}`);
}

/** The newest stored message of a channel, straight from the server's store (its tag and time are the cursor). */
export function lastStored(app: Running, channel: string): Message {
  const found = app.push.ctx.store.find(channel);
  assert.ok(found, `channel ${channel} exists`);
  const message = found.messages.last();
  assert.ok(message, `channel ${channel} has a stored message`);
  return message;
}

/** What a raw exchange got back, and whether the server (not the client's wait) ended it. */
export interface RawExchange {
  text: string;
  closedByServer: boolean;
}

/**
 * Sends raw bytes and collects the answer until the server closes (or `waitMs` passes, then the
 * client hangs up). For HTTP/1.0 and malformed requests, which node's client cannot send.
 * A reset or EPIPE is not an error: what arrived is returned.
 */
export function rawExchange(port: number, bytes: string | Buffer, waitMs = 2000): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, waitMs);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString("latin1"), closedByServer: !timedOut });
    });
    socket.write(bytes);
  });
}

/** Splits a raw response (from rawExchange) into status, lower-cased headers and body; asserts the head is complete. */
export function parseHead(text: string): { status: number; headers: Map<string, string>; body: string } {
  const end = text.indexOf("\r\n\r\n");
  assert.ok(end > 0, `a complete response head: ${JSON.stringify(text)}`);
  const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
  return { status: Number(/^HTTP\/1\.[01] (\d{3}) /.exec(statusLine!)?.[1]), headers: headerMap(lines), body: text.slice(end + 4) };
}

/** Raw `Name: value` header lines as a map keyed by lower-cased name, for replies read off a socket. */
export function headerMap(lines: string[]): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

/** The header that says why a request was refused (PROTOCOL.md §13), as node lower-cases it. */
export const EXPLAIN = "x-nginx-pushstream-explain";
/** The Expires and Cache-Control every subscriber and publisher answer carries. */
export const EXPIRES = "Thu, 01 Jan 1970 00:00:01 GMT";
export const CACHE_CONTROL = "no-cache, no-store, must-revalidate";
/** Content-Type of a subscriber answer without JSONP or a configured type. */
export const DEFAULT_TYPE = "text/plain; charset=utf-8";
/** Access-Control-Allow-Headers sent with allowedOrigins. */
export const CORS_ALLOW_HEADERS = "If-Modified-Since,If-None-Match,Etag,Event-Id,Event-Type,Last-Event-Id";

/** A header-only refusal: status, explain text (or none), empty body, Content-Length 0. */
export function assertRefusal(reply: Reply, status: number, explain: string | undefined): void {
  assert.equal(reply.status, status, `status (explain: ${String(reply.headers[EXPLAIN])})`);
  assert.equal(reply.headers[EXPLAIN], explain);
  assert.equal(reply.headers["content-length"], "0");
  assert.equal(reply.body.length, 0);
}

/** The no-cache pair (Expires in the past, Cache-Control). */
export function assertNoCache(reply: Reply): void {
  assert.equal(reply.headers["expires"], EXPIRES);
  assert.equal(reply.headers["cache-control"], CACHE_CONTROL);
}

/** The three CORS headers of a location with allowedOrigins "*"; `methods` is the location's method list. */
export function assertCors(reply: Reply, methods = "GET"): void {
  assert.equal(reply.headers["access-control-allow-origin"], "*");
  assert.equal(reply.headers["access-control-allow-methods"], methods);
  assert.equal(reply.headers["access-control-allow-headers"], CORS_ALLOW_HEADERS);
}

/** A 32-hex channel id like Bitrix's (md5), distinct per `seed`. */
export function hexId(seed: number): string {
  return seed.toString(16).padStart(8, "0").repeat(4);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `predicate` holds (polling every 5 ms), failing after `ms`. */
export async function waitFor(predicate: () => boolean, ms = 2000, what = "condition"): Promise<void> {
  const until = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** The envelope bodies of a Bitrix-template reply, parsed. */
export function envelopes(text: string): Array<{ id: number; channel: string; tag: string; time: string; eventid: string; text: unknown }> {
  return [...text.matchAll(/#!NGINXNMS!#(.*?)#!NGINXNME!#/gs)].map((m) => JSON.parse(m[1]!));
}

/** An HTTP date for `seconds`. */
export function httpDate(seconds: number): string {
  return new Date(seconds * 1000).toUTCString();
}

export const EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT";

/** A free loopback TCP port (asked of the kernel, then released) for a server that needs a fixed one. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
