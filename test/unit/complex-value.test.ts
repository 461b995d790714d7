import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ComplexValue, type VariableSource } from "../../src/config/complex-value.js";

function compile(source: string): ComplexValue {
  const v = ComplexValue.compile(source);
  if (typeof v === "string") throw new Error(`compile(${source}) failed: ${v}`);
  return v;
}

/** A request with these query arguments and headers; records what was asked for. */
function vars(args: Record<string, string>, headers: Record<string, string> = {}): VariableSource & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    arg(name) {
      asked.push(`arg:${name}`);
      const key = Object.keys(args).find((k) => k.toLowerCase() === name.toLowerCase());
      return key === undefined ? undefined : args[key];
    },
    header(name) {
      asked.push(`header:${name}`);
      return headers[name];
    },
  };
}

describe("ComplexValue.compile", () => {
  test("$arg_X reads query argument X, keeping the name's case for the lookup", () => {
    const v = compile("$arg_CHANNEL_ID");
    const source = vars({ CHANNEL_ID: "abc" });
    assert.equal(v.evaluate(source), "abc");
    assert.deepEqual(source.asked, ["arg:CHANNEL_ID"]);
  });

  test("${arg_x} is the braced form", () => {
    const v = compile("${arg_x}");
    const source = vars({ x: "1" });
    assert.equal(v.evaluate(source), "1");
    assert.deepEqual(source.asked, ["arg:x"]);
  });

  test("braces separate a variable from following name characters", () => {
    assert.equal(compile("${arg_a}b").evaluate(vars({ a: "A", ab: "AB" })), "Ab");
    assert.equal(compile("$arg_ab").evaluate(vars({ a: "A", ab: "AB" })), "AB");
  });

  test("the variable prefix is case-insensitive", () => {
    assert.equal(compile("$ARG_tag").evaluate(vars({ tag: "5" })), "5");
  });

  test("$http_user_agent reads the header user-agent", () => {
    const v = compile("$http_user_agent");
    const source = vars({}, { "user-agent": "Mozilla/5.0" });
    assert.equal(v.evaluate(source), "Mozilla/5.0");
    assert.deepEqual(source.asked, ["header:user-agent"]);
  });

  test("header names are lower-cased with _ as -", () => {
    const source = vars({}, { "x-real-ip": "10.0.0.1" });
    assert.equal(compile("$HTTP_X_Real_IP").evaluate(source), "10.0.0.1");
    assert.deepEqual(source.asked, ["header:x-real-ip"]);
  });

  test("an unknown variable is an error naming it", () => {
    assert.equal(ComplexValue.compile("$foo"), "unknown variable $foo (pushwire knows $arg_NAME and $http_NAME)");
    assert.equal(ComplexValue.compile("x${remote_addr}y"), "unknown variable $remote_addr (pushwire knows $arg_NAME and $http_NAME)");
  });

  test("$arg_ and $http_ without a name are unknown variables", () => {
    assert.equal(ComplexValue.compile("$arg_"), "unknown variable $arg_ (pushwire knows $arg_NAME and $http_NAME)");
    assert.equal(ComplexValue.compile("$http_"), "unknown variable $http_ (pushwire knows $arg_NAME and $http_NAME)");
  });

  test("the source text is kept", () => {
    assert.equal(compile("a/$arg_b").source, "a/$arg_b");
  });
});

describe("ComplexValue.evaluate", () => {
  test("a literal-only value is constant and evaluates to itself", () => {
    const v = compile("fixed-channel");
    assert.equal(v.isConstant, true);
    assert.equal(v.evaluate(vars({})), "fixed-channel");
  });

  test("a lone $ or a $ before a non-name character is literal", () => {
    const v = compile("cost: $ 5 $-");
    assert.equal(v.isConstant, true);
    assert.equal(v.evaluate(vars({})), "cost: $ 5 $-");
  });

  test("a value with a variable is not constant", () => {
    assert.equal(compile("x$arg_a").isConstant, false);
  });

  test("literals and variables are joined in order", () => {
    const v = compile("pre/$arg_a/${arg_b}.b1/$http_x_ch");
    assert.equal(v.evaluate(vars({ a: "A", b: "B" }, { "x-ch": "H" })), "pre/A/B.b1/H");
  });

  test("an argument present with an empty value gives the empty string", () => {
    assert.equal(compile("$arg_a").evaluate(vars({ a: "" })), "");
  });

  test("a single missing variable gives undefined", () => {
    assert.equal(compile("$arg_a").evaluate(vars({})), undefined);
    assert.equal(compile("$http_x").evaluate(vars({})), undefined);
  });

  test("missing variables next to literals contribute nothing", () => {
    assert.equal(compile("x-$arg_a-y").evaluate(vars({})), "x--y");
  });

  test("several variables all missing give undefined", () => {
    assert.equal(compile("$arg_a$arg_b").evaluate(vars({})), undefined);
  });

  test("several variables with one present give that one", () => {
    assert.equal(compile("$arg_a$arg_b").evaluate(vars({ b: "2" })), "2");
  });

  test("values are inserted raw (the caller percent-decodes)", () => {
    assert.equal(compile("$arg_t").evaluate(vars({ t: "Thu,%2001+Jan" })), "Thu,%2001+Jan");
  });

  test("the empty value evaluates to undefined", () => {
    const v = compile("");
    assert.equal(v.isConstant, true);
    assert.equal(v.evaluate(vars({})), undefined);
  });
});
