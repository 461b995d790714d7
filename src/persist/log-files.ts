import { closeSync, existsSync, fstatSync, linkSync, openSync, readdirSync, readFileSync, readSync, unlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { RECORD_HEADER_BYTES, RecordReader, type ReadResult } from "./record.js";

/**
 * The files of a message-log directory:
 *
 *     00000007.seg   segments, appended in order; the highest is the one being written
 *     00000007.snap  a snapshot: the live state as it was when segment 7 began
 *     *.tmp          a snapshot being written (left by a crash: deleted at start)
 *     pushwire.pid   the lock: the pid of the process that owns the directory
 *
 * Replay reads the newest snapshot, then every segment from its number on.
 */
export const SEGMENT_SUFFIX = ".seg";
export const SNAPSHOT_SUFFIX = ".snap";
export const TEMP_SUFFIX = ".tmp";
export const LOCK_FILE = "pushwire.pid";

export function segmentName(index: number): string {
  return `${String(index).padStart(8, "0")}${SEGMENT_SUFFIX}`;
}

export function snapshotName(index: number): string {
  return `${String(index).padStart(8, "0")}${SNAPSHOT_SUFFIX}`;
}

export interface LogFiles {
  /** Segment numbers, ascending. */
  segments: number[];
  /** Snapshot numbers, ascending. */
  snapshots: number[];
  /** Leftover temporary files (names). */
  temps: string[];
}

const NUMBERED = /^(\d{8})\.(seg|snap)$/;

export function listLogFiles(dir: string): LogFiles {
  const files: LogFiles = { segments: [], snapshots: [], temps: [] };
  for (const name of readdirSync(dir)) {
    const m = NUMBERED.exec(name);
    if (m) (m[2] === "seg" ? files.segments : files.snapshots).push(Number(m[1]));
    else if (name.endsWith(TEMP_SUFFIX)) files.temps.push(name);
  }
  files.segments.sort((a, b) => a - b);
  files.snapshots.sort((a, b) => a - b);
  return files;
}

/** The message log cannot be opened (locked by another process, unreadable, not a directory…): the server cannot start. */
export class MessageLogError extends Error {}

/**
 * Takes the directory for this process: two pushwires appending to one log would interleave
 * records. A lock left by a process that is gone (kill -9) is taken over.
 */
export function lockDirectory(dir: string): void {
  const path = join(dir, LOCK_FILE);
  // Written whole under a name of its own, then linked into place: link() fails if the lock
  // exists, so two pushwires starting at once cannot both take it, and a reader never sees it half-written.
  const mine = `${path}.${process.pid}`;
  writeFileSync(mine, `${process.pid}\n`);
  try {
    takeLock(dir, path, mine);
  } finally {
    try {
      unlinkSync(mine);
    } catch {
      // gone already
    }
  }
}

function takeLock(dir: string, path: string, mine: string): void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      linkSync(mine, path);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    let text = "";
    try {
      text = readFileSync(path, "utf8");
    } catch {
      continue; // released meanwhile
    }
    const owner = Number(text.trim());
    if (owner === process.pid) return;
    if (owner > 0 && processAlive(owner)) throw new MessageLogError(`message log ${dir} is in use by pid ${owner} (${path})`);
    // Stale: left by a process that is gone. Removed only if it still says the same.
    try {
      if (readFileSync(path, "utf8") === text) unlinkSync(path);
    } catch {
      // taken or removed by another starter: try again
    }
  }
  throw new MessageLogError(`message log ${dir}: cannot take the lock ${path}`);
}

export function unlockDirectory(dir: string): void {
  const path = join(dir, LOCK_FILE);
  try {
    if (Number(readFileSync(path, "utf8").trim()) === process.pid) unlinkSync(path);
  } catch {
    // already gone
  }
}

/**
 * Whether `pid` is a running pushwire. A lock outlives its process after kill -9 or a reboot, and
 * the pid may by then belong to anything else: where /proc tells, the process must be alive (not
 * a zombie) and run the same script as this one.
 */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  let stat: string;
  let commandLine: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    commandLine = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return existsSync("/proc/self") ? false : true; // gone meanwhile; or no /proc here: trust kill(0)
  }
  if (/\) Z /.test(stat)) return false;
  const script = basename(process.argv[1] ?? "pushwire");
  return commandLine.split("\0").some((word) => basename(word) === script);
}

/** How reading one file ended. */
export interface ScanResult {
  /** The file's size. */
  size: number;
  /** Bytes up to the end of the last whole, valid record. */
  good: number;
  /** "end": every byte was read as records; "torn"/"corrupt": what stopped it at `good`. */
  outcome: Exclude<ReadResult, "record">;
}

const CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Reads a log file record by record, in chunks (a snapshot may be larger than memory should hold
 * twice), calling `visit` with the reader positioned on each record. Stops at the first torn or
 * damaged record.
 */
export function scanLogFile(path: string, visit: (reader: RecordReader) => void): ScanResult {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const reader = new RecordReader();
    let chunk = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, Math.max(size, RECORD_HEADER_BYTES)));
    let have = 0; // bytes in chunk
    let base = 0; // file offset of chunk[0]
    let read = 0; // file bytes read so far
    for (;;) {
      while (have < chunk.length && read < size) {
        const n = readSync(fd, chunk, have, chunk.length - have, read);
        if (n === 0) break;
        have += n;
        read += n;
      }
      reader.reset(chunk, have);
      let result: ReadResult;
      while ((result = reader.next()) === "record") visit(reader);
      const eof = read >= size;
      if (result === "corrupt" || (result === "torn" && eof)) return { size, good: base + reader.offset, outcome: result };
      if (result === "end" && eof) return { size, good: size, outcome: "end" };
      // Keep the unread tail (part of a record) and read on after it.
      chunk.copy(chunk, 0, reader.offset, have);
      base += reader.offset;
      have -= reader.offset;
      if (have === chunk.length) {
        // One record larger than the chunk: make room for it whole.
        const needed = have >= RECORD_HEADER_BYTES ? chunk.readUInt32LE(0) + RECORD_HEADER_BYTES : chunk.length * 2;
        const grown = Buffer.allocUnsafe(Math.max(needed, chunk.length * 2));
        chunk.copy(grown, 0, 0, have);
        chunk = grown;
      }
    }
  } finally {
    closeSync(fd);
  }
}
