// A pull source over files of one JSON document per line (the Hubble export
// file, Calico flow logs): the tailer follows them through rotation and moves
// their checkpoints once the rows are spooled; each source only says how one
// parsed document becomes a row. A line that cannot become a row is a counted
// drop, never a failure: a cut line (`line_too_long`), a line that is not JSON
// (`invalid_json`), or whatever reason the source's reader gives.
import type { TableName, TableRows } from '../../contract/generated.ts';
import { recordId } from '../../contract/record-id.ts';
import { nowUs } from '../../contract/time.ts';
import { RateLimitedLog } from '../../ops/rate-limited-log.ts';
import type { Source, SourceContext, SourceLag, TableRecord } from '../../pipeline/source.ts';
import type { TailOptionsConfig } from './config.ts';
import type { LogLine } from './decoders.ts';
import { type TailedFile, Tailer, tailerOptionsFrom } from './tailer.ts';

/** What a reader makes of one document: a row, a drop reason, or nothing (it counted the document itself). */
export type JsonLineResult<T extends TableName> =
  | { readonly row: TableRows[T] }
  | { readonly drop: string }
  | undefined;

export interface JsonLineReader<T extends TableName> {
  /** `recordId` is the line's position id (node, file identity, offset): stable across re-reads. */
  read(value: unknown, recordId: () => string, observedUs: number): JsonLineResult<T>;
  /** Called after each read's lines with the number of rows they gave. */
  afterRead?(rows: number): void;
}

export interface JsonLinesSourceOptions<T extends TableName> extends TailOptionsConfig {
  readonly name: string;
  readonly include: readonly string[];
  readonly exclude: readonly string[];
  readonly table: T;
  /** Log message of a dropped line (logged at most once a minute per reason). */
  readonly dropMessage: string;
  /** Builds the reader when the source starts (it may need the node name or the shared log). */
  readonly reader: (ctx: SourceContext, log: RateLimitedLog) => JsonLineReader<T>;
}

export class JsonLinesSource<T extends TableName> implements Source {
  readonly kind = 'pull';
  readonly name: string;
  private readonly options: JsonLinesSourceOptions<T>;
  private readonly tailer: Tailer<null>;
  private ctx!: SourceContext;
  private log!: RateLimitedLog;
  private reader!: JsonLineReader<T>;

  constructor(options: JsonLinesSourceOptions<T>) {
    this.options = options;
    this.name = options.name;
    this.tailer = new Tailer<null>({
      name: options.name,
      table: options.table,
      include: options.include,
      exclude: options.exclude,
      format: 'raw',
      select: () => ({ meta: null }),
      consume: (file, lines) => this.consume(file, lines),
      ...tailerOptionsFrom(options),
    });
  }

  lag(): SourceLag {
    return this.tailer.lag();
  }

  run(ctx: SourceContext, mode: 'follow' | 'drain'): Promise<void> {
    this.ctx = ctx;
    this.log = new RateLimitedLog(ctx.logger, 60_000);
    this.reader = this.options.reader(ctx, this.log);
    return this.tailer.run(ctx, mode);
  }

  private drop(reason: string): void {
    this.ctx.metrics.drop(this.options.table, this.name, reason);
    this.log.warn(`drop:${reason}`, { reason }, this.options.dropMessage);
  }

  private consume(file: TailedFile<null>, lines: readonly LogLine[]): TableRecord[] {
    const { ctx, reader } = this;
    const { table } = this.options;
    const out: TableRecord[] = [];
    const observedUs = nowUs();
    for (const line of lines) {
      const text = line.text.trim();
      if (!text) continue;
      if (line.truncated) {
        // A cut JSON document cannot be parsed; the line is counted, not guessed at.
        this.drop('line_too_long');
        continue;
      }
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        this.drop('invalid_json');
        continue;
      }
      const result = reader.read(
        value,
        () => recordId(ctx.node, this.name, file.dev, file.ino, file.head, line.offset),
        observedUs,
      );
      if (result === undefined) continue;
      if ('drop' in result) {
        this.drop(result.drop);
        continue;
      }
      this.tailer.observeEventTime(result.row.event_time);
      out.push({ table, row: result.row });
    }
    reader.afterRead?.(out.length);
    return out;
  }
}
