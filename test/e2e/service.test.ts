import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NO_OPENSSL, makeCertificate } from "../support/certificates.js";
import { BUNDLE } from "../support/launch.js";

/** systemd/pushwire.service and systemd/install.sh: what an admin installs. */

const SYSTEMD = join(__dirname, "..", "..", "..", "systemd");
const UNIT_FILE = join(SYSTEMD, "pushwire.service");
const INSTALL = join(SYSTEMD, "install.sh");
const SYSTEMD_ANALYZE = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].find((p) => existsSync(p));

const scratch = mkdtempSync(join(tmpdir(), "pushwire-service-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The [Service] directives as name → values (a name may repeat). Comments are not directives. */
function directives(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) map.set(m[1]!, [...(map.get(m[1]!) ?? []), m[2]!]);
  }
  return map;
}

test("the unit: simple service as the pushwire user, reload by SIGHUP, restart on failure, many files, sandboxed", () => {
  const unit = directives(readFileSync(UNIT_FILE, "utf8"));
  const one = (name: string): string | undefined => unit.get(name)?.at(-1);
  assert.equal(one("Type"), "simple");
  assert.equal(one("User"), "pushwire");
  assert.equal(one("Group"), "pushwire");
  assert.equal(one("ExecStart"), "/usr/bin/node /opt/pushwire/pushwire.js --config /etc/pushwire/pushwire.json --message-log /var/lib/pushwire");
  assert.equal(one("StateDirectory"), "pushwire", "systemd creates /var/lib/pushwire for the message log, writable under ProtectSystem=strict");
  assert.equal(one("ExecReload"), "/bin/kill -HUP $MAINPID");
  assert.equal(one("Restart"), "on-failure");
  assert.equal(one("RestartPreventExitStatus"), "1 2 4");
  assert.equal(one("LimitNOFILE"), "1048576");
  assert.equal(one("ProtectSystem"), "strict");
  assert.equal(one("ProtectHome"), "yes");
  assert.equal(one("PrivateTmp"), "yes");
  assert.equal(one("NoNewPrivileges"), "yes");
  assert.equal(one("RestrictAddressFamilies"), "AF_INET AF_INET6 AF_UNIX");
  assert.equal(unit.has("MemoryDenyWriteExecute"), false, "V8 needs W+X memory");
  assert.equal(unit.has("AmbientCapabilities"), false, "only for ports < 1024, left commented");
  assert.match(readFileSync(UNIT_FILE, "utf8"), /^#AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
  // pushwire's own drain (5 s) fits in the stop timeout.
  assert.ok(Number(one("TimeoutStopSec")) > 5);
});

test("systemd-analyze verify accepts the unit", { skip: SYSTEMD_ANALYZE ? false : "systemd-analyze not installed" }, () => {
  // verify checks that ExecStart's program exists: point a copy at files that do here.
  const copy = join(scratch, "pushwire.service");
  writeFileSync(copy, readFileSync(UNIT_FILE, "utf8").replaceAll("/usr/bin/node", process.execPath).replaceAll("/opt/pushwire/pushwire.js", BUNDLE));
  const result = spawnSync(SYSTEMD_ANALYZE!, ["verify", copy], { encoding: "utf8", timeout: 30_000 });
  const complaints = `${result.stdout}${result.stderr}`.split("\n").filter((line) => line.includes(copy));
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
  assert.deepEqual(complaints, [], "no warning about the unit (unknown keys, bad values)");
});

function install(root: string, ...args: string[]): { status: number | null; out: string } {
  const result = spawnSync("bash", [INSTALL, "--root", root, "--node", process.execPath, "--bundle", BUNDLE, ...args], { encoding: "utf8", timeout: 30_000 });
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
}

test("install.sh --root: program, configuration, unit; a second run changes nothing it should keep", () => {
  const root = join(scratch, "root");
  const first = install(root);
  assert.equal(first.status, 0, first.out);
  const program = join(root, "opt/pushwire/pushwire.js");
  const config = join(root, "etc/pushwire/pushwire.json");
  const unit = join(root, "etc/systemd/system/pushwire.service");
  assert.deepEqual(readFileSync(program), readFileSync(BUNDLE));
  assert.equal(statSync(program).mode & 0o777, 0o755);
  assert.equal(statSync(config).mode & 0o777, 0o644);
  const printed = spawnSync(process.execPath, [BUNDLE, "--print-config"], { encoding: "utf8" }).stdout;
  assert.equal(readFileSync(config, "utf8"), printed, "the configuration is --print-config's");
  assert.match(first.out, /configuration .* is ok/);
  assert.match(first.out, /--root given: not creating the pushwire user/);
  const installedUnit = readFileSync(unit, "utf8");
  assert.match(installedUnit, new RegExp(`^ExecStart=${process.execPath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} /opt/pushwire/pushwire.js --config /etc/pushwire/pushwire.json --message-log /var/lib/pushwire$`, "m"));
  assert.equal(installedUnit.replace(/^ExecStart=\S+ /m, "ExecStart=/usr/bin/node "), readFileSync(UNIT_FILE, "utf8"), "otherwise the unit as shipped");

  // The admin edits the configuration; installing again keeps it.
  const edited = JSON.stringify({ ...JSON.parse(printed), maxNumberOfChannels: 7 }, null, 2);
  writeFileSync(config, edited);
  const second = install(root);
  assert.equal(second.status, 0, second.out);
  assert.match(second.out, /kept existing .*pushwire\.json/);
  assert.equal(readFileSync(config, "utf8"), edited);
  assert.equal(readFileSync(unit, "utf8"), installedUnit);
});

test("install.sh refuses an edited configuration that is invalid, and a missing bundle", () => {
  const root = join(scratch, "bad");
  assert.equal(install(root).status, 0);
  writeFileSync(join(root, "etc/pushwire/pushwire.json"), '{"messageTtl": "never", "servers": []}');
  const broken = install(root);
  assert.equal(broken.status, 1);
  assert.match(broken.out, /messageTtl: invalid duration "never"/);
  const nothing = spawnSync("bash", [INSTALL, "--root", root, "--node", process.execPath, "--bundle", join(scratch, "none.js")], { encoding: "utf8" });
  assert.equal(nothing.status, 1);
  assert.match(nothing.stderr, /none\.js not found; run 'npm ci && npm run build' first/);
});

test("install.sh checks every argument, the certificate and a kept configuration before it changes anything", () => {
  const untouched = join(scratch, "untouched");
  const refusals: Array<[args: string[], status: number, message: RegExp]> = [
    [["--ssl-cert", UNIT_FILE], 2, /--ssl-cert needs --ssl-key/],
    [["--ssl-key", UNIT_FILE], 2, /--ssl-key needs --ssl-cert/],
    [["--ssl-cert", join(scratch, "absent.crt"), "--ssl-key", UNIT_FILE], 1, /absent\.crt: not a readable file/],
    [["--ssl-cert", UNIT_FILE, "--ssl-key", UNIT_FILE], 1, /unusable certificate[^]*the certificate or key was refused \(above\); nothing was changed/],
    [["--frobnicate"], 2, /unknown argument --frobnicate/],
    [["--node"], 2, /--node needs a value/],
  ];
  for (const [args, status, message] of refusals) {
    const result = install(untouched, ...args);
    assert.equal(result.status, status, `${args.join(" ")}: ${result.out}`);
    assert.match(result.out, message, args.join(" "));
    assert.equal(existsSync(untouched), false, `${args.join(" ")}: nothing created`);
  }

  // A kept configuration the new program refuses: the installed program is not replaced either.
  const root = join(scratch, "kept-invalid");
  assert.equal(install(root).status, 0);
  const program = join(root, "opt/pushwire/pushwire.js");
  writeFileSync(program, "// the version installed before\n");
  writeFileSync(join(root, "etc/pushwire/pushwire.json"), '{"messageTtl": "never", "servers": []}');
  const refused = install(root);
  assert.equal(refused.status, 1);
  assert.match(refused.out, /pushwire\.json is invalid for pushwire \S+ \(commit \S+\); fix it first \(nothing was changed\)/);
  assert.equal(readFileSync(program, "utf8"), "// the version installed before\n");
});

test("install.sh --dry-run prints each change it would make and makes none", { skip: NO_OPENSSL }, () => {
  const root = join(scratch, "dry");
  const certificate = makeCertificate(scratch, "install");
  const dry = install(root, "--dry-run", "--ssl-cert", certificate.certFile, "--ssl-key", certificate.keyFile);
  assert.equal(dry.status, 0, dry.out);
  const lines = dry.out.trim().split("\n");
  assert.deepEqual(lines.filter((line) => line.includes("would")), [
    `install.sh: would run: install -d -m 0755 ${root}/opt/pushwire ${root}/etc/pushwire ${root}/etc/systemd/system`,
    `install.sh: would run: install -m 0755 ${BUNDLE} ${root}/opt/pushwire/pushwire.js`,
    `install.sh: would write ${root}/etc/pushwire/pushwire.json (pushwire --print-config --ssl-cert ${certificate.certFile} --ssl-key ${certificate.keyFile})`,
    `install.sh: would write ${root}/etc/systemd/system/pushwire.service (${SYSTEMD}/pushwire.service with ExecStart=${process.execPath})`,
  ]);
  assert.equal(lines.at(-1), "install.sh: dry run: nothing was changed");
  assert.equal(existsSync(root), false);

  // After a real install, a dry run keeps the configuration and still writes nothing.
  assert.equal(install(root).status, 0);
  const unit = join(root, "etc/systemd/system/pushwire.service");
  writeFileSync(unit, "edited\n");
  const again = install(root, "--dry-run");
  assert.equal(again.status, 0, again.out);
  assert.match(again.out, /kept existing .*pushwire\.json/);
  assert.equal(readFileSync(unit, "utf8"), "edited\n");
});
