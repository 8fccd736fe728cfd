// One open batch: the rows of one table and one event hour, held as typed-array
// columns (not row objects) until the batch rolls into a Parquet file.
import type { TableSchema } from '../contract/schema.ts';
import { builderFor, type ColumnBuilder, InvalidValue, type TruncationObserver } from '../encode/columns.ts';
import type { ColumnBatch } from '../encode/parquet-encoder.ts';

export class TableBatch {
  readonly schema: TableSchema;
  readonly hourStartUs: number;
  readonly openedAtMs: number;
  private readonly builders: ColumnBuilder[];
  private readonly names: string[];
  rows = 0;
  bytes = 0;
  minEventTimeUs = Number.POSITIVE_INFINITY;
  maxEventTimeUs = Number.NEGATIVE_INFINITY;

  constructor(schema: TableSchema, hourStartUs: number, openedAtMs: number, onTruncate: TruncationObserver) {
    this.schema = schema;
    this.hourStartUs = hourStartUs;
    this.openedAtMs = openedAtMs;
    this.builders = schema.columns.map((c) => builderFor(c.name, c.type, onTruncate, c.nullable));
    this.names = schema.columns.map((c) => c.name);
  }

  /**
   * Appends a row, checking it against the contract as the values go in.
   * Returns undefined, or for an invalid row a message naming the first bad
   * column; the batch is then as it was before the call.
   */
  append(row: Readonly<Record<string, unknown>>, eventTimeUs: number): string | undefined {
    const { builders, names } = this;
    let bytes = 0;
    try {
      for (let i = 0; i < builders.length; i++) bytes += builders[i]!.append(row[names[i]!]);
    } catch (err) {
      if (!(err instanceof InvalidValue)) throw err;
      for (const b of builders) b.truncate(this.rows);
      return err.message;
    }
    this.rows++;
    this.bytes += bytes;
    if (eventTimeUs < this.minEventTimeUs) this.minEventTimeUs = eventTimeUs;
    if (eventTimeUs > this.maxEventTimeUs) this.maxEventTimeUs = eventTimeUs;
    return undefined;
  }

  /** A copy of the rows as plain columns, for the encoder (which may take its buffers). */
  toColumns(): ColumnBatch {
    return { schema: this.schema, columns: this.builders.map((b) => b.finish()) };
  }
}
