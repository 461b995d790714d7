import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decodeChannelsPath, percentDecode, percentDecodeUtf8 } from "../../src/core/percent.js";

describe("percentDecode", () => {
  test("text without % is returned as is", () => {
    assert.equal(percentDecode("plain+text é"), "plain+text é");
    assert.equal(percentDecode(""), "");
  });

  test("%XX becomes the byte, upper or lower case hex", () => {
    assert.equal(percentDecode("a%20b"), "a b");
    assert.equal(percentDecode("%41%42%43"), "ABC");
    assert.equal(percentDecode("a%2fb%2Fc"), "a/b/c");
  });

  test("+ stays +", () => {
    assert.equal(percentDecode("a+b%20c"), "a+b c");
  });

  test("decoded bytes are read as UTF-8", () => {
    assert.equal(percentDecode("%C3%A9t%C3%A9"), "été");
    assert.equal(percentDecode("%E2%82%AC"), "€");
  });

  test("raw non-ASCII text next to escapes survives", () => {
    assert.equal(percentDecode("é%20ü"), "é ü");
  });

  test("malformed escapes stay as they are", () => {
    assert.equal(percentDecode("100%"), "100%");
    assert.equal(percentDecode("%"), "%");
    assert.equal(percentDecode("%4"), "%4");
    assert.equal(percentDecode("a%4"), "a%4");
    assert.equal(percentDecode("%zz%4g"), "%zz%4g");
    assert.equal(percentDecode("%%41"), "%A");
  });

  test("an escape at the very end is decoded", () => {
    assert.equal(percentDecode("ab%21"), "ab!");
  });

  test("decoding is done once: %2541 becomes %41, not A", () => {
    assert.equal(percentDecode("%2541"), "%41");
  });

  test("bytes that are not UTF-8 become replacement characters", () => {
    assert.equal(percentDecode("a%FFb"), "a\uFFFDb");
  });

  test("the HTTP date form Bitrix sends in ?time=", () => {
    assert.equal(percentDecode("Thu,%2009%20May%202024%2021:16:33%20GMT"), "Thu, 09 May 2024 21:16:33 GMT");
  });
});

describe("decodeChannelsPath", () => {
  test("decodes the whole path, so %2F becomes a separator", () => {
    assert.equal(decodeChannelsPath("a%2Fb"), "a/b");
  });

  test("a decoded ? cuts the id after it (Xq%3Fz → Xq?)", () => {
    assert.equal(decodeChannelsPath("Xq%3Fz"), "Xq?");
    assert.equal(decodeChannelsPath("a/b%3Fc/d"), "a/b?");
    assert.equal(decodeChannelsPath("%3F"), "?");
  });

  test("a path without ? is only decoded", () => {
    assert.equal(decodeChannelsPath("room.b3/ch%20x"), "room.b3/ch x");
    assert.equal(decodeChannelsPath("abc"), "abc");
  });
});

describe("percent-decoding: which bytes are hex digits", () => {
  test("only 0-9, A-F and a-f after % decode; every other printable byte leaves the escape as it is", () => {
    for (let c = 0x20; c < 0x7f; c++) {
      const digit = String.fromCharCode(c);
      const hex = /[0-9A-Fa-f]/.test(digit);
      for (const escape of [`%${digit}1`, `%1${digit}`]) {
        // A byte of 0x80 or more alone is not UTF-8: it reads as U+FFFD, as the decoder reads it.
        const expected = hex ? Buffer.from([Number.parseInt(escape.slice(1), 16)]).toString("utf8") : escape;
        assert.equal(percentDecode(escape), expected, escape);
      }
    }
  });

  test("a decoded ? cuts the channels path right after it, even as the first character", () => {
    assert.equal(decodeChannelsPath("%3Fabc"), "?");
    assert.equal(decodeChannelsPath("a%3F"), "a?");
    assert.equal(decodeChannelsPath("abc"), "abc");
  });
});

describe("percentDecodeUtf8", () => {
  test("decodes like percentDecode when the bytes are UTF-8", () => {
    assert.equal(percentDecodeUtf8("a%20%D0%BA%E2%82%AC"), "a к€");
    assert.equal(percentDecodeUtf8("plain"), "plain");
    assert.equal(percentDecodeUtf8("%EF%BF%BD"), "\uFFFD");
  });

  test("undefined when they are not: lone, overlong, surrogate and cut sequences", () => {
    for (const raw of ["a%FFb", "%FE", "%C0%AF", "%ED%A0%80", "%E2%82"]) assert.equal(percentDecodeUtf8(raw), undefined, raw);
  });
});
