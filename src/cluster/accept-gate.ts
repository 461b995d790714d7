/**
 * Descriptors a worker keeps free under its open-file limit: it stops accepting there, so that
 * new connections go to the other workers (a process at its limit accepts and closes them
 * unanswered) and the worker keeps descriptors for its own files and sockets.
 */
export function limitHeadroom(limit: number): number {
  return Math.max(64, Math.ceil(limit / 100));
}

/**
 * Whether a worker accepts new connections, from its descriptors in use against its open-file
 * limit. With node:cluster's "none" scheduling the kernel gives a new connection to whichever
 * worker accepts first, unevenly; a worker within `limitHeadroom` of its limit stops, the others
 * take the new connections, and it starts again once twice the headroom is free (the gap keeps
 * it from flapping). Only its own count decides: the others' counts reach it up to a second late,
 * and workers that all stopped on stale counts would close the shared port.
 */
export class AcceptGate {
  accepting = true;

  constructor(readonly limit: number) {}

  /** The descriptor count at which the worker stops. */
  get pauseAt(): number {
    return this.limit - limitHeadroom(this.limit);
  }

  /** Decides from the descriptors in use now; returns whether the worker should accept. */
  update(inUse: number): boolean {
    this.accepting = this.accepting ? inUse < this.pauseAt : inUse < this.limit - 2 * limitHeadroom(this.limit);
    return this.accepting;
  }
}
