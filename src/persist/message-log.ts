import { closeSync, fdatasync, fdatasyncSync, fstatSync, openSync, promises, statSync, unlinkSync, writeSync } from "node:fs";
import { promisify } from "node:util";
import { join } from "node:path";
import type { FsyncPolicy, MessageLogConfig } from "../config/schema.js";
import { LatencyHistogram } from "../core/latency-histogram.js";
import { Refusal } from "../core/refusal.js";
import type { Logger } from "../log.js";
import type { Channel } from "../store/channel.js";
import { listLogFiles, segmentName, snapshotName, TEMP_SUFFIX, unlockDirectory } from "./log-files.js";
import { RecordBuffer } from "./record.js";

/**
 * The configuration's messageLog. When a publish is answered, relative to the disk (fsync):
 * - "always": after its record was written and fdatasync'd on the event loop;
 * - "batch": after the same, the fdatasync in the thread pool, shared by the records of one write;
 * - "off": after its record was written (to the page cache); the OS flushes when it likes.
 * A segment is closed and the next begun at segmentSize bytes.
 */
export interface MessageLogSettings extends MessageLogConfig {
  /** The log is compacted only beyond this size (and beyond twice the live data). */
  compactMinBytes?: number | undefined;
}

/** Answered once what was appended before it is as durable as the policy promises; `failure` when it cannot be. */
export type DurableCallback<T> = (arg: T, failure: Refusal | undefined) => void;

/** What compaction writes: the live channels and the counters as they stand when it begins. */
export interface SnapshotSource {
  channels(): Channel[];
  /** The publish clock and last mid now. */
  clock(): { time: number; tag: number; seq: number; mid: Buffer | undefined };
}

const DEFAULT_COMPACT_MIN_BYTES = 16 * 1024 * 1024;
/** Compaction writes at most this long per event-loop turn. */
const COMPACT_SLICE_MS = 3;
const COMPACT_WRITE_BYTES = 1024 * 1024;
const promisified = { fdatasync: promisify(fdatasync), rename: promises.rename, open: promises.open, unlink: promises.unlink };

/** batch: fdatasyncs running at once (the runtime's thread pool has 4 threads by default). */
const MAX_SYNCS = 2;

/**
 * The append side of the message log: records are encoded into one buffer as messages are
 * published, written with one write per event-loop turn (group commit), and fdatasync'd as the
 * policy says; callers that answer a publish wait with `whenDurable`. A failed write (disk full,
 * file too large) answers the waiters with a refusal, marks the log failed (publishes are refused
 * up front) and is retried by `retry()` until the disk takes the bytes again.
 *
 * Segments rotate at `segmentSize`; when the log outgrows twice the live data, a snapshot of the
 * live state is written in slices of a few milliseconds and the segments before it are deleted.
 */
export class MessageLog {
  readonly records = new RecordBuffer();
  readonly fsyncLatency = new LatencyHistogram();
  /** The current refusal, while writes fail. */
  failure: Refusal | undefined;
  /** Bytes of the snapshot and segments on disk (what replay would read). */
  logBytes = 0;
  segments = 0;
  compactions = 0;
  /** Seconds the start-up replay took (set by the replay). */
  replaySeconds = 0;

  private fd: number;
  private segmentIndex: number;
  private segmentBytes = 0;
  private readonly syncAfterWrite: boolean;
  private flushScheduled = false;
  private closed = false;
  /** Waiters for records not yet written. */
  private readonly waiting = new Waiters();
  /** batch: waiters for records written, not yet covered by an fdatasync. */
  private readonly unsynced = new Waiters();
  /** batch: written bytes no fdatasync covers yet. */
  private dirty = false;
  /** batch: fdatasyncs running now (in the runtime's thread pool). */
  private syncsInFlight = 0;
  private readonly closeAfterSync: number[] = [];
  /** After a failed rotation (no descriptor left), when to try again (performance.now() ms). */
  private nextRotationAttempt = 0;
  private compaction: Compaction | undefined;
  private readonly flushNow = (): void => this.flush();

  constructor(
    private readonly settings: MessageLogSettings,
    public epoch: string,
    firstSegment: number,
    private readonly log: Logger,
    private readonly source: SnapshotSource,
  ) {
    this.syncAfterWrite = settings.fsync === "always";
    this.segmentIndex = firstSegment;
    this.fd = this.openSegment(firstSegment);
    this.segmentBytes = fstatSync(this.fd).size;
    // Every segment begins with the epoch: replay takes the last one it reads.
    this.records.epoch(epoch);
    this.changed();
    this.measureFiles();
  }

