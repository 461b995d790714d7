import type { Refusal } from "../core/refusal.js";
import { decodeChannelsPath } from "../core/percent.js";
import type { PushReply } from "../http/exchange.js";
import type { RequestVars } from "../routing/request-vars.js";
import type { Handler, Route } from "../routing/route.js";
import { answerBatch, decodeBatch, guarded, refusalAnswer, textAnswer } from "./answers.js";
import { SENDER_BACKEND } from "./protobuf.js";
import { BACKEND, runRequests } from "./requests.js";
import { channelKey, push2Of, type Push2State } from "./state.js";
import { WRONG_CHANNEL_CODE, WRONG_CHANNEL_TEXT } from "./subscription.js";

/**
 * The site's trusted publisher (`publisher: "admin"`, /bitrix/pub/): protobuf RequestBatches
 * (`binaryMode=true`), text publishes to `CHANNEL_ID` with `Message-Expiry`, and the GET online
 * check. Channel ids are raw; signatures, if any, are not checked.
 */

const HEX_ID = /^([a-f0-9]{32})(?::[a-f0-9]{32})?(?:\.[a-f0-9]{32,128})?$/;

/** The private ids of a trusted `CHANNEL_ID` (signatures, if any, are not checked: the site is trusted). */
function trustedIds(vars: RequestVars, route: Route): string[] | undefined {
  const raw = route.config.channelsPath?.evaluate(vars);
  const tokens = raw ? decodeChannelsPath(raw).split("/").filter((t) => t !== "") : [];
  const ids: string[] = [];
  for (const token of tokens) {
    const m = HEX_ID.exec(token.toLowerCase());
    if (!m) return undefined;
    if (!ids.includes(m[1]!)) ids.push(m[1]!);
  }
  return ids.length > 0 ? ids : undefined;
}

export const push2PublisherHandler: Handler = (route, request, reply, vars) => {
  const state = push2Of(route.ctx);
  const binary = vars.arg("binaryMode") === "true";
  if (request.method === "POST" && binary) {
    return route.readBody(request, reply, [], guarded(route, reply, (body) => {
      const requests = decodeBatch(body);
      if (!requests) return textAnswer(reply, 400, "Malformed protobuf RequestBatch.");
      const unavailable = route.ctx.broker.unavailable;
      if (unavailable) return refusalAnswer(reply, unavailable);
      const { responses } = runRequests(state, BACKEND, requests);
      // Answered once what it published is kept (the message log), like a push-stream publish.
      route.ctx.broker.whenDurable(answerDurably, { reply, responses });
    }));
  }
  if (request.method !== "POST" && request.method !== "PUT" && request.method !== "GET") return textAnswer(reply, 405, "Method not allowed.", ["Allow", "GET, POST"]);
  const ids = trustedIds(vars, route);
  if (!ids) return route.readBody(request, reply, [], () => textAnswer(reply, 400, `${WRONG_CHANNEL_CODE}: ${WRONG_CHANNEL_TEXT}`));
  const expiry = parseExpiry(request.header("message-expiry"));
  route.readBody(request, reply, [], guarded(route, reply, (body) => {
    if (request.method === "GET") return onlineCheck(state, reply, ids);
    if (body.length === 0) return textAnswer(reply, 400, "Empty post requests are not allowed.");
    const unavailable = route.ctx.broker.unavailable;
    if (unavailable) return refusalAnswer(reply, unavailable);
    state.publish(ids.map((id) => channelKey(id, true)), {
      body: body.toString("utf8"),
      expiry,
      type: "",
      sender: { type: SENDER_BACKEND, id: new Uint8Array(0) },
    });
    state.publishedFromBackend++;
    // Push server 2.0 answers at once (PHP never reads the reply); pushwire once the message is kept.
    route.ctx.broker.whenDurable(answerDurably, { reply, responses: NO_RESPONSES });
  }));
};

const NO_RESPONSES: Buffer[] = [];

function answerDurably(published: { reply: PushReply; responses: Buffer[] }, failure: Refusal | undefined): void {
  if (failure) return refusalAnswer(published.reply, failure);
  answerBatch(published.reply, published.responses, []);
}

/** `Message-Expiry: <seconds>`; anything else is 0 (not stored). */
function parseExpiry(text: string | undefined): number {
  return text !== undefined && /^\s*\d{1,9}\s*$/.test(text) ? Number(text) : 0;
}

/** `{"infos":[{"channel":…,"subscribers":N}]}` listing the online channels only, as Push server 2.0 does. */
function onlineCheck(state: Push2State, reply: PushReply, ids: string[]): void {
  const infos: string[] = [];
  for (const id of ids) {
    if (!state.isOnline(id)) continue;
    const subscribers = Math.max(1, state.ctx.store.find(id)?.subscriberCount ?? 0);
    infos.push(`{"channel":"${id}","subscribers":${subscribers}}`);
  }
  reply.send(200, ["Content-Type", "application/json"], [Buffer.from(`{"infos":[${infos.join(",")}]}`)]);
}
