import { formatHttpDate } from "../core/http-date.js";
import { midCounter, midText } from "../core/mid.js";
import type { Message, Push2Fields } from "../core/message.js";
import { encodeOutgoingBatch, encodeOutgoingMessage } from "./protobuf.js";

/**
 * What a push2 subscriber receives. Binary mode: one protobuf ResponseBatch whose outgoingMessages
 * embed each message's OutgoingMessage, encoded once per message. Text mode: Push server 2.0's
 * envelope (BITRIX.md §3.3): `id` = the counter part of `mid`, `channel` "-", the body raw as `text`.
 * Only messages published through Push server 2.0 (with a mid) are sent.
 */

/** Cache keys of a message's renderings (Message.rendered keys renders by object). */
const OUTGOING_MESSAGE = {};
const TEXT_ENVELOPE = {};

function renderOutgoing(message: Message): Buffer {
  const push2 = message.push2 as Push2Fields;
  return encodeOutgoingMessage({ id: push2.mid, body: message.text.toString("utf8"), expiry: push2.expiry, created: push2.created, sender: push2.sender });
}

export function binaryBatch(messages: readonly Message[]): Buffer {
  return encodeOutgoingBatch(messages.map((m) => m.rendered(OUTGOING_MESSAGE, renderOutgoing)));
}

function renderEnvelope(message: Message): Buffer {
  const mid = (message.push2 as Push2Fields).mid;
  let text = message.text.toString("utf8");
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
