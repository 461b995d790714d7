import { parseMid } from "../core/mid.js";
import { decodeChannelsPath } from "../core/percent.js";
import { Refusal } from "../core/refusal.js";
import type { RequestVars } from "../routing/request-vars.js";
import type { Route } from "../routing/route.js";
import type { Channel } from "../store/channel.js";
import { push2Errors, type Push2Error } from "./errors.js";
import { channelKey, push2Of, type Push2State } from "./state.js";

/** Push server 2.0's error for a bad channel list: close code 4010 on a WebSocket, HTTP 400 otherwise. */
const wrongChannelId = push2Errors.wrongChannelId;
export const WRONG_CHANNEL_CODE = wrongChannelId.code;
export const WRONG_CHANNEL_TEXT = wrongChannelId.text;

/** Messages published within this window after a first one leave in the same answer or frame (Push server 2.0). */
export const BATCH_WINDOW_MS = 400;

/** What a push2 subscriber asked for. */
export interface Push2Subscription {
  state: Push2State;
  channels: Channel[];
  /** `binaryMode=true`: protobuf frames; otherwise the text envelope. */
  binary: boolean;
  /** `mid=`: replay stored messages newer than it. */
  mid: Buffer | undefined;
  /** The private channels named with their public pair: a user's own, where connections are limited (maxConnPerChannel). */
  limited: Channel[];
}

/**
 * Reads `CHANNEL_ID` (signed ids and `private:public` pairs, checked with the security key),
 * `binaryMode` and `mid`, and finds or creates the channels. Any bad token refuses the whole list,
 * as Push server 2.0 does; the store's caps refuse with their own explain.
 */
export function openPush2Subscription(route: Route, vars: RequestVars): Push2Subscription | Push2Error | Refusal {
  const state = push2Of(route.ctx);
  const raw = route.config.channelsPath?.evaluate(vars);
  const tokens = raw ? decodeChannelsPath(raw).split("/").filter((t) => t !== "") : [];
  if (tokens.length === 0) return wrongChannelId;
  const max = route.config.maxChannelsPerRequest;
  if (max > 0 && tokens.length > max) return wrongChannelId;
  const keys: string[] = [];
  const pairedKeys: string[] = [];
  const signer = state.signer;
  for (const token of tokens) {
    const parsed = signer.parseSubscriberToken(token);
    if (!parsed) return wrongChannelId;
    const key = channelKey(parsed.privateId, true);
    keys.push(key);
    if (parsed.publicId) {
      keys.push(channelKey(parsed.publicId, false));
      pairedKeys.push(key);
    }
  }
  const { store } = route.ctx;
  const channels: Channel[] = [];
  const limited: Channel[] = [];
  for (const key of new Set(keys)) {
    const channel = store.obtain(key);
    if (channel instanceof Refusal) return channel;
    channels.push(channel);
    if (pairedKeys.includes(key)) limited.push(channel);
  }
  return { state, channels, binary: vars.arg("binaryMode") === "true", mid: parseMid(vars.arg("mid")), limited };
}
