import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { connect } from "node:net";
import { normalizeConfig } from "../src/config/schema.js";
import { PushServer, type StartOptions } from "../src/http/server.js";
import { silentLogger } from "../src/log.js";
import { BITRIX_MESSAGE_TEMPLATE } from "../src/config/bitrixvm.js";

export { BITRIX_MESSAGE_TEMPLATE };

/**
 * Test harness: a real pushwire on ephemeral loopback ports, and small HTTP clients that report
 * status, headers and body bytes exactly as they came over the socket.
 */

export type RawConfig = Record<string, unknown>;

/** A subscriber and a publisher server like BitrixVM's, on ephemeral ports, with overrides. */
export function bitrixLikeConfig(options: {
  http?: RawConfig;
  sub?: RawConfig;
  pub?: RawConfig;
  extraSubLocations?: RawConfig[];
} = {}): RawConfig {
  return {
    maxMessagesStoredPerChannel: 1000,
    messageTtl: "24h",
    maxChannelIdLength: 32,
    maxNumberOfChannels: 100000,
    ...options.http,
    servers: [
      {
        listen: "127.0.0.1:0",
        locations: [
          {
            path: "/bitrix/sub",
            subscriber: "long-polling",
            channelsPath: "$arg_CHANNEL_ID",
            lastReceivedMessageTag: "$arg_tag",
            lastReceivedMessageTime: "$arg_time",
            longpollingConnectionTtl: "2s",
            authorizedChannelsOnly: true,
            allowedOrigins: "*",
            rejectArgs: ["callback"],
            messageTemplate: BITRIX_MESSAGE_TEMPLATE,
            ...options.sub,
          },
          ...(options.extraSubLocations ?? []),
          { path: "/", deny: "all" },
        ],
      },
      {
        listen: "127.0.0.1:0",
        locations: [
          {
            path: "/bitrix/pub/",
            publisher: "admin",
            channelsPath: "$arg_CHANNEL_ID",
            storeMessages: true,
            allow: ["127.0.0.0/8", "::1"],
            deny: "all",
            ...options.pub,
          },
          { path: "/", deny: "all" },
        ],
      },
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

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  /** Header names exactly as sent, in order: [name, value, name, value, …]. */
  rawHeaders: string[];
  body: Buffer;
  text: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Abort after this many ms (the promise then rejects). */
  timeoutMs?: number;
}

/** One HTTP/1.1 request on its own connection. */
export function request(port: number, path: string, options: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, method: options.method ?? "GET", headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body, text: body.toString("utf8") });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    if (options.timeoutMs) req.setTimeout(options.timeoutMs, () => req.destroy(new Error(`timed out after ${options.timeoutMs} ms`)));
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** Publishes `body` on the publisher port; returns the reply. */
export function publish(port: number, channels: string, body: string, headers: Record<string, string> = {}): Promise<Reply> {
  return request(port, `/bitrix/pub/?CHANNEL_ID=${channels}`, { method: "POST", body, headers });
}

/**
 * Sends raw bytes and collects everything the server sends until it closes the connection
 * (or `waitMs` passes). For HTTP/1.0 and malformed requests.
 */
export function rawExchange(port: number, bytes: string | Buffer, waitMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.on("data", (c) => chunks.push(c));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("latin1"));
    });
    socket.on("error", reject);
    socket.write(bytes);
  });
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
