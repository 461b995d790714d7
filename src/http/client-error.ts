import type { Socket } from "node:net";
import { EXPLAIN_HEADER, refusals } from "../core/refusal.js";
import type { ListenerContext, PushReply } from "./exchange.js";

/** A request that could not be parsed: the status line's reason and push-stream's explain, by status. */
const ANSWERS: Record<number, [reason: string, explain: string]> = {
  400: ["Bad Request", "Malformed HTTP request."],
  405: ["Method Not Allowed", "Unknown request method."],
  408: ["Request Timeout", "Request headers did not arrive in time."],
  431: ["Request Header Fields Too Large", "Request line and headers are larger than clientMaxHeaderSize."],
};

/**
 * Answers a request that never became one (unparsable head, head too large, too slow) as an HTTP
 * server should — the status, the reason in the explain header — and closes. Counted and
 * logged as `client error STATUS from ADDRESS: CODE`, CODE being llhttp's name of the failure.
 * The one place both HTTP stacks answer such requests.
 */
export function answerClientError(ctx: ListenerContext, socket: Socket, status: number, code: string): void {
  const [reason, explain] = ANSWERS[status] ?? ANSWERS[400]!;
  ctx.metrics.countRejected(status);
  ctx.log.info(`client error ${status} from ${socket.remoteAddress}: ${code}`);
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Length: 0\r\nConnection: close\r\n${EXPLAIN_HEADER}: ${explain}\r\n\r\n`);
}

/**
 * An `Expect` other than 100-continue: 417, as node:http answers it by default, but with the
 * reason in the explain header and counted like every refusal. Both HTTP stacks answer it here.
 */
export function refuseExpectation(ctx: ListenerContext, reply: PushReply): void {
  const { status, explain } = refusals.expectationFailed;
  ctx.metrics.countRejected(status);
  reply.send(status, [EXPLAIN_HEADER, explain]);
}

/**
 * A request that turned out malformed after it was dispatched (its body): its answer is already
 * on the wire or on its way, so a second one would be read as the next request's. The connection
 * only closes — after the answer when it is complete, at once when it is not. Logged, not counted
 * as a refusal (nothing was refused).
 */
export function closeAfterAnswer(ctx: ListenerContext, socket: Socket, code: string, answerComplete: boolean): void {
  ctx.log.info(`client error from ${socket.remoteAddress}: ${code} after the request was answered; connection closed`);
  if (answerComplete) socket.end();
  else socket.destroy();
}
