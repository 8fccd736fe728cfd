// Checks a row against its table schema before it enters a batch, so one bad
// record becomes one counted drop instead of a corrupt or failed file.
import type { Column, ColumnType, TableSchema } from './schema.ts';

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

function checkValue(type: ColumnType, value: unknown, path: string): string | undefined {
  switch (type.kind) {
    case 'string':
      return typeof value === 'string' ? undefined : `${path}: expected a string, got ${typeof value}`;
    case 'int32':
      return Number.isInteger(value) && (value as number) >= INT32_MIN && (value as number) <= INT32_MAX
        ? undefined
        : `${path}: expected a 32-bit integer, got ${String(value)}`;
    case 'int64':
    case 'timestamp':
      return Number.isSafeInteger(value) ? undefined : `${path}: expected an integer, got ${String(value)}`;
    case 'double':
      return typeof value === 'number' ? undefined : `${path}: expected a number, got ${typeof value}`;
    case 'bool':
      return typeof value === 'boolean' ? undefined : `${path}: expected a boolean, got ${typeof value}`;
    case 'list': {
      if (!Array.isArray(value)) return `${path}: expected a list`;
      for (let i = 0; i < value.length; i++) {
        if (value[i] == null) return `${path}[${i}]: list elements may not be null`;
        const err = checkValue(type.element, value[i], `${path}[${i}]`);
        if (err) return err;
      }
      return undefined;
    }
    case 'map': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return `${path}: expected an object`;
      for (const [k, v] of Object.entries(value))
        if (v != null && typeof v !== 'string') return `${path}.${k}: map values must be strings`;
      return undefined;
    }
    case 'struct':
      if (typeof value !== 'object' || value === null) return `${path}: expected an object`;
      return checkColumns(type.fields, value as Record<string, unknown>, path);
  }
}

function checkColumns(columns: readonly Column[], row: Record<string, unknown>, prefix: string): string | undefined {
  for (const c of columns) {
    const v = row[c.name];
    const path = prefix ? `${prefix}.${c.name}` : c.name;
    if (v == null) {
      // Lists and maps may be omitted: they are written empty.
      if (c.nullable || c.type.kind === 'list' || c.type.kind === 'map') continue;
      return `${path}: required`;
    }
    const err = checkValue(c.type, v, path);
    if (err) return err;
  }
  return undefined;
}

/** Returns undefined for a valid row, else a message naming the first bad column. */
export function validateRow(schema: TableSchema, row: object): string | undefined {
  return checkColumns(schema.columns, row as Record<string, unknown>, '');
}
