import type { Push2Hub } from "./hub.js";
import { channelKey } from "./hub.js";
import {
  encodeChannelStatsResponse, encodeServerStatsResponse, SENDER_BACKEND, type ChannelStats, type Receiver, type Request, type Sender,
} from "./protobuf.js";

/** Who sent a RequestBatch: the site (trusted, /bitrix/pub/) or a browser (/bitrix/rest/, WebSocket). */
export interface Requester {
  trusted: boolean;
  /** The sender written into published messages. */
  sender: Sender;
}

export const BACKEND: Requester = { trusted: true, sender: { type: SENDER_BACKEND, id: new Uint8Array(0) } };

/** What serverStats answers: the same JSON as /server-stat (passed in by the caller, so this module does not import the handler). */
export type ServerStatsSource = (hub: Push2Hub) => string;

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");

/**
 * The store key a receiver names, or undefined when the requester may not use it. The site may
 * name any 16-byte id; a browser only public ids signed over `public:<id>`.
 */
function receiverKey(hub: Push2Hub, requester: Requester, receiver: Receiver): string | undefined {
  if (receiver.id.length !== 16) return undefined;
  const id = hex(receiver.id);
  if (requester.trusted) return channelKey(id, receiver.isPrivate);
  if (receiver.isPrivate || !hub.signer.verifyPublic(id, hex(receiver.signature))) return undefined;
  return channelKey(id, false);
}

/**
 * Carries out a decoded RequestBatch: publishes its incoming messages, answers channelStats and
 * serverStats. Returns the encoded Responses (none for a batch of publishes only) and how many
 * receivers were refused.
 */
export function runRequests(hub: Push2Hub, requester: Requester, requests: readonly Request[], serverStats: ServerStatsSource): { responses: Buffer[]; refused: number } {
  const responses: Buffer[] = [];
  let refused = 0;
  for (const request of requests) {
    if (request.incomingMessages) {
      for (const message of request.incomingMessages) {
        const keys: string[] = [];
        for (const receiver of message.receivers) {
          const key = receiverKey(hub, requester, receiver);
          if (key === undefined) refused++;
          else if (!keys.includes(key)) keys.push(key);
        }
        if (keys.length === 0) continue;
        hub.publish(keys, {
          body: message.body,
          expiry: message.expiry,
          type: message.type,
          sender: requester.trusted ? message.sender ?? requester.sender : requester.sender,
        });
        if (requester.trusted) hub.publishedFromBackend++;
        else hub.publishedFromClients++;
      }
    } else if (request.channelStats) {
      const stats: ChannelStats[] = [];
      for (const channel of request.channelStats) {
        const key = receiverKey(hub, requester, channel);
        if (key === undefined) {
          refused++;
          continue;
        }
        stats.push({ id: channel.id, isPrivate: channel.isPrivate, isOnline: hub.isOnline(key) });
      }
      responses.push(encodeChannelStatsResponse(stats));
    } else if (request.serverStats) {
      if (requester.trusted) responses.push(encodeServerStatsResponse(serverStats(hub)));
      else refused++;
    }
  }
  return { responses, refused };
}
