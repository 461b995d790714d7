import type { ComplexValue } from "../config/complex-value.js";
import { collectCatchUp, parseTag, type Cursor } from "../core/cursor.js";
import { parseHttpDate } from "../core/http-date.js";
import type { Message } from "../core/message.js";
import { percentDecode } from "../core/percent.js";
import { Refusal, refusals } from "../core/refusal.js";
import type { PushReply } from "../http/exchange.js";
import { addCors, addNoCache } from "../routing/answers.js";
import type { RequestVars } from "../routing/request-vars.js";
import type { Route } from "../routing/route.js";
import type { Channel } from "../store/channel.js";

/** The channels a subscriber asked for, validated and created, with their backtracks. */
export interface Subscription {
  channels: Channel[];
  backtracks: number[];
}

/**
 * Reads and checks the channels of a subscribe request in push-stream's order (PROTOCOL.md §2.2),
 * then creates the missing ones. Every subscriber mode starts here.
 */
export function openSubscription(route: Route, vars: RequestVars): Subscription | Refusal {
  const { store, history, hub } = route.ctx;
  const config = route.config;
  const requested = route.requestedChannels(vars);
  if (requested instanceof Refusal) return requested;

  const ids: string[] = [];
  const backtracks: number[] = [];
  let wildcards = 0;
  for (const { id, backtrack } of requested) {
    if (ids.includes(id)) continue; // a channel named twice is subscribed once
    const refusal = store.checkId(id);
    if (refusal) return refusal;
    const wildcard = store.isWildcard(id);
    const existing = store.find(id);
    if (existing?.forEvents && !config.allowConnectionsToEventsChannel) return refusals.eventsChannelSubscription;
    if (config.authorizedChannelsOnly && !wildcard && (!existing || history.read(existing).length === 0)) {
      return refusals.cannotCreateChannels;
    }
    if (existing && hub.isFull(existing)) return refusals.subscribersLimit;
    if (wildcard) wildcards++;
    ids.push(id);
    backtracks.push(backtrack);
  }
  const maxWildcards = config.wildcardChannelMaxQtd || store.limits.maxNumberOfWildcardChannels;
  if (maxWildcards > 0 && wildcards > 0 && (wildcards > maxWildcards || wildcards === ids.length)) {
    return refusals.tooMuchWildcard;
  }

  const channels: Channel[] = [];
  for (const id of ids) {
    const channel = store.obtain(id);
    if (channel instanceof Refusal) return channel;
    channels.push(channel);
  }
  return { channels, backtracks };
}

/**
 * The subscriber's cursor. A configured value (`$arg_time`…) wins; when it is missing or empty the
 * request header is used, which is what BitrixVM's `if ($arg_time)` achieves.
 */
export function readCursor(route: Route, vars: RequestVars): Cursor {
  const config = route.config;
  const time = configured(config.lastReceivedMessageTime, vars) ?? vars.header("if-modified-since");
  const tag = configured(config.lastReceivedMessageTag, vars) ?? vars.header("if-none-match");
  const eventId = configured(config.lastEventId, vars) ?? vars.header("last-event-id");
  return {
    time: time === undefined ? undefined : parseHttpDate(time),
    tag: parseTag(tag),
    lastEventId: eventId,
  };
}

function configured(value: ComplexValue | undefined, vars: RequestVars): string | undefined {
  const raw = value?.evaluate(vars);
  return raw ? percentDecode(raw) : undefined;
}

/** Stored messages the subscriber has not seen, from all its channels, in publish order (read through History). */
export function catchUp(route: Route, subscription: Subscription, cursor: Cursor): Message[] {
  const { history, clock } = route.ctx;
  return collectCatchUp(subscription.channels.map((channel) => history.read(channel)), subscription.backtracks, cursor, clock.now());
}

/** JSONP callback name from `?callback=`, when given. */
export function jsonpCallback(vars: RequestVars): string | undefined {
  const raw = vars.arg("callback");
  return raw ? percentDecode(raw) : undefined;
}

/**
 * OPTIONS gets 200 (CORS preflight), methods other than GET get 405; returns true when the
 * request is a GET to go on with. Shared by the subscriber modes.
 */
export function answerPreflightOrMethod(route: Route, method: string, reply: PushReply, origin: string | undefined): boolean {
  if (method === "GET") return true;
  if (method === "OPTIONS") {
    reply.send(200, addCors([], origin, "GET"));
  } else {
    route.refuse(reply, refusals.methodNotAllowed, addCors(addNoCache(["Allow", "GET"]), origin, "GET"));
  }
  return false;
}
