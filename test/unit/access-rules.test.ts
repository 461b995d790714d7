import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { AccessRules, Cidr, addressBytes } from "../../src/core/access-rules.js";

function cidr(text: string): Cidr {
  const c = Cidr.parse(text);
  if (!c) throw new Error(`Cidr.parse(${text}) failed`);
  return c;
}

function matches(rule: string, peer: string): boolean {
  const bytes = addressBytes(peer);
  if (!bytes) throw new Error(`addressBytes(${peer}) failed`);
  return cidr(rule).matches(bytes);
}

describe("addressBytes", () => {
  test("IPv4 gives 4 bytes", () => {
    assert.deepEqual(addressBytes("192.168.1.20"), Uint8Array.from([192, 168, 1, 20]));
  });

  test("IPv6 gives 16 bytes", () => {
    assert.deepEqual(addressBytes("::1"), Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]));
    assert.deepEqual(
      addressBytes("2001:db8::8a2e:370:7334"),
      Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0x8a, 0x2e, 0x03, 0x70, 0x73, 0x34]),
    );
    assert.deepEqual(addressBytes("::"), new Uint8Array(16));
    assert.deepEqual(
      addressBytes("fe80::"),
      Uint8Array.from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    );
  });

  test("a full eight-group IPv6 address", () => {
    assert.deepEqual(
      addressBytes("1:2:3:4:5:6:7:8"),
      Uint8Array.from([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]),
    );
  });

  test("IPv4-mapped IPv6 gives the 4 IPv4 bytes", () => {
    assert.deepEqual(addressBytes("::ffff:127.0.0.1"), Uint8Array.from([127, 0, 0, 1]));
    assert.deepEqual(addressBytes("::FFFF:10.1.2.3"), Uint8Array.from([10, 1, 2, 3]));
  });

  test("other IPv6 with an embedded IPv4 tail stays 16 bytes", () => {
    assert.deepEqual(
      addressBytes("64:ff9b::1.2.3.4"),
      Uint8Array.from([0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]),
    );
  });

  test("non-addresses give undefined", () => {
    for (const bad of ["", "localhost", "1.2.3", "256.0.0.1", "1.2.3.4.5", ":::", "12345::", "g::1"]) {
      assert.equal(addressBytes(bad), undefined, bad);
    }
  });
});

describe("Cidr", () => {
  test("an IPv4 network matches addresses inside it only", () => {
    assert.equal(matches("127.0.0.0/8", "127.0.0.1"), true);
    assert.equal(matches("127.0.0.0/8", "127.255.255.255"), true);
    assert.equal(matches("127.0.0.0/8", "128.0.0.1"), false);
    assert.equal(matches("192.168.1.0/24", "192.168.1.77"), true);
    assert.equal(matches("192.168.1.0/24", "192.168.2.77"), false);
  });

  test("a prefix that is not a whole number of bytes", () => {
    assert.equal(matches("10.0.0.0/12", "10.15.255.255"), true);
    assert.equal(matches("10.0.0.0/12", "10.16.0.0"), false);
    assert.equal(matches("192.168.1.128/25", "192.168.1.200"), true);
    assert.equal(matches("192.168.1.128/25", "192.168.1.127"), false);
  });

  test("a bare address is a /32 or /128", () => {
    assert.equal(matches("10.1.2.3", "10.1.2.3"), true);
    assert.equal(matches("10.1.2.3", "10.1.2.4"), false);
    assert.equal(matches("::1", "::1"), true);
    assert.equal(matches("::1", "::2"), false);
  });

  test("/0 matches every address of its family", () => {
    assert.equal(matches("0.0.0.0/0", "203.0.113.9"), true);
    assert.equal(matches("::/0", "2001:db8::1"), true);
  });

  test("IPv6 networks", () => {
    assert.equal(matches("2001:db8::/32", "2001:db8:1::5"), true);
    assert.equal(matches("2001:db8::/32", "2001:db9::1"), false);
    assert.equal(matches("fe80::/10", "febf::1"), true);
    assert.equal(matches("fe80::/10", "fec0::1"), false);
  });

  test("an IPv4-mapped peer matches an IPv4 rule", () => {
    assert.equal(matches("127.0.0.0/8", "::ffff:127.0.0.1"), true);
    assert.equal(matches("127.0.0.0/8", "::ffff:10.0.0.1"), false);
  });

  test("families never match each other", () => {
    assert.equal(matches("::/0", "127.0.0.1"), false);
    assert.equal(matches("0.0.0.0/0", "::1"), false);
  });

  test("the original text is kept", () => {
    assert.equal(cidr("10.0.0.0/8").text, "10.0.0.0/8");
  });

  test("bad CIDRs do not parse", () => {
    for (const bad of [
      "", "all", "10.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/8/8", "10.0.0.0/-1", "10.0.0.0/ 8",
      "10.0.0.0/0x8", "10.0.0.0/1000", "300.0.0.1", "10.0.0", "/8", "2001:db8::/", "localhost/8",
    ]) {
      assert.equal(Cidr.parse(bad), undefined, bad);
    }
  });

  test("boundary prefixes parse", () => {
    assert.notEqual(Cidr.parse("10.0.0.0/32"), undefined);
    assert.notEqual(Cidr.parse("10.0.0.0/0"), undefined);
    assert.notEqual(Cidr.parse("::/128"), undefined);
  });
});

describe("AccessRules", () => {
  const bitrix = (): AccessRules => new AccessRules([cidr("127.0.0.0/8"), cidr("::1")], "all");

  test("allow + deny all admits only the allowed addresses (BitrixVM publisher)", () => {
    const rules = bitrix();
    assert.equal(rules.permits("127.0.0.1"), true);
    assert.equal(rules.permits("127.8.9.10"), true);
    assert.equal(rules.permits("::1"), true);
    assert.equal(rules.permits("::ffff:127.0.0.1"), true);
    assert.equal(rules.permits("10.0.0.1"), false);
    assert.equal(rules.permits("::2"), false);
    assert.equal(rules.permits("::ffff:10.0.0.1"), false);
  });

  test("an unknown peer address is refused under allow + deny all", () => {
    assert.equal(bitrix().permits(undefined), false);
    assert.equal(bitrix().permits("not-an-ip"), false);
  });

  test("deny all alone refuses everyone", () => {
    const rules = new AccessRules(undefined, "all");
    assert.equal(rules.permits("127.0.0.1"), false);
    assert.equal(rules.permits("::1"), false);
    assert.equal(rules.permits(undefined), false);
  });

  test("allow alone admits only matching addresses", () => {
    const rules = new AccessRules([cidr("10.0.0.0/8")], undefined);
    assert.equal(rules.permits("10.9.8.7"), true);
    assert.equal(rules.permits("11.0.0.1"), false);
    assert.equal(rules.permits(undefined), false);
  });

  test("a deny list alone refuses matching addresses and admits the rest", () => {
    const rules = new AccessRules(undefined, [cidr("10.0.0.0/8"), cidr("2001:db8::/32")]);
    assert.equal(rules.permits("10.0.0.1"), false);
    assert.equal(rules.permits("::ffff:10.0.0.1"), false);
    assert.equal(rules.permits("2001:db8::1"), false);
    assert.equal(rules.permits("192.0.2.1"), true);
    assert.equal(rules.permits("2001:db9::1"), true);
  });

  test("no rules admit everyone", () => {
    const rules = new AccessRules(undefined, undefined);
    assert.equal(rules.permits("203.0.113.1"), true);
    assert.equal(rules.permits(undefined), true);
  });
});
