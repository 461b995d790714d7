import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseDuration, parseSize } from "../../src/config/units.js";

describe("parseDuration", () => {
  test("nginx time strings, in seconds", () => {
    assert.equal(parseDuration("40s"), 40);
    assert.equal(parseDuration("30m"), 1800);
    assert.equal(parseDuration("24h"), 86400);
    assert.equal(parseDuration("1d"), 86400);
    assert.equal(parseDuration("2w"), 1_209_600);
    assert.equal(parseDuration("1M"), 2_592_000);
    assert.equal(parseDuration("1y"), 31_536_000);
  });

  test("a bare number string is seconds", () => {
    assert.equal(parseDuration("40"), 40);
    assert.equal(parseDuration("0"), 0);
  });

  test("milliseconds give fractional seconds; ms is not minutes + s", () => {
    assert.equal(parseDuration("500ms"), 0.5);
    assert.equal(parseDuration("1500ms"), 1.5);
  });

  test("m is minutes and M is months", () => {
    assert.equal(parseDuration("1m"), 60);
    assert.equal(parseDuration("1M"), 2_592_000);
  });

  test("several parts separated by whitespace add up", () => {
    assert.equal(parseDuration("1h 30m"), 5400);
    assert.equal(parseDuration("1d 1h 1m 1s"), 90061);
    assert.equal(parseDuration("  1h   30m  "), 5400);
  });

  test("several parts without whitespace, as nginx allows (\"1h30m\")", () => {
    assert.equal(parseDuration("1h30m"), 5400);
    assert.equal(parseDuration("1m30s"), 90);
  });

  test("numbers are seconds", () => {
    assert.equal(parseDuration(40), 40);
    assert.equal(parseDuration(0), 0);
    assert.equal(parseDuration(0.25), 0.25);
  });

  test("negative and non-finite numbers are invalid", () => {
    assert.equal(parseDuration(-1), undefined);
    assert.equal(parseDuration(NaN), undefined);
    assert.equal(parseDuration(Infinity), undefined);
  });

  test("bad strings are invalid", () => {
    for (const bad of ["", "   ", "abc", "40x", "-5s", "s", "40 s", "40ss", "1h,30m", "0x10"]) {
      assert.equal(parseDuration(bad), undefined, JSON.stringify(bad));
    }
  });

  test("other types are invalid", () => {
    for (const bad of [null, undefined, true, {}, ["40s"]]) {
      assert.equal(parseDuration(bad), undefined, JSON.stringify(bad));
    }
  });
});

describe("parseSize", () => {
  test("nginx sizes, in bytes", () => {
    assert.equal(parseSize("256M"), 268_435_456);
    assert.equal(parseSize("256m"), 268_435_456);
    assert.equal(parseSize("32k"), 32_768);
    assert.equal(parseSize("32K"), 32_768);
    assert.equal(parseSize("1g"), 1_073_741_824);
    assert.equal(parseSize("2G"), 2_147_483_648);
  });

  test("a bare number string is bytes, surrounding spaces allowed", () => {
    assert.equal(parseSize("1024"), 1024);
    assert.equal(parseSize(" 32k "), 32_768);
    assert.equal(parseSize("0"), 0);
  });

  test("whole non-negative numbers are bytes", () => {
    assert.equal(parseSize(16384), 16384);
    assert.equal(parseSize(0), 0);
  });

  test("fractions, negatives and unknown units are invalid", () => {
    for (const bad of [1.5, -1, NaN, "1.5M", "-1", "32kb", "32 k", "1T", "", "k", "abc"]) {
      assert.equal(parseSize(bad), undefined, JSON.stringify(bad));
    }
  });

  test("other types are invalid", () => {
    for (const bad of [null, undefined, false, {}, [1]]) {
      assert.equal(parseSize(bad), undefined, JSON.stringify(bad));
    }
  });
});