  /** Records were added to `records`: they are written at the end of this event-loop turn. */
  changed(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    setImmediate(this.flushNow);
  }

  /** Calls `then(arg, failure)` once everything appended so far is durable (or could not be written). */
  whenDurable<T>(then: DurableCallback<T>, arg: T): void {
    if (this.failure) return then(arg, this.failure);
    this.waiting.add(then, arg);
    this.changed();
  }

  /** Writes what is buffered; answers or hands on the waiters as the policy says. */
  flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    // A failure answers every waiter with its refusal.
    if (!this.write()) return;
    if (this.syncAfterWrite && this.dirty && !this.syncNow()) return;
    if (this.settings.fsync === "batch") {
      this.waiting.moveTo(this.unsynced);
      this.startSync();
    } else {
      this.waiting.answer(undefined);
    }
    if (this.segmentBytes >= this.settings.segmentSize) this.rotate();
  }

  /** Tries the buffered bytes again after a failure (called every second): true once the log writes again. */
  retry(): boolean {
    const failure = this.failure;
    if (!failure || this.closed) return true;
    if (!this.write()) return false;
    if (this.settings.fsync !== "off" && !this.syncNow()) return false;
    this.failure = undefined;
    this.log.info(`message log: writing again after "${failure.explain}"`);
    return true;
  }

  /**
   * Compacts when the log holds more than twice what is live (and more than the minimum): a
   * snapshot of the live state is written in the background and the older files deleted.
   */
  maybeCompact(liveBytes: number): void {
    if (this.compaction || this.failure || this.closed) return;
    const threshold = Math.max(this.settings.compactMinBytes ?? DEFAULT_COMPACT_MIN_BYTES, 2 * liveBytes);
    if (this.logBytes > threshold) void this.compact();
  }

  /** Starts a compaction now (tests, and maybeCompact). Resolves when the old files are gone. */
  compact(): Promise<void> {
    if (this.compaction) return this.compaction.done;
    // Everything before this point is in segments below the new one; the snapshot stands for them.
    this.flush();
    if (this.failure || !this.rotate()) return Promise.resolve();
    const clock = this.source.clock();
    let compaction: Compaction;
    try {
      compaction = new Compaction(this, this.settings.path, this.segmentIndex, this.source.channels(), clock, this.epoch);
    } catch (error) {
      this.log.error(`message log: cannot begin a snapshot: ${(error as Error).message}`);
      return Promise.resolve();
    }
    this.compaction = compaction;
    compaction.done.then(() => {
      this.compaction = undefined;
      this.compactions++;
      this.measureFiles();
    }, (error: unknown) => {
      this.compaction = undefined;
      this.log.error(`message log: compaction failed: ${(error as Error).message}`);
    });
    return compaction.done;
  }

  /** Writes and syncs what is left, answers every waiter, closes the files. */
  close(): void {
    if (this.closed) return;
    this.flush();
    if (!this.failure && this.settings.fsync !== "off") this.syncNow();
    this.closed = true;
    this.compaction?.abandon();
    this.waiting.answer(this.failure ?? new Refusal(503, "Server is shutting down."));
    this.unsynced.answer(this.failure);
    closeSync(this.fd);
    unlockDirectory(this.settings.path);
  }

  /** Writes the buffer out; on failure keeps what was not written and refuses the waiters. */
  private write(): boolean {
    const { records } = this;
    let written = 0;
    let failure: NodeJS.ErrnoException | undefined;
    try {
      while (written < records.length) written += writeSync(this.fd, records.bytes, written, records.length - written);
    } catch (error) {
      failure = error as NodeJS.ErrnoException;
    }
    if (written > 0) {
      this.segmentBytes += written;
      this.logBytes += written;
      this.dirty = true;
      records.consume(written); // what a failure left unwritten stays for the retry
    }
    if (failure) this.fail(failure);
    return failure === undefined;
  }

  /**
   * batch: each write gets an fdatasync of its own, started at once — a publish never waits for
   * a sync that began before its record was written — with at most MAX_SYNCS running; writes made
   * meanwhile share the next. Concurrent fdatasyncs of one file share the file system's commit.
   */
  private startSync(): void {
    if (!this.dirty) {
      // Everything written is synced already (or being synced by a call that began after it).
      if (this.syncsInFlight === 0) this.unsynced.answer(undefined);
      return;
    }
    if (this.syncsInFlight >= MAX_SYNCS) return;
    this.syncsInFlight++;
    this.dirty = false;
    const batch = new SyncBatch(this);
    this.unsynced.moveTo(batch.waiters);
    fdatasync(this.fd, batch.done);
  }

  /** A batch's fdatasync ended: its waiters are answered, and the next batch may start. */
  synced(batch: SyncBatch, error: NodeJS.ErrnoException | null): void {
    this.syncsInFlight--;
    this.fsyncLatency.observe((performance.now() - batch.started) / 1000);
    if (this.syncsInFlight === 0) for (const fd of this.closeAfterSync.splice(0)) closeSync(fd);
    // After close() the file was synced there (and the descriptor closed under this call).
    if (this.closed) return batch.waiters.answer(this.failure);
    batch.waiters.answer(error ? this.fail(error) : undefined);
    this.startSync();
  }

  /** A synchronous fdatasync ("always", rotation, shutdown). */
  private syncNow(): boolean {
    const started = performance.now();
    try {
      fdatasyncSync(this.fd);
    } catch (error) {
      this.fail(error as NodeJS.ErrnoException);
      return false;
    }
    this.dirty = false;
    this.fsyncLatency.observe((performance.now() - started) / 1000);
    this.unsynced.answer(undefined);
    return true;
  }

  /**
   * Writing failed: from now on publishes are refused up front (`failure`); those already made
   * and waiting were delivered to this process's subscribers but are not kept on disk yet (their
   * records are retried with the rest), and are told so.
   */
  private fail(error: NodeJS.ErrnoException): Refusal {
    const status = error.code === "ENOSPC" || error.code === "EDQUOT" || error.code === "EFBIG" ? 507 : 503;
    const reason = `Message log cannot write (${error.code ?? error.message})`;
    const unsaved = new Refusal(status, `${reason}; the message was delivered but may not survive a restart.`);
    if (!this.failure) this.log.error(`message log: ${error.message}; publishes are refused until it can write again`);
    this.failure = new Refusal(status, `${reason}; publish refused.`);
    this.waiting.answer(unsaved);
    this.unsynced.answer(unsaved);
    return unsaved;
  }

  /**
   * Closes the segment (synced unless "off") and begins the next. The next is opened before the
   * current one is let go: when it cannot be (out of descriptors), writing goes on in the current
   * segment, and the rotation is tried again a second later. False when it did not rotate.
   */
  private rotate(): boolean {
    const now = performance.now();
    if (now < this.nextRotationAttempt) return false;
    if (this.settings.fsync !== "off" && this.dirty && !this.syncNow()) return false;
    let fd: number;
    try {
      fd = this.openSegment(this.segmentIndex + 1);
    } catch (error) {
      this.nextRotationAttempt = now + 1000;
      this.log.warn(`message log: cannot begin segment ${segmentName(this.segmentIndex + 1)} (${(error as Error).message}); writing on in ${segmentName(this.segmentIndex)}`);
      return false;
    }
    if (this.syncsInFlight > 0) this.closeAfterSync.push(this.fd);
    else closeSync(this.fd);
    this.fd = fd;
    this.segmentIndex++;
    this.segments++;
    this.segmentBytes = 0;
    this.records.epoch(this.epoch);
    this.changed();
    return true;
  }

  /** Opens (creates) segment `index`, its directory entry synced unless "off". */
  private openSegment(index: number): number {
    const fd = openSync(join(this.settings.path, segmentName(index)), "a");
    if (this.settings.fsync !== "off") syncDirectory(this.settings.path);
    return fd;
  }

  /** Sizes of the files on disk (at start and after a compaction). */
  private measureFiles(): void {
    const files = listLogFiles(this.settings.path);
    let bytes = 0;
    for (const index of files.segments) bytes += fileSize(join(this.settings.path, segmentName(index)));
    const snapshot = files.snapshots.at(-1);
    if (snapshot !== undefined) bytes += fileSize(join(this.settings.path, snapshotName(snapshot)));
    this.logBytes = bytes;
    this.segments = files.segments.length;
  }

  /** The snapshot `index` is complete: the files it stands for go. */
  async dropBefore(index: number): Promise<void> {
    const files = listLogFiles(this.settings.path);
    for (const segment of files.segments) if (segment < index) await promisified.unlink(join(this.settings.path, segmentName(segment)));
    for (const snapshot of files.snapshots) if (snapshot < index) await promisified.unlink(join(this.settings.path, snapshotName(snapshot)));
  }

  get policy(): FsyncPolicy {
    return this.settings.fsync;
  }
}

