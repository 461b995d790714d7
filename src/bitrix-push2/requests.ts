import { decodeChannelsPath } from "../core/percent.js";
import type { RequestVars } from "../routing/request-vars.js";
import type { Route } from "../routing/route.js";
import {
  encodeChannelStatsResponse, encodeServerStatsResponse, SENDER_BACKEND, SENDER_CLIENT, type ChannelStats, type Receiver, type Request, type Sender,
} from "./protobuf.js";
import { channelKey, type Push2State } from "./state.js";

/** Who sent a RequestBatch: the site (trusted, /bitrix/pub/) or a browser (/bitrix/rest/, WebSocket). */
export interface Requester {
  trusted: boolean;
  /** The sender written into published messages. */
  sender: Sender;
}

export const BACKEND: Requester = { trusted: true, sender: { type: SENDER_BACKEND, id: new Uint8Array(0) } };

const PAIR = /^([a-f0-9]{32}):([a-f0-9]{32})\.([a-f0-9]{32,128})$/;

/** The requester of a browser request: the first CHANNEL_ID token that is a validly signed pair. */
export function clientRequester(state: Push2State, route: Route, vars: RequestVars): Requester | undefined {
  const raw = route.config.channelsPath?.evaluate(vars);
  const tokens = raw ? decodeChannelsPath(raw).split("/") : [];
  for (const token of tokens) {
    const m = PAIR.exec(token.toLowerCase());
    if (m && state.signer.verify(`${m[1]}:${m[2]}`, m[3]!)) {
      return { trusted: false, sender: { type: SENDER_CLIENT, id: Buffer.from(m[2]!, "hex") } };
    }
  }
  return undefined;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");

/**
 * The store key a receiver names, or undefined when the requester may not use it. The site may
 * name any 16-byte id; a browser only public ids signed over `public:<id>`.
 */
function receiverKey(state: Push2State, requester: Requester, receiver: Receiver): string | undefined {
  if (receiver.id.length !== 16) return undefined;
  const id = hex(receiver.id);
  if (requester.trusted) return channelKey(id, receiver.isPrivate);
  if (receiver.isPrivate || !state.signer.verifyPublic(id, hex(receiver.signature))) return undefined;
  return channelKey(id, false);
}

/**
 * Carries out a decoded RequestBatch: publishes its incoming messages, answers channelStats and
 * serverStats. Returns the encoded Responses (none for a batch of publishes only) and how many
 * receivers were refused.
 */
export function runRequests(state: Push2State, requester: Requester, requests: readonly Request[]): { responses: Buffer[]; refused: number } {
  const responses: Buffer[] = [];
  let refused = 0;
  for (const request of requests) {
    if (request.incomingMessages) {
      for (const message of request.incomingMessages) {
        const keys: string[] = [];
        for (const receiver of message.receivers) {
          const key = receiverKey(state, requester, receiver);
          if (key === undefined) refused++;
          else if (!keys.includes(key)) keys.push(key);
        }
        if (keys.length === 0) continue;
        state.publish(keys, {
          body: message.body,
          expiry: message.expiry,
          type: message.type,
          sender: requester.trusted ? message.sender ?? requester.sender : requester.sender,
        });
        if (requester.trusted) state.publishedFromBackend++;
        else state.publishedFromClients++;
      }
    } else if (request.channelStats) {
      const stats: ChannelStats[] = [];
      for (const channel of request.channelStats) {
        const key = receiverKey(state, requester, channel);
        if (key === undefined) {
          refused++;
          continue;
        }
        stats.push({ id: channel.id, isPrivate: channel.isPrivate, isOnline: state.isOnline(key) });
      }
      responses.push(encodeChannelStatsResponse(stats));
    } else if (request.serverStats) {
      if (requester.trusted) responses.push(encodeServerStatsResponse(state.serverStatJson()));
      else refused++;
    }
  }
  return { responses, refused };
}
