import { decodeChannelsPath } from "../core/percent.js";
import type { RequestVars } from "../routing/request-vars.js";
import type { Route } from "../routing/route.js";
import { push2Errors, type Push2Error } from "./errors.js";
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
 * Why a browser may not name this receiver: a private channel (4020), or a public id without a
 * valid signature over `public:<id>` (4021), as Push server 2.0 checks them; undefined when it may.
 */
function refuseClientReceiver(state: Push2State, receiver: Receiver): Push2Error | undefined {
  if (receiver.isPrivate) return push2Errors.privateChannelNotAllowed;
  if (receiver.id.length !== 16 || !state.signer.verifyPublic(hex(receiver.id), hex(receiver.signature))) return push2Errors.invalidSignature;
  return undefined;
}

/**
 * Push server 2.0 checks a browser's whole batch before carrying out any of it: a command a
 * browser may not send (serverStats: 4014) or one bad receiver refuses everything. The first
 * problem, in order, is the answer.
 */
function refuseClientRequests(state: Push2State, requests: readonly Request[]): Push2Error | undefined {
  for (const request of requests) {
    if (request.serverStats) return push2Errors.commandNotAllowed;
    for (const message of request.incomingMessages ?? []) {
      for (const receiver of message.receivers) {
        const refusal = refuseClientReceiver(state, receiver);
        if (refusal) return refusal;
      }
    }
    for (const channel of request.channelStats ?? []) {
      const refusal = refuseClientReceiver(state, channel);
      if (refusal) return refusal;
    }
  }
  return undefined;
}

/**
 * The store key a receiver names, or undefined when it names none: the site may name any 16-byte
 * id; a browser's receivers were checked by refuseClientRequests (public ids only).
 */
function receiverKey(requester: Requester, receiver: Receiver): string | undefined {
  if (receiver.id.length !== 16) return undefined;
  return channelKey(hex(receiver.id), requester.trusted ? receiver.isPrivate : false);
}

/**
 * Carries out a decoded RequestBatch: publishes its incoming messages, answers channelStats and
 * serverStats. Returns the encoded Responses (none for a batch of publishes only), or, for a
 * browser's batch with a request it may not make, the refusal (and nothing was carried out).
 */
export function runRequests(state: Push2State, requester: Requester, requests: readonly Request[]): { responses: Buffer[]; refusal: Push2Error | undefined } {
  const responses: Buffer[] = [];
  const refusal = requester.trusted ? undefined : refuseClientRequests(state, requests);
  if (refusal) return { responses, refusal };
  for (const request of requests) {
    if (request.incomingMessages) {
      for (const message of request.incomingMessages) {
        const keys: string[] = [];
        for (const receiver of message.receivers) {
          const key = receiverKey(requester, receiver);
          if (key !== undefined && !keys.includes(key)) keys.push(key);
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
        const key = receiverKey(requester, channel);
        if (key === undefined) continue;
        stats.push({ id: channel.id, isPrivate: channel.isPrivate, isOnline: state.isOnline(key) });
      }
      responses.push(encodeChannelStatsResponse(stats));
    } else if (request.serverStats) {
      responses.push(encodeServerStatsResponse(state.serverStatJson())); // the site's only: a browser's was refused above
    }
  }
  return { responses, refusal: undefined };
}