/** Publishes waiting for the disk: each callback beside its argument, so no closure is made per publish. */
class Waiters {
  private callbacks: DurableCallback<never>[] = [];
  private args: unknown[] = [];

  add<T>(then: DurableCallback<T>, arg: T): void {
    this.callbacks.push(then as DurableCallback<never>);
    this.args.push(arg);
  }

  /** Hands every waiter on to `other`. */
  moveTo(other: Waiters): void {
    for (let i = 0; i < this.callbacks.length; i++) {
      other.callbacks.push(this.callbacks[i]!);
      other.args.push(this.args[i]);
    }
    this.callbacks.length = 0;
    this.args.length = 0;
  }

  /** Answers every waiter (emptied first: an answer may add a waiter). */
  answer(failure: Refusal | undefined): void {
    const { callbacks, args } = this;
    if (callbacks.length === 0) return;
    this.callbacks = [];
    this.args = [];
    for (let i = 0; i < callbacks.length; i++) (callbacks[i] as DurableCallback<unknown>)(args[i], failure);
  }
}

/** The waiters one batch fdatasync answers. */
class SyncBatch {
  readonly started = performance.now();
  readonly waiters = new Waiters();
  readonly done = (error: NodeJS.ErrnoException | null): void => this.log.synced(this, error);

