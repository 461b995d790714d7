/**
 * The bench's output: one JSON line per figure as it is measured, and a table at the end.
 * `ratio` is always pushwire ÷ peer, for the same figure in the same run.
 */
export interface Figure {
  figure: string;
  unit: string;
  pushwire: number;
  nchan?: number;
  ratio?: number;
  /** The same figure for a bare node:net server (bench/net-floor.ts) in the same run: what Node itself costs. */
  floor?: number;
  /** The target, in words ("ratio ≤ 0.5", "< 2 %"). */
  target?: string;
  met?: boolean;
  detail?: Record<string, unknown>;
}

export class Report {
  readonly figures: Figure[] = [];

  /** Records a figure; `check` decides `met` from the figure (ratio present when a peer ran). */
  add(figure: Figure, check?: (f: Figure) => boolean | undefined): Figure {
    if (figure.nchan !== undefined && figure.nchan > 0) figure.ratio = round(figure.pushwire / figure.nchan, 3);
    if (check) {
      const met = check(figure);
      if (met !== undefined) figure.met = met;
    }
    this.figures.push(figure);
    process.stdout.write(`${JSON.stringify(figure)}\n`);
    return figure;
  }

  table(): string {
    const rows = [["figure", "unit", "pushwire", "nchan", "ratio", "node:net floor", "target", "met"]];
    for (const f of this.figures) {
      rows.push([f.figure, f.unit, fmt(f.pushwire), f.nchan === undefined ? "—" : fmt(f.nchan), f.ratio === undefined ? "—" : fmt(f.ratio),
        f.floor === undefined ? "—" : fmt(f.floor), f.target ?? "", f.met === undefined ? "" : f.met ? "yes" : "NO"]);
    }
    const line = (cells: string[]): string => `| ${cells.join(" | ")} |`;
    return [line(rows[0]!), line(rows[0]!.map(() => "---")), ...rows.slice(1).map(line)].join("\n");
  }
}

export function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function fmt(value: number): string {
  return Number.isInteger(value) ? String(value) : String(round(value, value < 10 ? 2 : 1));
}

/** The q-quantile (0…1) of numbers, by nearest rank. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
