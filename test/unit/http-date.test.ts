import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { formatHttpDate, parseHttpDate } from "../../src/core/http-date.js";

const MAY_9 = 1715289393; // Thu, 09 May 2024 21:16:33 GMT

describe("parseHttpDate", () => {
  test("IMF-fixdate", () => {
    assert.equal(parseHttpDate("Thu, 09 May 2024 21:16:33 GMT"), MAY_9);
  });

  test("the epoch is a valid date (0), not absent", () => {
    assert.equal(parseHttpDate("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  });

  test("RFC 850 with a two-digit year: 70..99 are 19xx, 00..69 are 20xx", () => {
    assert.equal(parseHttpDate("Thursday, 01-Jan-70 00:00:00 GMT"), 0);
    assert.equal(parseHttpDate("Thursday, 09-May-24 21:16:33 GMT"), MAY_9);
    assert.equal(parseHttpDate("Friday, 31-Dec-99 23:59:59 GMT"), 946684799);
  });

  test("asctime, with a space-padded or two-digit day", () => {
    assert.equal(parseHttpDate("Thu Jan  1 00:00:00 1970"), 0);
    assert.equal(parseHttpDate("Thu May  9 21:16:33 2024"), MAY_9);
    assert.equal(parseHttpDate("Thu May 09 21:16:33 2024"), MAY_9);
  });

  test("text after the seconds is ignored", () => {
    assert.equal(parseHttpDate("Thu, 09 May 2024 21:16:33 GMT; length=1234"), MAY_9);
    assert.equal(parseHttpDate("Thu, 09 May 2024 21:16:33"), MAY_9);
    assert.equal(parseHttpDate("Thu, 01 Jan 1970 00:00:10 GMTwhatever"), 10);
  });

  test("month names are case-insensitive", () => {
    assert.equal(parseHttpDate("Thu, 09 MAY 2024 21:16:33 GMT"), MAY_9);
    assert.equal(parseHttpDate("Thu, 09 may 2024 21:16:33 GMT"), MAY_9);
  });

  test("a one-digit day in IMF-fixdate is rejected, as in push-stream", () => {
    assert.equal(parseHttpDate("Thu, 1 Jan 1970 00:00:00 GMT"), undefined);
    assert.equal(parseHttpDate("Thu, 9 May 2024 21:16:33 GMT"), undefined);
  });

  test("'+' is read as a space (a form-encoded date from a query string)", () => {
    assert.equal(parseHttpDate("Thu,+09+May+2024+21:16:33+GMT"), MAY_9);
    assert.equal(parseHttpDate("Thu+Jan++1+00:00:00+1970"), 0);
  });

  test("garbage and empty text are absent (undefined)", () => {
    for (const bad of ["", " ", "garbage", "0", "1715289393", "2024-05-09T21:16:33Z", "W/5", "Thu, 09 May 2024"]) {
      assert.equal(parseHttpDate(bad), undefined, JSON.stringify(bad));
    }
  });

  test("out-of-range fields are rejected", () => {
    assert.equal(parseHttpDate("Thu, 09 Foo 2024 21:16:33 GMT"), undefined);
    assert.equal(parseHttpDate("Thu, 00 May 2024 21:16:33 GMT"), undefined);
    assert.equal(parseHttpDate("Thu, 32 May 2024 21:16:33 GMT"), undefined);
    assert.equal(parseHttpDate("Thu, 09 May 2024 24:00:00 GMT"), undefined);
    assert.equal(parseHttpDate("Thu, 09 May 2024 21:60:00 GMT"), undefined);
    assert.equal(parseHttpDate("Thu, 09 May 2024 21:16:61 GMT"), undefined);
  });

  test("leading whitespace is not accepted", () => {
    assert.equal(parseHttpDate(" Thu, 09 May 2024 21:16:33 GMT"), undefined);
  });
});

describe("formatHttpDate", () => {
  test("formats IMF-fixdate with a two-digit day", () => {
    assert.equal(formatHttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert.equal(formatHttpDate(MAY_9), "Thu, 09 May 2024 21:16:33 GMT");
  });

  test("is always 29 characters", () => {
    const samples = [0, 1, 59, 86399, 86400, 951782400, 1_000_000_000, MAY_9, 1_700_000_000, 2_147_483_647, 4_102_444_799];
    for (const seconds of samples) {
      const text = formatHttpDate(seconds);
      assert.equal(text.length, 29, `${seconds} → ${text}`);
      assert.match(text, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    }
  });

  test("alternating between seconds does not return a stale cached value", () => {
    assert.equal(formatHttpDate(10), "Thu, 01 Jan 1970 00:00:10 GMT");
    assert.equal(formatHttpDate(20), "Thu, 01 Jan 1970 00:00:20 GMT");
    assert.equal(formatHttpDate(10), "Thu, 01 Jan 1970 00:00:10 GMT");
  });

  test("round-trips through parseHttpDate", () => {
    for (const seconds of [0, 1, MAY_9, 1_700_000_000, 4_102_444_799]) {
      assert.equal(parseHttpDate(formatHttpDate(seconds)), seconds);
    }
  });
});
