/**
 * Percent-decoding as nginx's unescape does it for push-stream values: `%XX` becomes the byte,
 * anything malformed stays as it is, `+` stays `+`. The bytes are read as UTF-8.
 */
export function percentDecode(value: string): string {
  if (!value.includes("%")) return value;
  return decodedBytes(value).toString("utf8");
}

/**
 * Like {@link percentDecode}, but undefined when the decoded bytes are not UTF-8: read leniently,
 * `%FF` and `%FE` would both become U+FFFD and two different values would read as one.
 */
export function percentDecodeUtf8(value: string): string | undefined {
  if (!value.includes("%")) return value;
  const bytes = decodedBytes(value);
  const text = bytes.toString("utf8");
  // Only a replacement character can hide a bad sequence; a valid U+FFFD round-trips to the same bytes.
  return text.includes("\uFFFD") && !Buffer.from(text, "utf8").equals(bytes) ? undefined : text;
}

function decodedBytes(value: string): Buffer {
  const bytes = Buffer.from(value, "utf8");
  const out = Buffer.allocUnsafe(bytes.length);
  let o = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === 0x25 && i + 2 < bytes.length && isHex(bytes[i + 1]!) && isHex(bytes[i + 2]!)) {
      out[o++] = (hexValue(bytes[i + 1]!) << 4) | hexValue(bytes[i + 2]!);
      i += 2;
    } else {
      out[o++] = c;
    }
  }
  return out.subarray(0, o);
}

/**
 * The channels path: decoded, and cut after a decoded `?` as push-stream does (`Xq%3Fz` → `Xq?`).
 * push2's token lists read it so (their tokens are hex, so nothing else gets through); the
 * push-stream roles read the stricter readChannelsPath (core/channel-path).
 */
export function decodeChannelsPath(value: string): string {
  const decoded = percentDecode(value);
  const question = decoded.indexOf("?");
  return question >= 0 ? decoded.slice(0, question + 1) : decoded;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function hexValue(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
}
