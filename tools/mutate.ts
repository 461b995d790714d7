/**
 * Mutation testing of the pure modules: plants one small bug at a time (a flipped comparison, an
 * off-by-one constant, a dropped `!`, `&&` for `||`…) in the compiled JavaScript of a module, runs
 * that module's unit tests, and counts the mutant killed when they fail (or hang). Survivors are
 * printed with their place, to be read: a survivor is either a missing test or an equivalent
 * mutant (one no test could tell apart).
 *
 *   npm run mutate                         every module below
 *   npm run mutate -- --only ring,frame    the modules whose path contains one of these words
 *   npm run mutate -- --timeout 20         seconds before a test run counts as a hang (killed)
 *   npm run mutate -- --workers 1          test runs at a time (default: one per core)
 *
 * Outside CI: a full run takes about a quarter of an hour on two cores. Mutants are planted in
 * copies of build/ (build/.mutate/, one per worker), so the build itself is never changed.
 */
import { spawn } from "node:child_process";
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { SourceMap } from "node:module";
import { join } from "node:path";
import ts from "typescript";

const BUILD = join(__dirname, "..");

/** Each pure module and the unit tests that speak for it. */
const TARGETS: Record<string, string[]> = {
  "src/core/ring.js": ["ring"],
  "src/core/timer-wheel.js": ["timer-wheel"],
  "src/core/cursor.js": ["cursor"],
  "src/core/template.js": ["template"],
  "src/core/http-date.js": ["http-date"],
  "src/core/channel-path.js": ["channel-path"],
  "src/core/percent.js": ["percent"],
  "src/core/padding.js": ["padding"],
  "src/core/event-stream.js": ["event-stream"],
  "src/core/access-rules.js": ["access-rules"],
  "src/core/recency-list.js": ["recency-list"],
  "src/core/message.js": ["message"],
  "src/core/mid.js": ["bitrix-push2-ids"],
  "src/config/units.js": ["units"],
  "src/http/request-parser.js": ["request-parser"],
  "src/websocket/frame.js": ["websocket-frame"],
  "src/bitrix-push2/protobuf.js": ["bitrix-push2-protobuf"],
  "src/bitrix-push2/signature.js": ["bitrix-push2-ids"],
  "src/bitrix-push2/rate-limit.js": ["bitrix-push2-ids"],
};

/** Replacements for binary operators; the mutant takes each in turn. */
const BINARY: Partial<Record<ts.SyntaxKind, string[]>> = {
  [ts.SyntaxKind.LessThanToken]: ["<=", ">="],
  [ts.SyntaxKind.LessThanEqualsToken]: ["<", ">"],
  [ts.SyntaxKind.GreaterThanToken]: [">=", "<="],
  [ts.SyntaxKind.GreaterThanEqualsToken]: [">", "<"],
  [ts.SyntaxKind.EqualsEqualsEqualsToken]: ["!=="],
  [ts.SyntaxKind.ExclamationEqualsEqualsToken]: ["==="],
  [ts.SyntaxKind.EqualsEqualsToken]: ["!="],
  [ts.SyntaxKind.ExclamationEqualsToken]: ["=="],
  [ts.SyntaxKind.PlusToken]: ["-"],
  [ts.SyntaxKind.MinusToken]: ["+"],
  [ts.SyntaxKind.AsteriskToken]: ["/"],
  [ts.SyntaxKind.SlashToken]: ["*"],
  [ts.SyntaxKind.PercentToken]: ["*"],
  [ts.SyntaxKind.AmpersandAmpersandToken]: ["||"],
  [ts.SyntaxKind.BarBarToken]: ["&&"],
  [ts.SyntaxKind.AmpersandToken]: ["|"],
  [ts.SyntaxKind.BarToken]: ["&"],
  [ts.SyntaxKind.CaretToken]: ["&"],
  [ts.SyntaxKind.LessThanLessThanToken]: [">>"],
  [ts.SyntaxKind.GreaterThanGreaterThanToken]: ["<<"],
  [ts.SyntaxKind.GreaterThanGreaterThanGreaterThanToken]: [">>"],
  [ts.SyntaxKind.PlusEqualsToken]: ["-="],
  [ts.SyntaxKind.MinusEqualsToken]: ["+="],
};

interface Mutant {
  start: number;
  end: number;
  replacement: string;
  /** 1-based line and 0-based column in the compiled file. */
  line: number;
  column: number;
  description: string;
}

