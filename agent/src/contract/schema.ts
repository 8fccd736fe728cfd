// Runtime description of the table contract. The generator fills it from
// proto/hoptrace/v1; the encoder, the privacy bounds and the docs all read the
// same description, so they cannot disagree.

export type ColumnType =
  | { readonly kind: 'string'; readonly maxLength?: number }
  | { readonly kind: 'int32' }
  | { readonly kind: 'int64' }
  | { readonly kind: 'double' }
  | { readonly kind: 'bool' }
  /** UTC instant, epoch microseconds in rows; Parquet TIMESTAMP(MICROS, UTC). */
  | { readonly kind: 'timestamp' }
  | { readonly kind: 'list'; readonly element: ColumnType }
  /** map<string,string>; values are bounded by maxLength. */
  | { readonly kind: 'map'; readonly maxLength?: number }
  | { readonly kind: 'struct'; readonly name: string; readonly fields: readonly Column[] };

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
  readonly nullable: boolean;
  readonly doc: string;
}

export interface TableSchema {
  readonly name: string;
  readonly message: string;
  readonly doc: string;
  readonly columns: readonly Column[];
}

/** Columns every table carries, in this order, as field numbers 1–6. */
export const COMMON_COLUMNS = ['record_id', 'event_time', 'observed_time', 'node', 'source', 'schema_version'] as const;
