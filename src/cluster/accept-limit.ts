import type { EventEmitter } from "node:events";
import type { OpenFilesView } from "../context.js";
import type { Logger } from "../log.js";
import { AcceptGate } from "./accept-gate.js";

/** How often a stopped worker looks whether it may accept again. */
const CHECK_EVERY_MS = 250;

/** The worker's side the gate drives (app.ts PushServer). */
export interface Acceptor {
  readonly accepting: boolean;
  readonly listeners: ReadonlyArray<{ server: EventEmitter }>;
  pauseAccepting(): void;
  resumeAccepting(): Promise<void>;
}

/**
 * Drives a worker's AcceptGate: checks the descriptors in use on every accept (a burst must not
 * run a worker into its limit between two checks) and every 250 ms, stopping or resuming the
 * listeners. Nothing to do where the system does not say the limit. Returns the function that
 * stops it.
 */
export function stopAcceptingNearFileLimit(acceptor: Acceptor, files: OpenFilesView | undefined, log: Logger): () => void {
  if (files?.limit === undefined) return () => {};
  const gate = new AcceptGate(files.limit);
  const decide = (): void => {
    const was = gate.accepting;
    if (gate.update(files.inUse) === was && acceptor.accepting === was) return;
    if (gate.accepting) void acceptor.resumeAccepting();
    else acceptor.pauseAccepting();
    if (gate.accepting === was) return;
    log.info(gate.accepting
      ? `accepting new connections again: ${files.inUse} of ${files.limit} descriptors in use`
      : `not accepting new connections for now: ${files.inUse} of ${files.limit} descriptors in use (the other workers take them; raise LimitNOFILE or add workers)`);
  };
  const onAccepted = (): void => {
    if (files.inUse >= gate.pauseAt) decide();
  };
  for (const { server } of acceptor.listeners) server.on("connection", onAccepted);
  const timer = setInterval(decide, CHECK_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
