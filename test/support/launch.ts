import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { sleep } from "./helpers.js";

/** The built single file, exactly what an admin copies to a server. */
export const BUNDLE = join(__dirname, "..", "..", "..", "dist", "pushwire.js");

export interface Launched {
  child: ChildProcess;
  /** Bound ports in listener order, read from the start-up log line. */
  ports: number[];
  /** Everything printed so far (stdout and stderr interleaved). */
  output(): string;
  /** Waits until the output matches `pattern` after `from` characters; returns the match. */
  waitFor(pattern: RegExp, ms?: number, from?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
  /** SIGTERM, and the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `dist/pushwire.js` with `command` (node by default; bun or deno for the runtime suite)
 * and `env` added to this process's environment, and waits for its "started" line.
 */
export async function launch(args: string[], command: string[] = [process.execPath], env: Record<string, string> = {}): Promise<Launched> {
  const [program, ...pre] = command;
  const child = spawn(program!, [...pre, BUNDLE, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let out = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const waitFor = async (pattern: RegExp, ms = 5000, from = 0): Promise<RegExpMatchArray> => {
    const until = Date.now() + ms;
    for (;;) {
      const match = out.slice(from).match(pattern);
      if (match) return match;
      if (Date.now() > until || child.exitCode !== null) throw new Error(`no ${pattern} in the output of pushwire:\n${out}`);
      await sleep(10);
    }
  };
  try {
    await waitFor(/ started /, 15_000);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  const startLine = out.split("\n").find((line) => / started /.test(line))!;
  const ports = [...startLine.matchAll(/:(\d+) \[/g)].map((m) => Number(m[1]));
  return {
    child,
    ports,
    output: () => out,
    waitFor,
    exited,
    stop: () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}
