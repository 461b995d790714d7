/**
 * HTTP dates as push-stream reads and writes them (RFC 9110 §5.6.7): IMF-fixdate
 * ("Thu, 01 Jan 1970 00:00:00 GMT", two-digit day), RFC 850 ("Thursday, 01-Jan-70 00:00:00 GMT")
 * and asctime ("Thu Jan  1 00:00:00 1970"). Text after the seconds is ignored, like nginx.
 */

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/** Seconds since the epoch, or undefined when the text is not an HTTP date. */
export function parseHttpDate(input: string): number | undefined {
  // A query string may carry the date form-encoded ("Thu,+01+Jan…"); '+' never occurs in a date.
  const s = input.includes("+") ? input.replace(/\+/g, " ") : input;
  let m = /^[A-Za-z]{3}, (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2})/.exec(s);
  if (m) return build(m[3]!, m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  m = /^[A-Za-z]{6,9}, (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2})/.exec(s);
  if (m) {
    const yy = Number(m[3]);
    return build(String(yy < 70 ? 2000 + yy : 1900 + yy), m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  }
  m = /^[A-Za-z]{3} ([A-Za-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})/.exec(s);
  if (m) return build(m[6]!, m[1]!, m[2]!.trim(), m[3]!, m[4]!, m[5]!);
  return undefined;
}

function build(year: string, month: string, day: string, h: string, mi: string, sec: string): number | undefined {
  const mon = MONTHS.indexOf(month.toLowerCase());
  const d = Number(day);
  const hh = Number(h);
  const mm = Number(mi);
  const ss = Number(sec);
  if (mon < 0 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60) return undefined;
  const ms = Date.UTC(Number(year), mon, d, hh, mm, ss);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
}

let cachedSecond = NaN;
let cachedText = "";

/** IMF-fixdate for a time in seconds, always 29 characters. Cached for the current second. */
export function formatHttpDate(seconds: number): string {
  if (seconds !== cachedSecond) {
    cachedSecond = seconds;
    cachedText = new Date(seconds * 1000).toUTCString();
  }
  return cachedText;
}
