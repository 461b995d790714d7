import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { HolderCommand, HolderReport } from "./holder.js";
import { cpuSeconds } from "./proc-stats.js";

/**
 * The parent side of the holder processes: spreads sockets over several children (each process
 * may open at most 20000 files), sends each the same command and gathers their answers.
 */
export class Holders {
  private readonly children: ChildProcess[] = [];

  constructor(processes: number) {
    for (let i = 0; i < processes; i++) {
      this.children.push(fork(join(__dirname, "holder.js"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
    }
  }

  /**
   * Opens `count` long-polls (or WebSockets) to `path` (where `{i}` becomes the socket's index
   * 0…count-1), dealt round-robin in blocks over the children. Resolves with how many connected
   * (a WebSocket's handshake may still be under way: see report().upgraded).
   */
  async open(port: number, path: string, count: number, websocket = false): Promise<number> {
    const share = Math.ceil(count / this.children.length);
    const answers = await Promise.all(this.children.map((child, k) => {
      const from = k * share;
      const n = Math.max(0, Math.min(share, count - from));
      return this.ask<{ opened: number }>(child, { op: "open", port, path, from, count: n, websocket }, "opened", 90_000);
    }));
    return answers.reduce((sum, a) => sum + a.opened, 0);
  }

  async arm(): Promise<void> {
    await Promise.all(this.children.map((c) => this.ask(c, { op: "arm" }, "armed")));
  }

  async follow(): Promise<void> {
    await Promise.all(this.children.map((c) => this.ask(c, { op: "follow" }, "following")));
  }

  /** Every child's report merged: counts summed, earliest first and latest last delivery. */
  async report(): Promise<HolderReport> {
    const reports = await Promise.all(this.children.map((c) => this.ask<HolderReport>(c, { op: "report" }, "report")));
    const merged: HolderReport = { op: "report", sockets: 0, upgraded: 0, delivered: 0, failed: 0, firstNs: 0, lastNs: 0, latenciesNs: [] };
    for (const r of reports) {
      merged.sockets += r.sockets;
      merged.upgraded += r.upgraded;
      merged.delivered += r.delivered;
      merged.failed += r.failed;
      if (r.firstNs && (!merged.firstNs || r.firstNs < merged.firstNs)) merged.firstNs = r.firstNs;
      if (r.lastNs > merged.lastNs) merged.lastNs = r.lastNs;
      for (const l of r.latenciesNs) merged.latenciesNs.push(l);
    }
    return merged;
  }

  /** Polls the reports until `count` deliveries (or failures) are in, or the deadline passes. */
  async waitDelivered(count: number, deadlineMs: number): Promise<HolderReport> {
    const until = Date.now() + deadlineMs;
    for (;;) {
      const report = await this.report();
      if (report.delivered + report.failed >= count || Date.now() > until) return report;
      await sleep(50);
    }
  }

  async closeSockets(): Promise<void> {
    await Promise.all(this.children.map((c) => this.ask(c, { op: "close" }, "closed")));
  }

  /** CPU seconds the holder processes have used so far (reading answers takes cores the server could use). */
  cpuSeconds(): number {
    let total = 0;
    for (const child of this.children) if (child.pid !== undefined && child.exitCode === null) total += cpuSeconds(child.pid);
    return total;
  }

  stop(): void {
    for (const child of this.children) child.kill();
  }

  private ask<T>(child: ChildProcess, command: HolderCommand, answer: string, timeoutMs = 20_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const fail = (why: string): void => {
        clearTimeout(timer);
        child.off("message", onMessage);
        child.off("exit", onExit);
        reject(new Error(`holder ${why} (${command.op})`));
      };
      const timer = setTimeout(() => fail(`did not answer in ${timeoutMs} ms`), timeoutMs);
      const onExit = (): void => fail("exited");
      const onMessage = (message: { op: string }): void => {
        if (message.op !== answer) return;
        clearTimeout(timer);
        child.off("message", onMessage);
        child.off("exit", onExit);
        resolve(message as T);
      };
      child.on("message", onMessage);
      child.once("exit", onExit);
      child.send(command);
    });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