/** Where a compiled line and column came from in the TypeScript source (tsc writes source maps). */
function sourceLine(file: string, line: number, column: number): number | undefined {
  const map = `${file}.map`;
  if (!existsSync(map)) return undefined;
  const entry = new SourceMap(JSON.parse(readFileSync(map, "utf8"))).findEntry(line - 1, column) as { originalLine?: number };
  return entry.originalLine === undefined ? undefined : entry.originalLine + 1;
}

/** What tsc writes around a CommonJS module: `Object.defineProperty(exports, "__esModule", …)`, `exports.X = void 0`. */
const MODULE_BOILERPLATE = /^(Object\.defineProperty\(exports, "__esModule"|exports\.[\w$]+ = (exports\.[\w$]+ = )*void 0;)/;

/** The `0` of `(0, module_1.fn)(…)`, tsc's way to call an import without a `this`. */
function isCallTargetZero(node: ts.NumericLiteral): boolean {
  const parent = node.parent;
  return ts.isBinaryExpression(parent) && parent.operatorToken.kind === ts.SyntaxKind.CommaToken && parent.left === node;
}

/** Every mutant of one file's source, in source order. */
function mutantsOf(source: string, fileName: string): Mutant[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  const mutants: Mutant[] = [];
  const add = (start: number, end: number, replacement: string): void => {
    const { line, character } = file.getLineAndCharacterOfPosition(start);
    mutants.push({ start, end, replacement, line: line + 1, column: character, description: `${source.slice(start, end)} → ${replacement}` });
  };
  const visit = (node: ts.Node): void => {
    // Imports, exports and the module boilerplate tsc writes are not logic.
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) return;
    if (ts.isExpressionStatement(node) && MODULE_BOILERPLATE.test(node.getText(file))) return;
    if (ts.isVariableStatement(node) && node.getText(file).includes("require(")) return;
    if (ts.isBinaryExpression(node)) {
      const token = node.operatorToken;
      for (const replacement of BINARY[token.kind] ?? []) add(token.getStart(file), token.end, replacement);
    } else if (ts.isPrefixUnaryExpression(node)) {
      const at = node.getStart(file);
      if (node.operator === ts.SyntaxKind.ExclamationToken) add(at, at + 1, "");
      else if (node.operator === ts.SyntaxKind.PlusPlusToken) add(at, at + 2, "--");
      else if (node.operator === ts.SyntaxKind.MinusMinusToken) add(at, at + 2, "++");
      else if (node.operator === ts.SyntaxKind.MinusToken) add(at, at + 1, "");
    } else if (ts.isPostfixUnaryExpression(node)) {
      const at = node.end - 2;
      add(at, node.end, node.operator === ts.SyntaxKind.PlusPlusToken ? "--" : "++");
    } else if (ts.isNumericLiteral(node) && !isCallTargetZero(node)) {
      const value = Number(node.text);
      add(node.getStart(file), node.end, String(value === 0 ? 1 : value + 1));
      if (value !== 0) add(node.getStart(file), node.end, String(value - 1));
    } else if (node.kind === ts.SyntaxKind.TrueKeyword) {
      add(node.getStart(file), node.end, "false");
    } else if (node.kind === ts.SyntaxKind.FalseKeyword) {
      add(node.getStart(file), node.end, "true");
    } else if (ts.isIfStatement(node) || ts.isWhileStatement(node)) {
      const condition = node.expression;
      if (ts.isIfStatement(node)) add(condition.getStart(file), condition.end, "false");
      add(condition.getStart(file), condition.end, ts.isIfStatement(node) ? "true" : "false");
    } else if (ts.isConditionalExpression(node)) {
      add(node.condition.getStart(file), node.condition.end, "true");
      add(node.condition.getStart(file), node.condition.end, "false");
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return mutants;
}

/**
 * Mutants no test can tell apart from the original: they change only how much storage is kept
 * or how fast, never what a caller sees. Listed by module, compiled line and mutation, each with
 * why; the score leaves them out. A line that changes drops out of this list by itself.
 */
const EQUIVALENT: { module: string; code: string; mutation: string; why: string }[] = [
  ...["this.capacity > 0 → true", "> → >=", "0 → 1", "4 → 3", "4 → 5"].map((mutation) => ({
    module: "src/core/ring.js",
    code: "this.items = new Array(this.capacity > 0 ? Math.min(this.capacity, 4) : 4);",
    mutation,
    why: "clear(): the storage a cleared ring starts with; it grows as needed",
  })),
  { module: "src/core/ring.js", code: "const slots = capacity > 0 ? Math.min(capacity, initialSlots) : initialSlots;", mutation: "capacity > 0 → true", why: "an unbounded ring starts with one slot instead of four and grows" },
  ...["64 → 63", "64 → 65"].map((mutation) => ({ module: "src/bitrix-push2/protobuf.js", code: "buf = Buffer.allocUnsafe(64);", mutation, why: "the writer's first buffer size; it grows" })),
  { module: "src/bitrix-push2/protobuf.js", code: "if (this.length + bytes <= this.buf.length)", mutation: "<= → <", why: "grows one byte early" },
  ...["* → /", "2 → 1", "2 → 3"].map((mutation) => ({
    module: "src/bitrix-push2/protobuf.js",
    code: "const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + bytes));",
    mutation,
    why: "growth factor: the second term of the max always leaves room",
  })),
  ...["10 → 9", "10 → 11"].map((mutation) => ({ module: "src/bitrix-push2/protobuf.js", code: "this.room(10);", mutation, why: "a JS number below 2^53 takes 8 varint bytes at most" })),
  { module: "src/bitrix-push2/protobuf.js", code: "this.room(4);", mutation: "4 → 5", why: "one spare byte of room" },
  { module: "src/bitrix-push2/protobuf.js", code: "const field = key >>> 3;", mutation: ">>> → >>", why: "a key of 2^31 or more gives a negative field number instead of one above 2^28: both are unknown and skipped" },
  { module: "src/bitrix-push2/protobuf.js", code: "this.room(4);", mutation: "4 → 3", why: "the key written just before reserved 10 bytes of room" },
  { module: "src/bitrix-push2/protobuf.js", code: "return new Writer().bytesField(1, response, true).finish();", mutation: "true → false", why: "the response holds at least its own field tag: never empty" },
  { module: "src/core/mid.js", code: "return Number(midText(mid).slice(10));", mutation: "10 → 11", why: "drops a leading zero of the counter until it passes 10^15 publishes" },
  ...["4 → 3", "4 → 5"].map((mutation) => ({ module: "src/core/ring.js", code: "constructor(capacity = 0, initialSlots = 4) {", mutation, why: "the initial storage; it grows" })),
  { module: "src/core/ring.js", code: "const slots = capacity > 0 ? Math.min(capacity, initialSlots) : initialSlots;", mutation: "> → >=", why: "an unbounded ring starts with one slot and grows" },
  { module: "src/core/percent.js", code: 'if (!value.includes("%"))', mutation: '!value.includes("%") → false', why: "the fast path: decoding a value without % returns it unchanged" },
  ...["+ → -", "< → <=", "2 → 1"].map((mutation) => ({
    module: "src/core/percent.js",
    code: "if (c === 0x25 && i + 2 < bytes.length && isHex(bytes[i + 1]) && isHex(bytes[i + 2])) {",
    mutation,
    why: "past the end the byte is undefined, which isHex refuses anyway",
  })),
  { module: "src/core/percent.js", code: "return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;", mutation: "0x39 → 58", why: "hexValue only sees hex digits, and ':' is none" },
  { module: "src/core/ring.js", code: "this.head = 0;", mutation: "0 → 1", why: "clear(): an empty ring may start anywhere in its storage" },
  { module: "src/core/ring.js", code: "let next = size * 2;", mutation: "2 → 3", why: "growth factor" },
  { module: "src/core/ring.js", code: "if (this.capacity > 0)", mutation: "0 → 1", why: "grow() never runs for capacity 1: one slot is allocated at once" },
  { module: "src/core/ring.js", code: "for (let i = 0; i < this.count; i++)", mutation: "< → <=", why: "grow() copies one stale slot past the end, which the push that caused the growth overwrites" },
];

function isEquivalent(module: string, code: string, mutation: string): boolean {
  return EQUIVALENT.some((e) => e.module === module && e.code === code && e.mutation === mutation);
}

interface Options {
  only: string[];
  timeoutMs: number;
  workers: number;
}

function parseOptions(args: string[]): Options {
  const value = (name: string): string | undefined => {
    const at = args.indexOf(name);
    return at >= 0 ? args[at + 1] : undefined;
  };
  return {
    only: value("--only")?.split(",").filter(Boolean) ?? [],
    timeoutMs: Number(value("--timeout") ?? 30) * 1000,
    workers: Number(value("--workers") ?? availableParallelism()),
  };
}

/**
 * Runs unit test files under `root` (a copy of build/), one process per file and each file
 * directly (not through `node --test`, whose per-file children would outlive a killed runner):
 * "killed" at the first file that fails or hangs, "survived" when all pass.
 */
async function runTests(root: string, tests: string[], timeoutMs: number): Promise<"killed" | "survived"> {
  for (const name of tests) {
    const passed = await new Promise<boolean>((resolve) => {
      const child = spawn(process.execPath, ["--test-reporter=dot", join(root, "test", "unit", `${name}.test.js`)], { stdio: "ignore" });
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        resolve(code === 0 && signal === null);
      });
    });
    if (!passed) return "killed";
  }
  return "survived";
}

