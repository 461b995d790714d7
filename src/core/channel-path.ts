/** One channel named in a request, with its `.bN` backtrack (0 when none). */
export interface ChannelRequest {
  id: string;
  backtrack: number;
}

const BACKTRACK = /^(.*)\.b(\d+)$/s;

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
