import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { bitrixLikeConfig, headerMap, type RawConfig } from "./helpers.js";

/**
 * The PHP half of a Bitrix site with `nginx`=Y, `nginx_version`=2, no signature key: what
 * `CPullChannel` sends to the publisher (BITRIX.md §1.2–1.5, raw HTTP/1.0 over a socket), and
 * what `pull.config.get` answers the browser (§2.2), pointing at a pushwire.
 */

/** pushwire as the tests run it: the built-in BitrixVM layout on ephemeral ports, a short hold. */
export function bitrixSdkConfig(hold = "2s"): RawConfig {
  return bitrixLikeConfig({ sub: { longpollingConnectionTtl: hold } });
}

/** The same layout pinned to ports a first run got, to restart pushwire in place. */
export function pinPorts(raw: RawConfig, subPort: number, pubPort: number): RawConfig {
  const servers = raw["servers"] as RawConfig[];
  return { ...raw, servers: [{ ...servers[0], listen: `127.0.0.1:${subPort}` }, { ...servers[1], listen: `127.0.0.1:${pubPort}` }] };
}

/** A user's private channel and the site's shared one: 32 lowercase hex each, like `GetNewChannelId()`. */
export interface SiteChannels {
  private: string;
  shared: string;
}

export function newChannels(): SiteChannels {
  return { private: randomBytes(16).toString("hex"), shared: randomBytes(16).toString("hex") };
}

/** Where the browser reaches pushwire's subscriber server. */
export interface PullEndpoints {
  host: string;
  subPort: number;
  websocket: boolean;
}

/** The `result` of REST `pull.config.get` for server version 2, as `Bitrix\Pull\Config::get` builds it. */
export function pullConfigResult(channels: SiteChannels, endpoints: PullEndpoints): Record<string, unknown> {
  const now = Date.now();
  const start = new Date(now - 60_000).toISOString();
  const end = new Date(now + 43_205_000).toISOString(); // CHANNEL_TTL
  const base = `${endpoints.host}:${endpoints.subPort}`;
  return {
    server: {
      version: 2,
      server_enabled: true,
      mode: "personal",
      long_polling: `http://${base}/bitrix/sub/`,
      long_pooling_secure: `https://${base}/bitrix/sub/`, // sic: the PHP key and the client both spell it so
      websocket_enabled: endpoints.websocket,
      websocket: `ws://${base}/bitrix/subws/`,
      websocket_secure: `wss://${base}/bitrix/subws/`,
      publish_enabled: false,
      publish: "",
      publish_secure: "",
      config_timestamp: 0,
    },
    api: { revision_web: 19, revision_mobile: 3 },
    channels: {
      private: { id: channels.private, public_id: "", start, end, type: "private" },
      shared: { id: channels.shared, start, end, type: "shared" },
    },
    publicChannels: {},
    serverTime: new Date(now).toISOString(),
  };
}

/** The JSON body `Event::add` puts on the wire (§1.1): exactly module_id, command, params, extra. */
export function eventBody(moduleId: string, command: string, params: Record<string, unknown>): string {
  const now = Date.now() / 1000;
  return JSON.stringify({
    module_id: moduleId,
    command,
    params,
    extra: {
      server_time: new Date().toISOString().replace(/\.\d+Z$/, "+00:00"),
      server_time_unix: now,
      server_name: "bitrix.example.test",
      revision_web: 19,
      revision_mobile: 3,
    },
  });
}

/** The channel-creation message `CPullChannel` publishes for versions < 3 (§2.1): `expiry` inside, no header. */
export function channelMessageBody(command: "open" | "open_exists" | "reopen", channel: string): string {
  return JSON.stringify({ module_id: "pull", command, params: { channel }, extra: { revision_web: 19 }, expiry: 1 });
}

export interface PhpReply {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** The bytes of that request; `channelsPath` goes into CHANNEL_ID as it is (PHP does not encode it). */
export function phpRequestBytes(method: "POST" | "GET", port: number, channelsPath: string, body: string, expiry?: number): string {
  return `${method} /bitrix/pub/?CHANNEL_ID=${channelsPath} HTTP/1.0\r\n`
    + `Host: 127.0.0.1:${port}\r\n`
    + "Accept: */*\r\n"
    + "Accept-Language: en\r\n"
    + "Connection: close\r\n"
    + "Content-Type: application/x-www-form-urlencoded\r\n"
    + (expiry !== undefined ? `Message-Expiry: ${expiry}\r\n` : "")
    + `Content-Length: ${Buffer.byteLength(body)}\r\n`
    + "\r\n"
    + body;
}

/**
 * One request as `Bitrix\Main\Web\HttpClient` sends it for `CPullChannel::SendCommand()`: HTTP/1.0,
 * `Connection: close`, a form content type on a JSON body, `CHANNEL_ID` unencoded. Reads until
 * the server closes.
 */
export function phpRequest(port: number, method: "POST" | "GET", channels: readonly string[], body: string, expiry?: number): Promise<PhpReply> {
  const bytes = phpRequestBytes(method, port, channels.join("/"), body, expiry);
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error("no reply within 5 s (PHP's stream timeout)")), 5000);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("utf8");
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) return reject(new Error(`no complete reply: ${JSON.stringify(text)}`));
      const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine!)?.[1]), headers: headerMap(lines), body: text.slice(end + 4) });
    });
    socket.write(bytes);
  });
}

/** The site: publishes events and channel messages PHP-style, and runs the online check. */
export class BitrixSite {
  constructor(readonly pubPort: () => number) {}

  /** `\Bitrix\Pull\Event::add` to these channels: one POST, `Message-Expiry: 86400`; fails unless 200. */
  async publish(channels: readonly string[], command: string, params: Record<string, unknown>, moduleId = "im"): Promise<void> {
    const reply = await phpRequest(this.pubPort(), "POST", channels, eventBody(moduleId, command, params), 86400);
    assert.equal(reply.status, 200, `publish to ${channels.join("/")}: ${reply.body}`);
  }

  /** What `CPullChannel` does when it creates (`open`) or re-creates (`reopen`) a channel. */
  async openChannel(channel: string, command: "open" | "reopen" = "open"): Promise<void> {
    const reply = await phpRequest(this.pubPort(), "POST", [channel], channelMessageBody(command, channel));
    assert.equal(reply.status, 200, `${command} ${channel}`);
  }

  /** `CPullChannel::GetOnlineChannels()`: a GET with the id list as (junk) body; returns infos[] as PHP reads them. */
  async onlineCheck(channels: readonly string[]): Promise<Map<string, number>> {
    const list = channels.join("/");
    const reply = await phpRequest(this.pubPort(), "GET", channels, list);
    assert.equal(reply.status, 200, `online check: ${reply.body}`);
    let parsed = JSON.parse(reply.body) as { infos?: Array<{ channel: string; subscribers: number }>; channel?: string; subscribers?: number };
    if (!parsed.infos) parsed = { infos: [parsed as { channel: string; subscribers: number }] }; // PHP wraps a single answer
    return new Map(parsed.infos!.map((info) => [info.channel, info.subscribers]));
  }
}