  constructor(private readonly log: MessageLog) {}
}

/**
 * Writes the snapshot that stands for every segment below `index`: the clock, then each channel
 * with its last id and the stored messages it held when compaction began (seq ≤ the clock's),
 * a few milliseconds per event-loop turn, into a temporary file renamed when complete.
 */
class Compaction {
  readonly done: Promise<void>;
  private readonly records = new RecordBuffer(COMPACT_WRITE_BYTES * 2);
  private readonly tempPath: string;
  private readonly fd: number;
  private next = 0;
  private abandoned = false;
  private settle!: { resolve: () => void; reject: (error: unknown) => void };

  constructor(
    private readonly owner: MessageLog,
    private readonly dir: string,
    private readonly index: number,
    private readonly channels: Channel[],
    private readonly clock: { time: number; tag: number; seq: number; mid: Buffer | undefined },
    epoch: string,
  ) {
    this.tempPath = join(dir, snapshotName(index) + TEMP_SUFFIX);
    this.fd = openSync(this.tempPath, "w");
    this.records.epoch(epoch);
    this.records.clock(clock.time, clock.tag, clock.seq, clock.mid);
    this.done = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    setImmediate(() => this.step());
  }

  abandon(): void {
    this.abandoned = true;
  }

  private step(): void {
    if (this.abandoned) return this.cleanUp(undefined);
    try {
      const deadline = performance.now() + COMPACT_SLICE_MS;
      const { channels, records } = this;
      const lastSeq = this.clock.seq;
      let work = 0;
      while (this.next < channels.length) {
        const channel = channels[this.next++]!;
        if (channel.deleted) continue;
        records.channel(channel.id, channel.lastMessageId);
        const ring = channel.messages;
        for (let i = 0; i < ring.length; i++) {
          const message = ring.at(i)!;
          if (message.seq <= lastSeq) records.message(message);
        }
        if (records.length >= COMPACT_WRITE_BYTES) this.writeOut();
        work += ring.length + 1;
        if (work >= 512) {
          work = 0;
          if (performance.now() >= deadline) break;
        }
      }
      this.writeOut();
      if (this.next < channels.length) {
        setImmediate(() => this.step());
        return;
      }
      void this.finish();
    } catch (error) {
      this.cleanUp(error);
    }
  }

  /** Syncs, renames and deletes in the thread pool: a large snapshot's sync may take a while. */
  private async finish(): Promise<void> {
    try {
      await promisified.fdatasync(this.fd);
      if (this.abandoned) return this.cleanUp(undefined);
      closeSync(this.fd);
      await promisified.rename(this.tempPath, join(this.dir, snapshotName(this.index)));
      const dir = await promisified.open(this.dir, "r");
      try {
        await dir.datasync();
      } catch {
        // directories cannot be synced here
      } finally {
        await dir.close();
      }
      await this.owner.dropBefore(this.index);
      this.settle.resolve();
    } catch (error) {
      this.cleanUp(error);
    }
  }

  private writeOut(): void {
    const { records } = this;
    let written = 0;
    while (written < records.length) written += writeSync(this.fd, records.bytes, written, records.length - written);
    records.length = 0;
  }

  private cleanUp(error: unknown): void {
    try {
      closeSync(this.fd);
    } catch {
      // closed already
    }
    try {
      unlinkSync(this.tempPath);
    } catch {
      // never created
    }
    if (error === undefined) this.settle.resolve();
    else this.settle.reject(error);
  }
}

/** Makes a new or renamed file's directory entry durable (Linux; a no-op where directories cannot be opened). */
export function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fdatasyncSync(fd);
  } catch {
    // not supported here
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
