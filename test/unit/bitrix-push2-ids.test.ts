import { createHmac } from "node:crypto";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RateLimiter } from "../../src/bitrix-push2/rate-limit.js";
import { ChannelSigner } from "../../src/bitrix-push2/signature.js";
import { MidClock, midCounter, midText, parseMid } from "../../src/core/mid.js";
import { Push2Channels, SITE_KEY } from "../support/bitrix-push2-site.js";

/** Bitrix Push server 2.0 channel tokens, message ids and the rate limiter: pure functions, no sockets. */

const signer = new ChannelSigner(SITE_KEY, "sha1");

describe("signatures and message ids", () => {
  test("signed ids, pairs and public ids: HMAC-SHA1 over the id, the pair, and public:<id>", () => {
    const c = new Push2Channels(signer);
    assert.match(c.pair, /^[a-f0-9]{32}:[a-f0-9]{32}\.[a-f0-9]{40}$/);
    assert.deepEqual(signer.parseSubscriberToken(c.pair), { privateId: c.privateId, publicId: c.publicId });
    assert.deepEqual(signer.parseSubscriberToken(c.shared), { privateId: c.sharedId, publicId: undefined });
    const [pub, sig] = c.signedPublic.split(".");
    assert.ok(signer.verifyPublic(pub!, sig!));
    assert.ok(!signer.verify(pub!, sig!), "a public signature is not a private one");
    assert.equal(signer.parseSubscriberToken(c.privateId), undefined, "with a key, an unsigned id is refused");
    assert.equal(signer.parseSubscriberToken(`${c.privateId}:${c.publicId}`), undefined, "a pair always needs its signature");
    assert.equal(signer.parseSubscriberToken(c.pair.replace(/.$/, (d) => (d === "0" ? "1" : "0"))), undefined);
    assert.equal(signer.parseSubscriberToken(new ChannelSigner("other", "sha1").signed(c.privateId)), undefined, "another key");
    assert.equal(signer.parseSubscriberToken("xyz"), undefined);
    const unkeyed = new ChannelSigner("", "sha1");
    assert.deepEqual(unkeyed.parseSubscriberToken(c.privateId), { privateId: c.privateId, publicId: undefined });
    assert.equal(new ChannelSigner(SITE_KEY, "sha256").signed(c.privateId).length, 32 + 1 + 64);
  });

  test("mids: the start second is written in 10 digits, padded or cut to its last 10; the counter reads back", () => {
    assert.equal(midText(new MidClock(123).next()), "00000001230000000000000001");
    assert.equal(midText(new MidClock(12345678901).next()), "23456789010000000000000001");
    const clock = new MidClock(1764000009);
    for (let n = 1; n <= 12; n++) {
      const mid = clock.next();
      assert.equal(mid.length, 13);
      assert.equal(midCounter(mid), n);
    }
  });

  test("signatures need a key: with none, even a signature made with an empty key is refused", () => {
    const unkeyed = new ChannelSigner("", "sha1");
    const id = "0123456789abcdef0123456789abcdef";
    const emptyKeySignature = createHmac("sha1", "").update(id).digest("hex");
    assert.equal(unkeyed.verify(id, emptyKeySignature), false);
    assert.equal(unkeyed.parseSubscriberToken(`${id}.${emptyKeySignature}`), undefined);
    assert.equal(unkeyed.verifyPublic(id, emptyKeySignature), false);
    assert.equal(signer.verify(id, signer.sign(id).slice(0, -2)), false, "a shortened signature");
  });

  test("mids: 26 digits, start second then a 16-digit counter, 13 bytes, ordered as text and as bytes", () => {
    const clock = new MidClock(1764000000.7);
    const a = clock.next();
    const b = clock.next();
    assert.equal(a.length, 13);
    assert.equal(midText(a), "17640000000000000000000001");
    assert.equal(midText(b), "17640000000000000000000002");
    assert.ok(Buffer.compare(a, b) < 0);
    assert.deepEqual(parseMid("17640000000000000000000002"), b);
    assert.equal(parseMid("1764"), undefined);
    assert.equal(parseMid("1764000000000000000000000x"), undefined);
    // 26 digits and nothing else: no garbage after or before them, no sign, no spaces.
    for (const bad of ["17640000000000000000000002x", "17640000000000000000000002 ", "x17640000000000000000000002", " 17640000000000000000000002", "176400000000000000000000021", "1764000000000000000000002", "+1764000000000000000000002", "17640000000000000000000002\n", ""]) {
      assert.equal(parseMid(bad), undefined, JSON.stringify(bad));
    }
    assert.equal(parseMid(undefined), undefined);
  });

  test("rate limiter: N per second per address, then refusals until the next second", () => {
    const limiter = new RateLimiter(2);
    assert.deepEqual([limiter.allow("a", 0), limiter.allow("a", 10), limiter.allow("a", 20), limiter.allow("b", 20), limiter.allow("a", 1000)], [true, true, false, true, true]);
  });

  test("rate limiter: a window is exactly one second; 0 or less means no limit", () => {
    const limiter = new RateLimiter(1);
    assert.deepEqual([limiter.allow("a", 5000), limiter.allow("a", 5999), limiter.allow("a", 6000), limiter.allow("a", 6001)], [true, false, true, false]);
    for (const perSecond of [0, -1]) {
      const open = new RateLimiter(perSecond);
      assert.ok(Array.from({ length: 50 }, () => open.allow("a", 0)).every(Boolean), `perSecond ${perSecond}`);
      assert.equal(open.trackedAddresses, 0, "nothing is tracked without a limit");
    }
  });

  test("rate limiter: from 10 000 addresses on, the windows that ended are dropped (memory stays bounded)", () => {
    const filled = (count: number): RateLimiter => {
      const limiter = new RateLimiter(5);
      for (let i = 0; i < count; i++) limiter.allow(`10.0.${i >> 8}.${i & 255}`, 5000);
      assert.equal(limiter.trackedAddresses, count);
      return limiter;
    };
    const full = filled(10_000);
    full.allow("fresh", 6000); // 10 000 tracked, all ended exactly now: dropped
    assert.equal(full.trackedAddresses, 1);
    const open = filled(10_000);
    open.allow("fresh", 5999); // every window still open: nothing to drop
    assert.equal(open.trackedAddresses, 10_001);
    const below = filled(9_999);
    below.allow("late", 9000); // under the bound: no pruning yet
    assert.equal(below.trackedAddresses, 10_000);
  });
});

