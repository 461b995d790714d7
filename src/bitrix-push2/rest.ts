import type { Headers } from "../http/exchange.js";
import type { RequestVars } from "../routing/request-vars.js";
import type { Handler, Route } from "../routing/route.js";
import { answerBatch, decodeBatch, errorAnswer, guarded, refusalAnswer, textAnswer } from "./answers.js";
import { push2Errors } from "./errors.js";
import { RateLimiter } from "./rate-limit.js";
import { clientRequester, runRequests } from "./requests.js";
import { push2Of } from "./state.js";

/**
 * The browsers' publisher (`publisher: "normal"`, /bitrix/rest/): protobuf RequestBatches only,
 * publishing to signed public channels and presence, on behalf of the signed `private:public` pair
 * in `CHANNEL_ID`, rate-limited per address. Push server 2.0's errors are 400 `<code>: <text>`.
 */

const limiters = new WeakMap<Route, RateLimiter>();

/** CORS for the browsers' publishing location. */
function restHeaders(route: Route, vars: RequestVars): Headers {
  const origin = route.origin(vars);
  return origin ? ["Access-Control-Allow-Origin", origin, "Access-Control-Allow-Methods", "POST, OPTIONS"] : [];
}

export const push2RestHandler: Handler = (route, request, reply, vars) => {
  const headers = restHeaders(route, vars);
  if (request.method === "OPTIONS") return reply.send(200, headers);
  if (request.method !== "POST") return textAnswer(reply, 405, "Method not allowed.", [...headers, "Allow", "POST"]);
  let limiter = limiters.get(route);
  if (!limiter) limiters.set(route, (limiter = new RateLimiter(route.config.clientRequestsPerSecond)));
  if (!limiter.allow(request.remoteAddress ?? "", route.ctx.clock.now())) {
    route.ctx.metrics.countRejected(429);
    return textAnswer(reply, 429, "Too many requests.", headers);
  }
  const state = push2Of(route.ctx);
  const requester = clientRequester(state, route, vars);
  if (!requester) return route.readBody(request, reply, headers, () => errorAnswer(reply, push2Errors.publicChannelRequired, headers));
  route.readBody(request, reply, headers, guarded(route, reply, (body) => {
    const requests = decodeBatch(body);
    if (!requests) return errorAnswer(reply, push2Errors.wrongRequestData, headers);
    const unavailable = route.ctx.broker.unavailable;
    if (unavailable) return refusalAnswer(reply, unavailable, headers);
    const { responses, refusal } = runRequests(state, requester, requests);
    if (refusal) return errorAnswer(reply, refusal, headers);
    answerBatch(reply, responses, headers);
  }));
};
