import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { bitrixPush2Config } from "../../src/config/layouts/bitrix-push2.js";
import { ChannelSigner } from "../../src/bitrix-push2/signature.js";
import { decodeResponseBatch, encodeRequestBatch, type ChannelStats, type IncomingMessage } from "../../src/bitrix-push2/protobuf.js";
import { headerMap, type RawConfig } from "./helpers.js";
import { eventBody, type PhpReply, type PullEndpoints } from "./bitrix-site.js";

/**
 * The PHP half of a Bitrix site with "Push server: installed locally, version 4" (`nginx_version`=4,
 * `enable_protobuf`=Y, a `signature_key`): what `Bitrix\Pull\ProtobufTransport` and `CPullChannel`
 * send to the publisher (BITRIX.md §1.6), what `pull.config.get` answers for version 4 (§2.2, §2.3),
 * against `--layout bitrix-push2` on ephemeral ports.
 */

export const SITE_KEY = "k".repeat(20) + randomBytes(20).toString("hex");

/** The bitrix-push2 layout on ephemeral loopback ports: [0] subscribers (+ /bitrix/rest/), [1] publisher. */
export function push2Config(options: { key?: string; hold?: string; http?: RawConfig; sub?: RawConfig; ws?: RawConfig; rest?: RawConfig } = {}): RawConfig {
  const layout = bitrixPush2Config(options.key ?? SITE_KEY) as RawConfig & { servers: Array<{ listen: string; locations: RawConfig[] }> };
  const [subServer, pubServer] = layout.servers;
  const [sub, ws, rest, ...subRest] = subServer!.locations;
  return {
    ...layout,
    ...options.http,
    servers: [
      { listen: "127.0.0.1:0", locations: [{ ...sub, longpollingConnectionTtl: options.hold ?? "2s", ...options.sub }, { ...ws, ...options.ws }, { ...rest, ...options.rest }, ...subRest] },
      { listen: "127.0.0.1:0", locations: pubServer!.locations },
    ],
  };
}

/** A user's channel pair and the site's shared channel, with the signed forms a browser gets. */
export class Push2Channels {
  readonly privateId = randomBytes(16).toString("hex");
  readonly publicId = randomBytes(16).toString("hex");
  readonly sharedId = randomBytes(16).toString("hex");

  constructor(readonly signer: ChannelSigner) {}

  /** `private:public.signature`: the private channel id the browser subscribes with. */
  get pair(): string {
    return this.signer.signed(`${this.privateId}:${this.publicId}`);
  }

  get shared(): string {
    return this.signer.signed(this.sharedId);
  }

  /** `public.signature` over `public:<id>`: what other users publish to. */
  get signedPublic(): string {
    return `${this.publicId}.${this.signer.sign(`public:${this.publicId}`)}`;
  }
}

/** The `result` of REST `pull.config.get` for server version 4, as `Bitrix\Pull\Config::get` builds it. */
export function push2ConfigResult(channels: Push2Channels, endpoints: PullEndpoints): Record<string, unknown> {
  const now = Date.now();
  const start = new Date(now - 60_000).toISOString();
  const end = new Date(now + 43_205_000).toISOString();
  const base = `${endpoints.host}:${endpoints.subPort}`;
  return {
    server: {
      version: 4,
      server_enabled: true,
      mode: "personal",
      long_polling: `http://${base}/bitrix/sub/`,
      long_pooling_secure: `https://${base}/bitrix/sub/`,
      websocket_enabled: endpoints.websocket,
      websocket: `ws://${base}/bitrix/subws/`,
      websocket_secure: `wss://${base}/bitrix/subws/`,
      publish_enabled: true,
      publish: `http://${base}/bitrix/rest/`,
      publish_secure: `https://${base}/bitrix/rest/`,
      config_timestamp: 0,
    },
    api: { revision_web: 19, revision_mobile: 3 },
    channels: {
      private: { id: channels.pair, public_id: channels.signedPublic, start, end, type: "private" },
      shared: { id: channels.shared, start, end, type: "shared" },
    },
    publicChannels: {},
    serverTime: new Date(now).toISOString(),
  };
}

