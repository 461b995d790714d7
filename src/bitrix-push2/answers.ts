import type { Refusal } from "../core/refusal.js";
import type { Headers, PushReply } from "../http/exchange.js";
import { EXPLAIN_HEADER } from "../routing/answers.js";
import type { Route } from "../routing/route.js";
import type { Push2Error } from "./errors.js";
import { decodeRequestBatch, encodeResponseBatch, ProtobufError, type Request } from "./protobuf.js";

/** The answers of Push server 2.0's publishing paths (/bitrix/pub/, /bitrix/rest/). */

/** A plain-text answer whose text is also the explain header. */
export function textAnswer(reply: PushReply, status: number, text: string, headers: Headers = []): void {
  headers.push(EXPLAIN_HEADER, text, "Content-Type", "text/plain; charset=utf-8");
  reply.send(status, headers, [Buffer.from(text)]);
}

/** A Push server 2.0 error over HTTP: its status, `<code>: <text>` as the body. */
export function errorAnswer(reply: PushReply, error: Push2Error, headers: Headers): void {
  textAnswer(reply, error.status, error.reason, headers);
}

/** pushwire's own refusal (the message log cannot write) in the same shape: its status, its explain as the body. */
export function refusalAnswer(reply: PushReply, refusal: Refusal, headers: Headers = []): void {
  textAnswer(reply, refusal.status, refusal.explain, headers);
}

/** A protobuf ResponseBatch of these Responses, or an empty 200 when there are none. */
export function answerBatch(reply: PushReply, responses: Buffer[], headers: Headers): void {
  if (responses.length === 0) return reply.send(200, headers);
  headers.push("Content-Type", "application/octet-stream");
  reply.send(200, headers, [encodeResponseBatch(responses)]);
}

/** A RequestBatch, or undefined when the bytes are not one. */
export function decodeBatch(body: Buffer): Request[] | undefined {
  try {
    return decodeRequestBatch(body);
  } catch (error) {
    if (error instanceof ProtobufError) return undefined;
    throw error;
  }
}

/**
 * Runs a body callback (it runs when the body has arrived, outside the router's try/catch):
 * a failure is logged and answered 500, never an uncaught exception.
 */
export function guarded(route: Route, reply: PushReply, work: (body: Buffer) => void): (body: Buffer) => void {
  return (body) => {
    try {
      work(body);
    } catch (error) {
      route.ctx.log.error(`bitrix-push2 ${route.config.path}: ${(error as Error).stack ?? error}`);
      if (!reply.headersSent) textAnswer(reply, 500, "Internal server error; see the server log.", ["Connection", "close"]);
    }
  };
}
