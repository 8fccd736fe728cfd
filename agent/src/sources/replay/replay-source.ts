// Replays contract rows from NDJSON files: one `{"table": …, "row": {…}}` per
// line. It is the bounded input of `make demo`, of tests, and of re-landing
// rows exported elsewhere. It is a pull source with byte-offset checkpoints:
// after a crash it resumes exactly after the last committed line.
import { open, stat } from 'node:fs/promises';
import { coerceColumns } from '../../contract/coerce.ts';
import { SCHEMA_VERSION, TABLES, type TableName } from '../../contract/generated.ts';
import { recordId } from '../../contract/record-id.ts';
import { nowUs } from '../../contract/time.ts';
import { OrderedCommits } from '../../pipeline/ordered-commits.ts';
import type { Source, SourceContext, SourceLag, TableRecord } from '../../pipeline/source.ts';

export interface ReplayOptions {
  readonly name: string;
  readonly paths: readonly string[];
  /** Lines per emission (one acknowledgement each). */
  readonly linesPerEmit?: number;
}

interface Position {
  readonly dev: number;
  readonly ino: number;
  readonly offset: number;
}

const READ_SIZE = 256 * 1024;
const MAX_LINE = 4 * 1024 * 1024;

export class ReplaySource implements Source {
  readonly kind = 'pull';
  readonly name: string;
  private readonly options: ReplayOptions;
  private remaining = new Map<string, number>();
  private newestEventUs: number | undefined;

  constructor(options: ReplayOptions) {
    this.options = options;
    this.name = options.name;
  }

  lag(): SourceLag {
    let bytes = 0;
    for (const v of this.remaining.values()) bytes += v;
    return { tailLagBytes: bytes, ...(this.newestEventUs === undefined ? {} : { newestEventUs: this.newestEventUs }) };
  }

  async run(ctx: SourceContext): Promise<void> {
    for (const path of this.options.paths) {
      if (ctx.signal.aborted) return;
      await this.replayFile(ctx, path);
    }
  }

  private async replayFile(ctx: SourceContext, path: string): Promise<void> {
    const key = `replay:${this.name}:${path}`;
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch (err) {
      ctx.logger.error({ source: this.name, path, err: (err as Error).message }, 'replay file cannot be read; skipped');
      ctx.metrics.drop('unknown', this.name, 'unreadable_file');
      return;
    }
    const saved = ctx.checkpoint<Position>(key);
    // A different file at the same path (replaced, rotated) starts from zero.
    let offset = saved && saved.dev === info.dev && saved.ino === info.ino ? saved.offset : 0;
    this.remaining.set(path, info.size - offset);
    const commits = new OrderedCommits<number>();
    const linesPerEmit = this.options.linesPerEmit ?? 1000;
    const handle = await open(path, 'r');
    try {
      const buffer = Buffer.allocUnsafe(READ_SIZE);
      let carry = Buffer.alloc(0);
      let batch: TableRecord[] = [];
      let lines = 0;
      const emit = (endOffset: number) => {
        const ack = commits.track(endOffset);
        ctx.emit(batch, () => {
          const committed = ack();
          if (committed !== undefined) ctx.setCheckpoint(key, { dev: info.dev, ino: info.ino, offset: committed });
        });
        batch = [];
        lines = 0;
      };
      while (!ctx.signal.aborted) {
        await ctx.waitForCapacity();
        const { bytesRead } = await handle.read(buffer, 0, READ_SIZE, offset + carry.length);
        if (bytesRead === 0) break;
        const chunk = carry.length
          ? Buffer.concat([carry, buffer.subarray(0, bytesRead)])
          : buffer.subarray(0, bytesRead);
        let start = 0;
        for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
          const lineOffset = offset + start;
          const record = this.parseLine(ctx, chunk.subarray(start, nl).toString('utf8'), info, lineOffset);
          if (record) batch.push(record);
          start = nl + 1;
          if (++lines >= linesPerEmit) emit(offset + start);
        }
        offset += start;
        carry = Buffer.from(chunk.subarray(start));
        if (carry.length > MAX_LINE) {
          ctx.metrics.drop('unknown', this.name, 'line_too_long');
          ctx.logger.warn({ source: this.name, path, offset }, 'line longer than 4 MiB skipped');
          offset += carry.length;
          carry = Buffer.alloc(0);
        }
        if (lines) emit(offset);
        this.remaining.set(path, info.size - offset);
      }
      // A final line without a newline is still being written; leave it.
      if (lines) emit(offset);
    } finally {
      await handle.close();
    }
  }

  private parseLine(
    ctx: SourceContext,
    line: string,
    info: { dev: number; ino: number },
    offset: number,
  ): TableRecord | undefined {
    if (!line.trim()) return undefined;
    let parsed: { table?: unknown; row?: unknown };
    try {
      parsed = JSON.parse(line);
    } catch {
      ctx.metrics.drop('unknown', this.name, 'invalid_json');
      return undefined;
    }
    const table = parsed.table as TableName;
    const schema = typeof table === 'string' ? TABLES[table] : undefined;
    if (!schema || typeof parsed.row !== 'object' || parsed.row === null) {
      ctx.metrics.drop(typeof table === 'string' ? table : 'unknown', this.name, 'unknown_table');
      return undefined;
    }
    const row = coerceColumns(schema.columns, parsed.row as Record<string, unknown>);
    const now = nowUs();
    row.record_id ??= recordId(ctx.node, this.name, info.dev, info.ino, offset);
    row.observed_time ??= now;
    row.node ??= ctx.node;
    row.source ??= this.name;
    row.schema_version ??= SCHEMA_VERSION;
    if (typeof row.event_time === 'number')
      this.newestEventUs = Math.max(this.newestEventUs ?? row.event_time, row.event_time);
    return { table, row } as unknown as TableRecord;
  }
}
