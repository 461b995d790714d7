import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseChannelsPath, readChannelsPath } from "../../src/core/channel-path.js";
import { refusals } from "../../src/core/refusal.js";

describe("parseChannelsPath", () => {
  test("a single id has backtrack 0", () => {
    assert.deepEqual(parseChannelsPath("abc"), [{ id: "abc", backtrack: 0 }]);
  });

  test("a/b names two channels in order", () => {
    assert.deepEqual(parseChannelsPath("a/b"), [
      { id: "a", backtrack: 0 },
      { id: "b", backtrack: 0 },
    ]);
  });

  test("a.b5/b gives a backtrack of 5 to a only", () => {
    assert.deepEqual(parseChannelsPath("a.b5/b"), [
      { id: "a", backtrack: 5 },
      { id: "b", backtrack: 0 },
    ]);
  });

  test("only the last .bN of a segment is the backtrack: room.b18.beautiful.b3", () => {
    assert.deepEqual(parseChannelsPath("room.b18.beautiful.b3"), [{ id: "room.b18.beautiful", backtrack: 3 }]);
  });

  test(".bN in the middle of an id is part of the id", () => {
    assert.deepEqual(parseChannelsPath("room.b18.beautiful"), [{ id: "room.b18.beautiful", backtrack: 0 }]);
  });

  test("x.b without digits is the channel x.b", () => {
    assert.deepEqual(parseChannelsPath("x.b"), [{ id: "x.b", backtrack: 0 }]);
  });

  test("x.b0 is channel x with no backtrack", () => {
    assert.deepEqual(parseChannelsPath("x.b0"), [{ id: "x", backtrack: 0 }]);
  });

  test("multi-digit backtracks", () => {
    assert.deepEqual(parseChannelsPath("chat.b1000"), [{ id: "chat", backtrack: 1000 }]);
  });

  test("digits not preceded by .b, or followed by text, are part of the id", () => {
    assert.deepEqual(parseChannelsPath("x.b5x/yb5/z.B5"), [
      { id: "x.b5x", backtrack: 0 },
      { id: "yb5", backtrack: 0 },
      { id: "z.B5", backtrack: 0 },
    ]);
  });

  test("a segment that is only .bN names the channel .bN", () => {
    assert.deepEqual(parseChannelsPath(".b5"), [{ id: ".b5", backtrack: 0 }]);
  });

  test("a trailing slash is ignored", () => {
    assert.deepEqual(parseChannelsPath("a/b/"), [
      { id: "a", backtrack: 0 },
      { id: "b", backtrack: 0 },
    ]);
  });

  test("leading and doubled slashes name nothing", () => {
    assert.deepEqual(parseChannelsPath("/a//b.b2"), [
      { id: "a", backtrack: 0 },
      { id: "b", backtrack: 2 },
    ]);
    assert.deepEqual(parseChannelsPath("//"), []);
  });

  test("an empty path names no channel", () => {
    assert.deepEqual(parseChannelsPath(""), []);
    assert.deepEqual(parseChannelsPath("/"), []);
  });

  test("duplicates are kept, in path order", () => {
    assert.deepEqual(parseChannelsPath("a/a.b1"), [
      { id: "a", backtrack: 0 },
      { id: "a", backtrack: 1 },
    ]);
  });

  test("ids are case-sensitive and may hold any other character", () => {
    assert.deepEqual(parseChannelsPath("Ab/aB/x y?.b2"), [
      { id: "Ab", backtrack: 0 },
      { id: "aB", backtrack: 0 },
      { id: "x y?", backtrack: 2 },
    ]);
  });

  test("a huge backtrack is clamped to a safe integer", () => {
    assert.deepEqual(parseChannelsPath("a.b99999999999999999999"), [{ id: "a", backtrack: Number.MAX_SAFE_INTEGER }]);
  });
});

describe("readChannelsPath", () => {
  test("decodes, then splits", () => {
    assert.deepEqual(readChannelsPath("a%2Fq%22x.b2"), [{ id: "a", backtrack: 0 }, { id: 'q"x', backtrack: 2 }]);
  });

  test("bytes that are not UTF-8 are refused, so u%FFx and u%FEx never meet as one channel", () => {
    for (const raw of ["u%FFx", "u%FEx", "%C0%AF", "%ED%A0%80", "ok/%E2%82"]) assert.equal(readChannelsPath(raw), refusals.channelIdNotUtf8, raw);
    assert.deepEqual(readChannelsPath("%EF%BF%BD"), [{ id: "\uFFFD", backtrack: 0 }]);
  });

  test("control characters are refused, NUL and CR/LF included", () => {
    for (const raw of ["q%00x", "a%0d%0aX", "t%09", "d%7F", "ok/%1F"]) assert.equal(readChannelsPath(raw), refusals.channelIdControlCharacter, raw);
  });

  test("text after a ? is refused (push-stream would cut it off); a final ? is kept", () => {
    for (const raw of ["a?b", "a?bc", "a%3Fxyz", "a?/c", "?a"]) assert.equal(readChannelsPath(raw), refusals.channelIdTextAfterQuestionMark, raw);
    assert.deepEqual(readChannelsPath("a%3F"), [{ id: "a?", backtrack: 0 }]);
  });
});
