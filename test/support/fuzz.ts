import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Prng } from "./prng.js";

/**
 * A small fuzzing loop without dependencies: seeded (a run is reproduced by its seed), the kept
 * corpus replayed first, inputs that reach a new outcome kept in memory and mutated further
 * (outcome feedback instead of coverage), every failing input written to the corpus.
 *
 * Budget: PUSHWIRE_FUZZ_SECONDS (a time budget, for long runs) or PUSHWIRE_FUZZ_RUNS (executions);
 * without either, the target's CI count. PUSHWIRE_FUZZ_SEED picks the seed (default: fixed, so CI
 * runs the same inputs every time; "random" for a fresh one, printed).
 */

/** The kept corpus: test/fuzz-corpus/<target>/ in the source tree (tests run from build/test/…). */
export const CORPUS_DIR = join(__dirname, "..", "..", "..", "test", "fuzz-corpus");

export interface FuzzOutcome {
  /** What went wrong, or undefined when the input passed every check. */
  failure?: string | undefined;
  /** A short name for what the input led to; a name not seen before keeps the input for mutation. */
  feature: string;
}

export interface FuzzTarget {
  /** The corpus folder and the name in reports. */
  name: string;
  /** Executions when no budget is given in the environment: a few seconds on the CI box. */
  ciRuns: number;
  /** Inputs checked at once (an asynchronous check waits less in batches); default 1. */
  batch?: number;
  /** A fresh input built from the grammar of the format. */
  generate(rng: Prng): Buffer;
  /** Byte strings worth inserting when mutating (separators, keywords, boundary lengths). */
  dictionary: readonly Buffer[];
  check(input: Buffer, rng: Prng): FuzzOutcome | Promise<FuzzOutcome>;
}

export interface FuzzFailure {
  input: Buffer;
  failure: string;
  /** The corpus file it was written to ("" for a corpus input that failed on replay). */
  file: string;
}

export interface FuzzReport {
  seed: number;
  runs: number;
  seconds: number;
  perSecond: number;
  /** Files in the kept corpus after the run. */
  corpusSize: number;
  /** Distinct outcomes reached (the in-memory pool). */
  features: number;
  failures: FuzzFailure[];
}

/** Failures written per run at most: one bug tends to fail thousands of inputs. */
const MAX_FAILURES = 5;

export function fuzzSeed(): number {
  const given = process.env.PUSHWIRE_FUZZ_SEED;
  if (given === "random") return (Math.random() * 0x1_0000_0000) >>> 0;
  if (given && /^\d+$/.test(given)) return Number(given) >>> 0;
  return 20_261_204;
}

/** Replays the corpus, then fuzzes within the budget. */
export async function fuzz(target: FuzzTarget): Promise<FuzzReport> {
  const dir = join(CORPUS_DIR, target.name);
  const seed = fuzzSeed();
  const rng = new Prng(seed);
  const pool: Buffer[] = [];
  const features = new Set<string>();
  const failures: FuzzFailure[] = [];
  const keep = (input: Buffer, outcome: FuzzOutcome): void => {
    if (features.has(outcome.feature)) return;
    features.add(outcome.feature);
    pool.push(input);
  };

  for (const file of corpusFiles(dir)) {
    const input = readFileSync(join(dir, file));
    const outcome = await target.check(input, rng);
    if (outcome.failure) failures.push({ input, failure: outcome.failure, file: "" });
    keep(input, outcome);
  }

  const seconds = Number(process.env.PUSHWIRE_FUZZ_SECONDS ?? 0);
  const runs = seconds > 0 ? Infinity : Number(process.env.PUSHWIRE_FUZZ_RUNS ?? target.ciRuns);
  const started = performance.now();
  const until = seconds > 0 ? started + seconds * 1000 : Infinity;
  let done = 0;
  const batch = target.batch ?? 1;
  while (done < runs && failures.length < MAX_FAILURES && performance.now() < until) {
    const inputs: Buffer[] = [];
    for (let n = Math.min(batch, runs - done); n > 0; n--) {
      inputs.push(pool.length > 0 && rng.chance(0.5) ? mutate(rng, rng.pick(pool), pool, target.dictionary) : target.generate(rng));
    }
    const outcomes = await Promise.all(inputs.map((input) => target.check(input, rng)));
    inputs.forEach((input, i) => {
      const outcome = outcomes[i]!;
      keep(input, outcome);
      if (outcome.failure && failures.length < MAX_FAILURES) failures.push({ input, failure: outcome.failure, file: save(dir, input) });
    });
    done += inputs.length;
  }
  const elapsed = (performance.now() - started) / 1000;
  return {
    seed,
    runs: done,
    seconds: elapsed,
    perSecond: Math.round(done / Math.max(elapsed, 1e-3)),
    corpusSize: corpusFiles(dir).length,
    features: features.size,
    failures,
  };
}

/** One line for the test log. */
export function describeReport(name: string, report: FuzzReport): string {
  return `${name}: ${report.runs} executions in ${report.seconds.toFixed(1)} s (${report.perSecond}/s), seed ${report.seed}, ` +
    `${report.features} distinct outcomes, corpus ${report.corpusSize} files`;
}

/** The failures as an assertion message: where each input was kept and what it was. */
export function describeFailures(failures: readonly FuzzFailure[]): string {
  return failures
    .map((f) => `${f.file ? `kept as ${f.file}` : "corpus input"}: ${f.failure}\n  input ${JSON.stringify(f.input.toString("latin1"))}`)
    .join("\n");
}

function corpusFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((name) => !name.startsWith(".")).sort() : [];
}

function save(dir: string, input: Buffer): string {
  mkdirSync(dir, { recursive: true });
  const name = `${createHash("sha1").update(input).digest("hex").slice(0, 16)}.bin`;
  writeFileSync(join(dir, name), input);
  return join("test", "fuzz-corpus", dir.split(/[\\/]/).pop()!, name);
}

/** Interesting single bytes: line ends, separators, controls, the edges of ASCII. */
const INTERESTING = [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x2c, 0x3a, 0x3b, 0x7f, 0x80, 0xff];

/** One to four byte-level edits of `input`: flips, interesting bytes, dictionary words, cuts, copies, splices. */
export function mutate(rng: Prng, input: Buffer, pool: readonly Buffer[], dictionary: readonly Buffer[]): Buffer {
  let bytes = Buffer.from(input);
  for (let edits = rng.between(1, 4); edits > 0; edits--) {
    const at = rng.below(bytes.length + 1);
    switch (rng.below(8)) {
      case 0:
        if (at < bytes.length) bytes[at] = bytes[at]! ^ (1 << rng.below(8));
        break;
      case 1:
        if (at < bytes.length) bytes[at] = rng.pick(INTERESTING);
        break;
      case 2:
        if (at < bytes.length) bytes[at] = rng.below(256);
        break;
      case 3:
        if (dictionary.length) bytes = Buffer.concat([bytes.subarray(0, at), rng.pick(dictionary), bytes.subarray(at)]);
        break;
      case 4:
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + rng.between(1, 16)))]);
        break;
      case 5: {
        const from = rng.below(bytes.length + 1);
        const piece = bytes.subarray(from, from + rng.between(1, 32));
        bytes = Buffer.concat([bytes.subarray(0, at), piece, bytes.subarray(at)]);
        break;
      }
      case 6: {
        const other = rng.pick(pool);
        const from = rng.below(other.length + 1);
        bytes = Buffer.concat([bytes.subarray(0, at), other.subarray(from)]);
        break;
      }
      default:
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([rng.pick(INTERESTING)]), bytes.subarray(at)]);
    }
  }
  return bytes;
}
