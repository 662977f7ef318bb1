/** The one plain-text table of the CLI and the portfolio report: columns two spaces apart. */

export interface TextTableOptions {
  /** How many leading columns are left-aligned; the rest are right-aligned (figures). Default: all. */
  leftAligned?: number;
  /** A line of dashes under the headers. */
  rule?: boolean;
}

export function table(headers: string[], rows: string[][], options: TextTableOptions = {}): string {
  const leftAligned = options.leftAligned ?? Infinity;
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column < leftAligned ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = options.rule ? [widths.map((width) => '-'.repeat(width)).join('  ')] : [];
  return [line(headers), ...rule, ...rows.map(line)].join('\n');
}