/** One raw HTTP/1.0 exchange as `Bitrix\Main\Web\HttpClient` makes it; reads until the server closes. */
export function phpExchange(port: number, method: string, path: string, body: Buffer, extraHeaders: string[] = []): Promise<PhpReply & { raw: Buffer }> {
  const head = `${method} ${path} HTTP/1.0\r\nHost: 127.0.0.1:${port}\r\nAccept: */*\r\nAccept-Language: en\r\nConnection: close\r\n`
    + "Content-Type: application/x-www-form-urlencoded\r\n" + extraHeaders.map((h) => `${h}\r\n`).join("")
    + `Content-Length: ${body.length}\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error("no reply within 5 s")), 5000);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const end = all.indexOf("\r\n\r\n");
      if (end < 0) return reject(new Error(`no complete reply: ${JSON.stringify(all.toString("latin1"))}`));
      const [statusLine, ...lines] = all.subarray(0, end).toString("latin1").split("\r\n");
      const raw = all.subarray(end + 4);
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine!)?.[1]), headers: headerMap(lines), body: raw.toString("utf8"), raw });
    });
    socket.write(Buffer.concat([Buffer.from(head, "latin1"), body]));
  });
}

const MAX_RECEIVERS = 100; // limit_max_channels_per_request
const MAX_MESSAGES = 100; // limit_max_messages_per_request
const MAX_PAYLOAD = 1024 * 1024 - 200; // limit_max_payload - 200

/**
 * The site's PHP side for version 4: `ProtobufTransport::sendMessages` (messages split into
 * 100-receiver copies, requests under 1 MiB and 100 messages), its channelStats online check,
 * and the text publish of `CPullChannel::SendCommand` when protobuf is off.
 */
export class Push2Site {
  constructor(readonly pubPort: () => number) {}

  /** Builds the RequestBatches ProtobufTransport would send for these events. */
  static batches(events: Array<{ channels: string[]; body: string; expiry: number; type: string }>): Buffer[] {
    const messages: IncomingMessage[] = [];
    for (const event of events) {
      for (let i = 0; i < event.channels.length; i += MAX_RECEIVERS) {
        messages.push({
          receivers: event.channels.slice(i, i + MAX_RECEIVERS).map((id) => ({ id: Buffer.from(id, "hex"), isPrivate: true, signature: new Uint8Array(0) })),
          sender: undefined,
          body: event.body,
          expiry: event.expiry,
          type: event.type,
        });
      }
    }
    const batches: Buffer[] = [];
    let current: IncomingMessage[] = [];
    for (const message of messages) {
      const next = [...current, message];
      if (current.length > 0 && (next.length > MAX_MESSAGES || encodeRequestBatch([{ incomingMessages: next }]).length > MAX_PAYLOAD)) {
        batches.push(encodeRequestBatch([{ incomingMessages: current }]));
        current = [message];
      } else {
        current = next;
      }
    }
    if (current.length > 0) batches.push(encodeRequestBatch([{ incomingMessages: current }]));
    return batches;
  }

  /** `\Bitrix\Pull\Event::add` to these private channels with protobuf on; fails unless every request gets 200. */
  async publish(channels: string[], command: string, params: Record<string, unknown>, expiry = 86400, moduleId = "im"): Promise<void> {
    for (const batch of Push2Site.batches([{ channels, body: eventBody(moduleId, command, params), expiry, type: `${moduleId}_${command}` }])) {
      const reply = await phpExchange(this.pubPort(), "POST", "/bitrix/pub/?binaryMode=true", batch);
      assert.equal(reply.status, 200, `protobuf publish: ${reply.body}`);
    }
  }

  /** The v4 online check: channelStats for private ids; returns id → isOnline. */
  async channelStats(ids: string[]): Promise<Map<string, boolean>> {
    const body = encodeRequestBatch([{ channelStats: ids.map((id) => ({ id: Buffer.from(id, "hex"), isPrivate: true, signature: new Uint8Array(0) })) }]);
    const reply = await phpExchange(this.pubPort(), "POST", "/bitrix/pub/?binaryMode=true", body);
    assert.equal(reply.status, 200);
    const stats: ChannelStats[] = decodeResponseBatch(reply.raw)[0]!.channelStats!;
    return new Map(stats.map((s) => [Buffer.from(s.id).toString("hex"), s.isOnline]));
  }
}
