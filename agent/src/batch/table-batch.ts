// One open batch: the rows of one table and one event hour, held as Arrow
// columns (not row objects) until the batch rolls into a Parquet file.
import { makeData, RecordBatch, Schema, Struct, Table, tableToIPC } from 'apache-arrow';
import type { TableSchema } from '../contract/schema.ts';
import { arrowFields, builderFor, type ColumnBuilder, type TruncationObserver } from '../encode/columns.ts';

export class TableBatch {
  readonly schema: TableSchema;
  readonly hourStartUs: number;
  readonly openedAtMs: number;
  private readonly builders: ColumnBuilder[];
  rows = 0;
  bytes = 0;
  minEventTimeUs = Number.POSITIVE_INFINITY;
  maxEventTimeUs = Number.NEGATIVE_INFINITY;

  constructor(schema: TableSchema, hourStartUs: number, openedAtMs: number, onTruncate: TruncationObserver) {
    this.schema = schema;
    this.hourStartUs = hourStartUs;
    this.openedAtMs = openedAtMs;
    this.builders = schema.columns.map((c) => builderFor(c.name, c.type, onTruncate));
  }

  /** The row must already be valid for the schema (see validateRow). */
  append(row: Readonly<Record<string, unknown>>, eventTimeUs: number): void {
    const { columns } = this.schema;
    let bytes = 0;
    for (let i = 0; i < columns.length; i++) bytes += this.builders[i]!.append(row[columns[i]!.name]);
    this.rows++;
    this.bytes += bytes;
    if (eventTimeUs < this.minEventTimeUs) this.minEventTimeUs = eventTimeUs;
    if (eventTimeUs > this.maxEventTimeUs) this.maxEventTimeUs = eventTimeUs;
  }

  /** Arrow IPC stream of the rows, for the encoder worker. */
  toIPC(): Uint8Array {
    const children = this.builders.map((b) => b.finish());
    const fields = arrowFields(this.schema.columns, this.builders);
    const data = makeData({ type: new Struct(fields), length: this.rows, nullCount: 0, children });
    return tableToIPC(new Table([new RecordBatch(new Schema(fields), data)]), 'stream');
  }
}
