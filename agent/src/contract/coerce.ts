// Rows that arrive as JSON (replayed files, tests) may carry timestamps as
// RFC 3339 strings; the pipeline wants epoch microseconds. This converts them
// in place of a copy, guided by the schema, and leaves everything else alone.
import type { Column, ColumnType } from './schema.ts';
import { parseTimestampUs } from './time.ts';

function coerceValue(type: ColumnType, value: unknown): unknown {
  if (value == null) return value;
  switch (type.kind) {
    case 'timestamp':
      return typeof value === 'string' ? (parseTimestampUs(value) ?? value) : value;
    case 'list':
      return Array.isArray(value) ? value.map((v) => coerceValue(type.element, v)) : value;
    case 'struct':
      return typeof value === 'object' ? coerceColumns(type.fields, value as Record<string, unknown>) : value;
    default:
      return value;
  }
}

export function coerceColumns(
  columns: readonly Column[],
  row: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...row };
  for (const c of columns) if (c.name in row) out[c.name] = coerceValue(c.type, row[c.name]);
  return out;
}
