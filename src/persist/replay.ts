import { closeSync, openSync, readSync, statSync, truncateSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { listLogFiles, scanLogFile, segmentName, snapshotName } from "./log-files.js";
import { RecordType, type RecordReader } from "./record.js";

/** What replay hands over, record by record, in the order they were written. */
export interface ReplayTarget {
  /** A stored message: the reader is positioned on it (`text` is the channel; `message()` builds it). */
  message(record: RecordReader): void;
  /** A message that was not stored: only its channel's id counter counts here (the stamp is observed by replay). */
  passed(channel: string, id: number): void;
  drop(channel: string): void;
  channel(id: string, lastMessageId: number): void;
}

/** What a replay found, for the start-up log line and the metrics. */
export interface ReplayReport {
  /** The epoch in force at the end of the log; undefined when it had none, or records were lost after its last epoch record (then a new one begins). */
  epoch: string | undefined;
  /** Files read and records applied. */
  files: number;
  records: number;
  /** Bytes cut off the end of the last segment (a write torn by a crash). */
  tornBytes: number;
  /** Damaged files, and the bytes of them that could not be read. */
  damagedFiles: number;
  skippedBytes: number;
  /** The highest stamp, seq and mid seen: what the sequencer continues above. */
  last: { time: number; tag: number; seq: number; mid: Buffer | undefined };
  /** The segment the new process writes: the last one while it has room (restarts do not pile up small files), else one past it. */
  nextSegment: number;
  /** Human-readable notes (each one log line). */
  notes: string[];
}

/**
 * Reads a message-log directory into `target`: the newest snapshot, then each segment from its
 * number on. A torn or damaged tail of the last segment is cut off at the last good record (a
 * crash mid-write); damage anywhere else skips the rest of that file, and the report's epoch is
 * left undefined so the History starts a new one. Leftovers of an interrupted compaction go.
 */
export function replayLog(dir: string, target: ReplayTarget, segmentSize = Infinity): ReplayReport {
  const files = listLogFiles(dir);
  const report: ReplayReport = {
    epoch: undefined, files: 0, records: 0, tornBytes: 0, damagedFiles: 0, skippedBytes: 0,
    last: { time: 0, tag: 0, seq: 0, mid: undefined }, nextSegment: 1, notes: [],
  };
  for (const temp of files.temps) unlinkSync(join(dir, temp));
  const snapshot = files.snapshots.at(-1);
  /** The epoch in force: the last epoch record read after the last loss (a later process's new epoch). */
  let epoch: string | undefined;
  /** The epoch in force when records were lost: its later records (each segment repeats it) do not heal the gap. */
  let staleEpoch: string | undefined;
  const lose = (): void => {
    if (epoch !== undefined) staleEpoch = epoch;
    epoch = undefined;
  };
  /** Bytes of `name` from `good` on are not records: lost, counted, said. */
  const damaged = (name: string, good: number, size: number, what: "skipped" | "cut off"): void => {
    lose();
    report.damagedFiles++;
    report.skippedBytes += size - good;
    report.notes.push(`${name}: damaged at byte ${good}; ${size - good} bytes ${what}`);
  };
  const visit = (reader: RecordReader): void => {
    report.records++;
    switch (reader.type) {
      case RecordType.message:
        observeStamp(report.last, reader.time, reader.tag, reader.seq, reader.mid);
        target.message(reader);
        break;
      case RecordType.sequenced:
        observeStamp(report.last, reader.time, reader.tag, reader.seq, reader.mid);
        target.passed(reader.text, reader.id);
        break;
      case RecordType.drop:
        target.drop(reader.text);
        break;
      case RecordType.epoch:
        if (reader.text !== staleEpoch) epoch = reader.text;
        break;
      case RecordType.channel:
        target.channel(reader.text, reader.number);
        break;
      case RecordType.clock:
        observeStamp(report.last, reader.time, reader.tag, reader.seq, reader.mid);
        break;
    }
  };

  if (snapshot !== undefined) {
    const name = snapshotName(snapshot);
    const scan = scanLogFile(join(dir, name), visit);
    report.files++;
    if (scan.outcome !== "end") damaged(name, scan.good, scan.size, "skipped");
    // Segments the snapshot stands for (a compaction stopped before deleting them).
    for (const segment of files.segments) if (segment < snapshot) unlinkSync(join(dir, segmentName(segment)));
    for (const older of files.snapshots) if (older < snapshot) unlinkSync(join(dir, snapshotName(older)));
  }
  const segments = files.segments.filter((segment) => snapshot === undefined || segment >= snapshot);
  let expected = snapshot ?? segments[0];
  for (const [i, segment] of segments.entries()) {
    const name = segmentName(segment);
    if (segment !== expected) {
      lose();
      report.notes.push(`segments ${segmentName(expected!)} to ${segmentName(segment - 1)} are missing`);
    }
    expected = segment + 1;
    const path = join(dir, name);
    const scan = scanLogFile(path, visit);
    report.files++;
    if (scan.outcome === "end") continue;
    if (i === segments.length - 1) {
      // The end of the log: what a crash left half-written (cut short, or zero-filled pages). Cut
      // it so new records follow good ones. Other bytes there were records: a loss.
      const unfinished = scan.outcome === "torn" || allZero(path, scan.good, scan.size);
      truncateSync(path, scan.good);
      if (unfinished) {
        report.tornBytes = scan.size - scan.good;
        report.notes.push(`${name}: ${report.tornBytes} bytes of an unfinished write cut off at byte ${scan.good}`);
      } else {
        damaged(name, scan.good, scan.size, "cut off");
      }
    } else {
      damaged(name, scan.good, scan.size, "skipped");
    }
  }
  report.epoch = epoch;
  const last = segments.at(-1);
  report.nextSegment = last !== undefined && statSync(join(dir, segmentName(last))).size < segmentSize ? last : Math.max(snapshot ?? 0, last ?? 0) + 1;
  return report;
}

/** Whether bytes [from, to) of a file are all zero. */
function allZero(path: string, from: number, to: number): boolean {
  const fd = openSync(path, "r");
  try {
    const chunk = Buffer.alloc(64 * 1024);
    for (let at = from; at < to; ) {
      const n = readSync(fd, chunk, 0, Math.min(chunk.length, to - at), at);
      if (n === 0) break;
      for (let i = 0; i < n; i++) if (chunk[i] !== 0) return false;
      at += n;
    }
    return true;
  } finally {
    closeSync(fd);
  }
}

function observeStamp(last: ReplayReport["last"], time: number, tag: number, seq: number, mid: Buffer | undefined): void {
  if (time > last.time || (time === last.time && tag > last.tag)) {
    last.time = time;
    last.tag = tag;
  }
  if (seq > last.seq) last.seq = seq;
  if (mid && (!last.mid || mid.compare(last.mid) > 0)) last.mid = mid;
}
