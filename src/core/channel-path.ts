import { percentDecodeUtf8 } from "./percent.js";
import { Refusal, refusals } from "./refusal.js";

/** One channel named in a request, with its `.bN` backtrack (0 when none). */
export interface ChannelRequest {
  id: string;
  backtrack: number;
}

const BACKTRACK = /^(.*)\.b(\d+)$/s;
/** C0 controls and DEL: no id carries them (a NUL, CR or LF would end up raw in statistics, logs and templates). */
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * A channels path value as the request gave it → its channel requests, or why it is refused.
 * Percent-decoded as push-stream does, with three refusals of pushwire's own, so that no two
 * different ids ever name one channel and no id carries bytes that break an answer:
 * - bytes that are not UTF-8 (`u%FFx` and `u%FEx` would both read as `u\uFFFDx`);
 * - text after a `?` (push-stream cuts the path after it: `a?b`, `a?bc`, `a?/c` all become `a?`);
 * - control characters (`%00`, `%0D%0A`).
 * A `?` that ends the path is kept (`a?` is channel `a?`, as in push-stream).
 */
export function readChannelsPath(raw: string): ChannelRequest[] | Refusal {
  const decoded = percentDecodeUtf8(raw);
  if (decoded === undefined) return refusals.channelIdNotUtf8;
  const question = decoded.indexOf("?");
  if (question >= 0 && question < decoded.length - 1) return refusals.channelIdTextAfterQuestionMark;
  if (CONTROL.test(decoded)) return refusals.channelIdControlCharacter;
  return parseChannelsPath(decoded);
}

/**
 * Splits a decoded channels path ("a/b.b5/c") into channel ids and backtracks.
 * `room.b18.beautiful.b3` is channel `room.b18.beautiful` with backtrack 3; `x.b` is channel `x.b`.
 * Empty segments (a leading, doubled or trailing "/") name nothing.
 */
export function parseChannelsPath(path: string): ChannelRequest[] {
  const result: ChannelRequest[] = [];
  for (const segment of path.split("/")) {
    if (segment === "") continue;
    const m = BACKTRACK.exec(segment);
    if (m && m[1] !== "") result.push({ id: m[1]!, backtrack: Math.min(Number(m[2]), Number.MAX_SAFE_INTEGER) });
    else result.push({ id: segment, backtrack: 0 });
  }
  return result;
}
