import { formatHttpDate } from "../core/http-date.js";
import type { Message } from "../core/message.js";
import { messageMid } from "./hub.js";
import { midCounter, midText } from "./mid.js";
import { decodeOutgoingMessage, encodeOutgoingBatch } from "./protobuf.js";

/**
 * What a push2 subscriber receives. Binary mode: one protobuf ResponseBatch whose outgoingMessages
 * embed each message's stored OutgoingMessage bytes unchanged. Text mode: Push server 2.0's
 * envelope (BITRIX.md §3.3): `id` = the counter part of `mid`, `channel` "-", the body raw as `text`.
 */

export function binaryBatch(messages: readonly Message[]): Buffer {
  return encodeOutgoingBatch(messages.map((m) => m.text));
}

/** Cache key of a message's text envelope (Message.rendered keys renders by object). */
const TEXT_ENVELOPE = {};

function renderEnvelope(message: Message): Buffer {
  const mid = messageMid(message);
  const outgoing = decodeOutgoingMessage(message.text);
  let text = outgoing.body;
  try {
    JSON.parse(text);
  } catch {
    text = JSON.stringify(text); // a body that is not JSON travels as a JSON string, so the envelope stays valid
  }
  const counter = midCounter(mid);
  const head = `#!NGINXNMS!#{"id":${counter},"mid":"${midText(mid)}","channel":"-","tag":"${String(counter % 1000).padStart(3, "0")}","time":"${formatHttpDate(message.time)}","text":`;
  return Buffer.from(`${head}${text}}#!NGINXNME!#`);
}

export function textEnvelope(message: Message): Buffer {
  return message.rendered(TEXT_ENVELOPE, renderEnvelope);
}

export function textBatch(messages: readonly Message[]): Buffer {
  return Buffer.concat(messages.map(textEnvelope));
}
