import cluster, { type Worker } from "node:cluster";
import type { Logger } from "../log.js";

/** Environment a worker process finds its place by. */
export const WORKER_ENV = "PUSHWIRE_WORKER";
export const SOCKET_ENV = "PUSHWIRE_CLUSTER_SOCKET";
/** What a worker sends the primary once its listeners are open. */
export const STARTED_MESSAGE = "pushwire:started";
/** What the primary sends a worker to stop it gracefully (a signal could be its second: systemd signals every process). */
export const STOP_MESSAGE = "pushwire:stop";

/** A worker that dies within this of its start is restarted after a growing pause (a crash loop must not spin). */
const QUICK_DEATH_MS = 10_000;
const MAX_RESTART_PAUSE_MS = 5_000;
/** After a graceful stop's grace, workers still running get this long before SIGKILL. */
const KILL_AFTER_GRACE_MS = 5_000;

interface Slot {
  index: number;
  worker: Worker | undefined;
  started: boolean;
  /** Served once: a later death is restarted, whatever stage it came at. */
  served: boolean;
  startedAt: number;
  quickDeaths: number;
}

/**
 * How new connections reach the workers. "kernel" (node:cluster's SCHED_NONE, the default here):
 * every worker accepts on the shared socket and the kernel wakes one; a worker near its
 * open-file limit stops accepting (AcceptGate) so the others take the new connections. "round-robin" (Node's own default,
 * NODE_CLUSTER_SCHED_POLICY=rr): the primary accepts each connection and passes it on, one IPC
 * round trip each; it halves the one-connection-per-request rate, and in a burst the primary
 * holds the connections not yet passed, up to its own open-file limit, where it closes the rest
 * (bench/workers.ts: 30k of 70k held). An explicit NODE_CLUSTER_SCHED_POLICY is obeyed.
 */
export function chooseScheduling(): Scheduling {
  // Bun: every worker opens its own socket on the port with SO_REUSEPORT; the kernel spreads by hash.
  if ((process.versions as Record<string, string | undefined>).bun) return "reuseport";
  if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = cluster.SCHED_NONE;
  return cluster.schedulingPolicy === cluster.SCHED_NONE ? "kernel" : "round-robin";
}

export type Scheduling = "kernel" | "round-robin" | "reuseport";

/**
 * Forks the worker processes (node:cluster: they share the listening sockets; see
 * chooseScheduling), restarts one that dies, and passes on reloads and stops.
 */
export class Supervisor {
  private readonly slots: Slot[];
  private stopping = false;
  /** Set by start(): how connections reach the workers. */
  scheduling: Scheduling = "kernel";
  private readonly exited = new Set<() => void>();

  constructor(
    count: number,
    private readonly socketPath: string,
    private readonly log: Logger,
  ) {
    this.slots = Array.from({ length: count }, (_, index) => ({ index: index + 1, worker: undefined, started: false, served: false, startedAt: 0, quickDeaths: 0 }));
  }

  /** Process ids of the running workers, by worker number. */
  get pids(): number[] {
    return this.slots.map((slot) => slot.worker?.process.pid ?? 0);
  }

  /**
   * Forks every worker; resolves once each has opened its listeners. If one exits first (it
   * cannot listen, its configuration is refused), the others are stopped and this rejects with
   * that worker's exit code.
   */
  start(): Promise<void> {
    this.scheduling = chooseScheduling();
    return new Promise((resolve, reject) => {
      let waiting = this.slots.length;
      for (const slot of this.slots) {
        this.fork(slot, () => {
          if (--waiting === 0) resolve();
        }, (code) => {
          void this.stop(0).then(() => reject(code));
        });
      }
    });
  }

  /** Each worker re-reads the configuration and certificates (SIGHUP). */
  reload(): void {
    for (const slot of this.slots) slot.worker?.process.kill("SIGHUP");
  }

  /** A stop to every worker (each answers its held subscribers and exits); SIGKILL to any left after the grace. */
  stop(graceMs: number): Promise<void> {
    this.stopping = true;
    const running = this.slots.filter((slot) => slot.worker && !slot.worker.isDead());
    if (running.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.slots.every((slot) => !slot.worker || slot.worker.isDead())) {
          clearTimeout(kill);
          this.exited.delete(check);
          resolve();
        }
      };
      const kill = setTimeout(() => {
        for (const slot of this.slots) if (slot.worker && !slot.worker.isDead()) slot.worker.process.kill("SIGKILL");
      }, graceMs + KILL_AFTER_GRACE_MS);
      this.exited.add(check);
      for (const slot of running) {
        const worker = slot.worker!;
        // A worker that is exiting by itself (it could not listen either) may have closed its channel
        // already: the send then fails, and SIGTERM does the same.
        if (worker.isConnected()) worker.send(STOP_MESSAGE, (error: Error | null) => error && worker.process.kill("SIGTERM"));
        else worker.process.kill("SIGTERM");
      }
      check();
    });
  }

  private fork(slot: Slot, started: () => void, failed: (code: number) => void): void {
    const worker = cluster.fork({ [WORKER_ENV]: String(slot.index), [SOCKET_ENV]: this.socketPath });
    slot.worker = worker;
    slot.started = false;
    slot.startedAt = Date.now();
    // The IPC channel of a dying worker can fail a write (EPIPE); its exit is handled below.
    worker.on("error", (error: Error) => this.log.debug(`workers: worker ${slot.index}: ${error.message}`));
    worker.on("message", (message: unknown) => {
      if (message !== STARTED_MESSAGE || slot.started) return;
      slot.started = true;
      slot.served = true;
      started();
    });
    worker.on("exit", (code: number | null, signal: string | null) => {
      for (const check of [...this.exited]) check();
      if (this.stopping) return;
      const how = signal ? `signal ${signal}` : `code ${code}`;
      if (!slot.served) {
        this.log.error(`workers: worker ${slot.index} pid ${worker.process.pid} exited with ${how} before it could serve`);
        return failed(code || 70);
      }
      slot.quickDeaths = Date.now() - slot.startedAt < QUICK_DEATH_MS ? slot.quickDeaths + 1 : 0;
      const pause = slot.quickDeaths === 0 ? 0 : Math.min(MAX_RESTART_PAUSE_MS, 100 * 2 ** slot.quickDeaths);
      this.log.warn(`workers: worker ${slot.index} pid ${worker.process.pid} exited with ${how}; restarting it${pause ? ` in ${pause} ms` : ""} (its clients reconnect to the others meanwhile)`);
      setTimeout(() => {
        if (this.stopping) return;
        this.fork(slot, () => this.log.info(`workers: worker ${slot.index} restarted pid ${slot.worker?.process.pid}`), failed);
      }, pause).unref();
    });
  }
}
