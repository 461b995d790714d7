/**
 * Loaded into the server under soak with `node -r build/bench/soak-probe.js --expose-gc
 * dist/pushwire.js …`: on the IPC message "sample" it collects garbage and answers what only the
 * process itself can see — V8 heap in use and the libuv handles and requests keeping it alive.
 * Its channel does not keep the server alive.
 */

export interface ProbeSample {
  heapUsed: number;
  /** Memory outside the V8 heap held by JS objects: Buffers and ArrayBuffers. */
  external: number;
  /** process.getActiveResourcesInfo(): sockets, servers, timers, fs requests… */
  handles: number;
  /** The same, counted by kind ("TCPSocketWrap": 40, …). */
  kinds: Record<string, number>;
}

if (process.send) {
  process.on("message", (message: unknown) => {
    if (message !== "sample") return;
    (globalThis as { gc?: () => void }).gc?.();
    const kinds: Record<string, number> = {};
    const resources = process.getActiveResourcesInfo();
    for (const kind of resources) kinds[kind] = (kinds[kind] ?? 0) + 1;
    const memory = process.memoryUsage();
    const sample: ProbeSample = { heapUsed: memory.heapUsed, external: memory.external, handles: resources.length, kinds };
    process.send!(sample);
  });
  process.channel?.unref(); // after the listener, which refs the channel
}
