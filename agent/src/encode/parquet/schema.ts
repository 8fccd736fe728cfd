// The contract's table schema as a Parquet schema: the flattened
// SchemaElement list of the footer, and one leaf description per primitive
// column with what the Dremel shredding needs to reach it (the path of
// structs, lists and maps from the top-level column, and its max levels).
import type { ColumnType, TableSchema } from '../../contract/schema.ts';

/** parquet.thrift enums used here. */
export const PhysicalType = { BOOLEAN: 0, INT32: 1, INT64: 2, DOUBLE: 5, BYTE_ARRAY: 6 } as const;
export const Repetition = { REQUIRED: 0, OPTIONAL: 1, REPEATED: 2 } as const;
export const ConvertedType = { UTF8: 0, MAP: 1, LIST: 3, TIMESTAMP_MICROS: 10 } as const;

export type LogicalType = 'string' | 'map' | 'list' | 'timestamp-utc-micros';

export interface SchemaElement {
  readonly name: string;
  /** Absent on the root. */
  readonly repetition?: number;
  /** Leaves only. */
  readonly type?: number;
  /** Groups only. */
  readonly numChildren?: number;
  readonly convertedType?: number;
  readonly logicalType?: LogicalType;
}

/** How the shredder steps from a value to the next level down, towards a leaf. */
export type Step =
  | { readonly kind: 'struct'; readonly optional: boolean; readonly field: number }
  /** A list or map: `repLevel` is the repetition level of its repeated group. */
  | { readonly kind: 'list'; readonly optional: boolean; readonly repLevel: number }
  | { readonly kind: 'map'; readonly optional: boolean; readonly repLevel: number; readonly part: 'keys' | 'values' };

export type ValueKind = 'utf8' | 'int32' | 'int64' | 'float64' | 'bool';

export interface Leaf {
  /** Index of the top-level column it belongs to. */
  readonly column: number;
  readonly path: readonly string[];
  readonly steps: readonly Step[];
  /** Whether the leaf itself is OPTIONAL. */
  readonly optional: boolean;
  readonly physicalType: number;
  readonly valueKind: ValueKind;
  readonly maxDef: number;
  readonly maxRep: number;
}

export interface ParquetSchema {
  readonly elements: readonly SchemaElement[];
  readonly leaves: readonly Leaf[];
}

const primitives: Record<
  'string' | 'int32' | 'int64' | 'double' | 'bool' | 'timestamp',
  { type: number; valueKind: ValueKind; convertedType?: number; logicalType?: LogicalType }
> = {
  string: {
    type: PhysicalType.BYTE_ARRAY,
    valueKind: 'utf8',
    convertedType: ConvertedType.UTF8,
    logicalType: 'string',
  },
  int32: { type: PhysicalType.INT32, valueKind: 'int32' },
  int64: { type: PhysicalType.INT64, valueKind: 'int64' },
  double: { type: PhysicalType.DOUBLE, valueKind: 'float64' },
  bool: { type: PhysicalType.BOOLEAN, valueKind: 'bool' },
  timestamp: {
    type: PhysicalType.INT64,
    valueKind: 'int64',
    convertedType: ConvertedType.TIMESTAMP_MICROS,
    logicalType: 'timestamp-utc-micros',
  },
};

export function parquetSchema(table: TableSchema): ParquetSchema {
  const elements: SchemaElement[] = [{ name: 'schema', numChildren: table.columns.length }];
  const leaves: Leaf[] = [];

  const node = (
    column: number,
    name: string,
    type: ColumnType,
    optional: boolean,
    path: string[],
    steps: Step[],
    def: number,
    rep: number,
  ): void => {
    const repetition = optional ? Repetition.OPTIONAL : Repetition.REQUIRED;
    const here = [...path, name];
    const d = def + (optional ? 1 : 0);
    switch (type.kind) {
      case 'list': {
        elements.push({
          name,
          repetition,
          numChildren: 1,
          convertedType: ConvertedType.LIST,
          logicalType: 'list',
        });
        elements.push({ name: 'list', repetition: Repetition.REPEATED, numChildren: 1 });
        // List elements are never null (the column builders refuse them).
        const next: Step[] = [...steps, { kind: 'list', optional, repLevel: rep + 1 }];
        node(column, 'element', type.element, false, [...here, 'list'], next, d + 1, rep + 1);
        return;
      }
      case 'map': {
        elements.push({ name, repetition, numChildren: 1, convertedType: ConvertedType.MAP, logicalType: 'map' });
        elements.push({ name: 'key_value', repetition: Repetition.REPEATED, numChildren: 2 });
        const kv = [...here, 'key_value'];
        const string: ColumnType = { kind: 'string' };
        node(
          column,
          'key',
          string,
          false,
          kv,
          [...steps, { kind: 'map', optional, repLevel: rep + 1, part: 'keys' }],
          d + 1,
          rep + 1,
        );
        node(
          column,
          'value',
          string,
          true,
          kv,
          [...steps, { kind: 'map', optional, repLevel: rep + 1, part: 'values' }],
          d + 1,
          rep + 1,
        );
        return;
      }
      case 'struct': {
        elements.push({ name, repetition, numChildren: type.fields.length });
        for (const [i, f] of type.fields.entries())
          node(column, f.name, f.type, f.nullable, here, [...steps, { kind: 'struct', optional, field: i }], d, rep);
        return;
      }
      default: {
        const p = primitives[type.kind];
        elements.push({
          name,
          repetition,
          type: p.type,
          ...(p.convertedType !== undefined && { convertedType: p.convertedType }),
          ...(p.logicalType && { logicalType: p.logicalType }),
        });
        leaves.push({
          column,
          path: here,
          steps,
          optional,
          physicalType: p.type,
          valueKind: p.valueKind,
          maxDef: d,
          maxRep: rep,
        });
      }
    }
  };

  for (const [i, c] of table.columns.entries()) node(i, c.name, c.type, c.nullable, [], [], 0, 0);
  return { elements, leaves };
}