interface Job {
  module: string;
  tests: string[];
  original: string;
  mutant: Mutant;
}

interface Tally {
  mutants: number;
  killed: number;
  equivalent: number;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const targets = Object.entries(TARGETS).filter(([path]) => options.only.length === 0 || options.only.some((word) => path.includes(word)));
  // One copy of the compiled tree per worker, inside build/ so that node_modules still resolves.
  const scratch = join(BUILD, ".mutate");
  rmSync(scratch, { recursive: true, force: true });
  const roots = Array.from({ length: Math.max(1, options.workers) }, (_, i) => join(scratch, `w${i}`));
  for (const root of roots) {
    cpSync(join(BUILD, "src"), join(root, "src"), { recursive: true });
    cpSync(join(BUILD, "test"), join(root, "test"), { recursive: true });
  }
  process.on("SIGINT", () => {
    rmSync(scratch, { recursive: true, force: true });
    process.exit(130);
  });
  const started = Date.now();
  const jobs: Job[] = [];
  const tallies = new Map<string, Tally>();
  for (const [module, tests] of targets) {
    const original = readFileSync(join(BUILD, module), "utf8");
    if ((await runTests(roots[0]!, tests, options.timeoutMs)) !== "survived") throw new Error(`the unit tests of ${module} fail without a mutant: fix them first`);
    const mutants = mutantsOf(original, module);
    tallies.set(module, { mutants: mutants.length, killed: 0, equivalent: 0 });
    for (const mutant of mutants) jobs.push({ module, tests, original, mutant });
  }
  const survivors: string[] = [];
  let next = 0;
  const worker = async (root: string): Promise<void> => {
    for (let job = jobs[next++]; job; job = jobs[next++]) {
      const { module, original, mutant } = job;
      const file = join(root, module);
      const code = original.split("\n")[mutant.line - 1]!.trim();
      const tally = tallies.get(module)!;
      if (isEquivalent(module, code, mutant.description)) {
        tally.equivalent++;
        continue;
      }
      writeFileSync(file, original.slice(0, mutant.start) + mutant.replacement + original.slice(mutant.end));
      const outcome = await runTests(root, job.tests, options.timeoutMs);
      writeFileSync(file, original);
      if (outcome === "killed") {
        tally.killed++;
        continue;
      }
      const line = sourceLine(join(BUILD, module), mutant.line, mutant.column);
      survivors.push(`survived ${module.replace(/\.js$/, ".ts")}:${line ?? `${mutant.line} (compiled)`} ${mutant.description} :: ${code}`);
    }
  };
  await Promise.all(roots.map(worker));
  rmSync(scratch, { recursive: true, force: true });

  for (const line of survivors.sort((a, b) => a.localeCompare(b, "en", { numeric: true }))) console.log(line);
  const percent = (t: Tally): string => (t.mutants - t.equivalent === 0 ? "—" : `${((100 * t.killed) / (t.mutants - t.equivalent)).toFixed(1)} %`);
  const all: Tally = { mutants: 0, killed: 0, equivalent: 0 };
  console.log("\n| module | mutants | equivalent | killed | score |\n| --- | --- | --- | --- | --- |");
  for (const [module, t] of tallies) {
    console.log(`| ${module.replace(/\.js$/, ".ts")} | ${t.mutants} | ${t.equivalent} | ${t.killed} | ${percent(t)} |`);
    all.mutants += t.mutants;
    all.killed += t.killed;
    all.equivalent += t.equivalent;
  }
  console.log(`| all | ${all.mutants} | ${all.equivalent} | ${all.killed} | ${percent(all)} |`);
  console.log(`mutate: ${all.killed} of ${all.mutants - all.equivalent} non-equivalent mutants killed (${percent(all)}) in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

main().catch((error: unknown) => {
  console.error(`mutate: ${(error as Error).message}`);
  process.exit(1);
});
