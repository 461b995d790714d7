import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RequestVars } from "../../src/routing/request-vars.js";
import { ComplexValue } from "../../src/config/complex-value.js";
import { FakeRequest } from "../support/fake-exchange.js";

function request(url: string, headers: Record<string, string> = {}): RequestVars {
  return new RequestVars(new FakeRequest("GET", url, headers));
}

describe("RequestVars path and query", () => {
  test("splits the URL at the first ?", () => {
    const v = request("/bitrix/sub/?CHANNEL_ID=abc&x=?y");
    assert.equal(v.path, "/bitrix/sub/");
    assert.equal(v.query, "CHANNEL_ID=abc&x=?y");
  });

  test("a URL without ? has an empty query", () => {
    const v = request("/pub");
    assert.equal(v.path, "/pub");
    assert.equal(v.query, "");
  });
});

describe("RequestVars.arg", () => {
  test("returns the raw value of the named argument", () => {
    const v = request("/s?CHANNEL_ID=a%2Fb&tag=5&time=Thu,+01+Jan");
    assert.equal(v.arg("CHANNEL_ID"), "a%2Fb");
    assert.equal(v.arg("tag"), "5");
    assert.equal(v.arg("time"), "Thu,+01+Jan");
  });

  test("names match case-insensitively", () => {
    const v = request("/s?Channel_Id=abc");
    assert.equal(v.arg("CHANNEL_ID"), "abc");
    assert.equal(v.arg("channel_id"), "abc");
  });

  test("the first matching argument wins", () => {
    const v = request("/s?a=1&A=2&a=3");
    assert.equal(v.arg("a"), "1");
    assert.equal(v.arg("A"), "1");
  });

  test("an argument without = has the empty value", () => {
    const v = request("/s?callback&x=1");
    assert.equal(v.arg("callback"), "");
    assert.equal(v.arg("x"), "1");
    assert.equal(request("/s?x=1&flag").arg("flag"), "");
  });

  test("an argument with an empty value after = is the empty string", () => {
    assert.equal(request("/s?a=&b=2").arg("a"), "");
  });

  test("a missing argument is undefined", () => {
    assert.equal(request("/s?a=1").arg("b"), undefined);
    assert.equal(request("/s").arg("a"), undefined);
    assert.equal(request("/s?").arg("a"), undefined);
  });

  test("a name that is only a prefix of an argument does not match", () => {
    const v = request("/s?tagged=1&ta=2");
    assert.equal(v.arg("tag"), undefined);
    assert.equal(v.arg("t"), undefined);
    assert.equal(v.arg("ta"), "2");
  });

  test("an argument name longer than the query does not match", () => {
    assert.equal(request("/s?a").arg("abc"), undefined);
  });

  test("only the first = separates name and value", () => {
    assert.equal(request("/s?a=1=2&b=3").arg("a"), "1=2");
  });

  test("empty segments between & are skipped", () => {
    const v = request("/s?&&a=1&&b=2&");
    assert.equal(v.arg("a"), "1");
    assert.equal(v.arg("b"), "2");
  });

  test("a value is not mistaken for a name", () => {
    assert.equal(request("/s?x=a=1").arg("a"), undefined);
  });
});

describe("RequestVars.header", () => {
  test("returns a header by its lower-case name", () => {
    const v = request("/", { "user-agent": "curl/8", "if-none-match": "W/3" });
    assert.equal(v.header("user-agent"), "curl/8");
    assert.equal(v.header("if-none-match"), "W/3");
  });

  test("a missing header is undefined", () => {
    assert.equal(request("/", {}).header("origin"), undefined);
  });
});

describe("RequestVars as a variable source", () => {
  test("feeds $arg_ and $http_ variables of a complex value", () => {
    const value = ComplexValue.compile("$arg_CHANNEL_ID|${arg_tag}|$http_user_agent");
    assert.ok(value instanceof ComplexValue);
    const v = request("/s?channel_id=c1&TAG=7", { "user-agent": "UA" });
    assert.equal(value.evaluate(v), "c1|7|UA");
  });
});
