/**
 * One line per event on stdout/stderr, for journald: `level message key=value…`.
 * No timestamps when running under systemd (journald adds its own).
 */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export class Logger {
  private threshold: number;
  private readonly stamp: boolean;

  constructor(
    level: LogLevel = "info",
    /** Starts every line's message ("worker 2: "), so a machine's processes are told apart in one journal. */
    private readonly prefix = "",
  ) {
    this.threshold = ORDER[level];
    this.stamp = !process.env.JOURNAL_STREAM && !process.env.INVOCATION_ID;
  }

  setLevel(level: LogLevel): void {
    this.threshold = ORDER[level];
  }

  debug(message: string): void {
    this.write("debug", message);
  }
  info(message: string): void {
    this.write("info", message);
  }
  warn(message: string): void {
    this.write("warn", message);
  }
  error(message: string): void {
    this.write("error", message);
  }

  private write(level: LogLevel, message: string): void {
    if (ORDER[level] < this.threshold) return;
    const line = `${this.stamp ? new Date().toISOString() + " " : ""}${level} ${this.prefix}${message.replace(/\n/g, "\\n")}\n`;
    (ORDER[level] >= ORDER.warn ? process.stderr : process.stdout).write(line);
  }
}

export const silentLogger = new Logger("silent");
