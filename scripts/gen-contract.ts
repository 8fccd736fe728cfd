// Generates everything derived from the contract in proto/hoptrace/v1:
//   agent/src/contract/generated.ts              row types + schema descriptors
//   lakehouse/src/hoptrace_lakehouse/contract/*.json   Spark StructType JSON per table
//   docs/contract.md                             the human reference
// With --check it writes nothing and exits 1 when any output would change,
// so CI catches a proto edit that was not regenerated (or a hand edit).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { COMMON_COLUMNS, type Column, type ColumnType, type TableSchema } from '../agent/src/contract/schema.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = join(repo, 'proto');
const packageDir = join(protoDir, 'hoptrace', 'v1');
const schemaVersion = 1;

function loadRoot(): protobuf.Root {
  const root = new protobuf.Root();
  const bundled = dirname(fileURLToPath(import.meta.resolve('protobufjs/package.json')));
  root.resolvePath = (_origin, target) =>
    target.startsWith('google/')
      ? join(bundled, target)
      : join(protoDir, target.replace(/^.*?hoptrace\//, 'hoptrace/'));
  const files = readdirSync(packageDir)
    .filter((f) => f.endsWith('.proto'))
    .sort();
  root.loadSync(
    files.map((f) => join(packageDir, f)),
    { keepCase: true, alternateCommentMode: true },
  );
  root.resolveAll();
  return root;
}

function doc(comment: string | null, where: string): string {
  const text = (comment ?? '').trim();
  if (!text) throw new Error(`${where} has no documentation comment; every table and column must be documented`);
  return text.replace(/\s*\n\s*/g, ' ');
}

const scalarKinds: Record<string, ColumnType['kind']> = {
  string: 'string',
  int32: 'int32',
  sint32: 'int32',
  int64: 'int64',
  sint64: 'int64',
  double: 'double',
  bool: 'bool',
};

function columnOf(field: protobuf.Field, where: string): Column {
  const name = `${where}.${field.name}`;
  const maxLength = field.options?.['(hoptrace.v1.max_len)'] as number | undefined;
  let type: ColumnType;
  if (field.map) {
    if (field.type !== 'string' || (field as unknown as protobuf.MapField).keyType !== 'string')
      throw new Error(`${name}: only map<string, string> is supported`);
    type = maxLength ? { kind: 'map', maxLength } : { kind: 'map' };
  } else {
    let element: ColumnType;
    if (field.resolvedType instanceof protobuf.Type) {
      const t = field.resolvedType;
      if (t.fullName === '.google.protobuf.Timestamp') element = { kind: 'timestamp' };
      else element = { kind: 'struct', name: t.name, fields: t.fieldsArray.map((f) => columnOf(f, t.name)) };
    } else if (field.resolvedType) {
      throw new Error(`${name}: enums are not used in the contract; use a documented string`);
    } else {
      const kind = scalarKinds[field.type];
      if (!kind)
        throw new Error(`${name}: type ${field.type} is not allowed (unsigned and bytes types are not Spark-safe)`);
      element = kind === 'string' && maxLength ? { kind: 'string', maxLength } : ({ kind } as ColumnType);
    }
    type = field.repeated ? { kind: 'list', element } : element;
  }
  const optional = Boolean(field.options?.proto3_optional);
  if (optional && (field.repeated || field.map))
    throw new Error(`${name}: lists and maps are never null; drop 'optional'`);
  return { name: field.name, type, nullable: optional, doc: doc(field.comment, name) };
}

function tablesOf(root: protobuf.Root): TableSchema[] {
  const tables: TableSchema[] = [];
  const visit = (ns: protobuf.NamespaceBase) => {
    for (const nested of ns.nestedArray) {
      if (nested instanceof protobuf.Type) {
        const table = nested.options?.['(hoptrace.v1.table)'] as string | undefined;
        if (!table) continue;
        const columns = nested.fieldsArray.map((f) => columnOf(f, nested.name));
        COMMON_COLUMNS.forEach((common, i) => {
          const field = nested.fieldsArray[i];
          if (field?.name !== common || field.id !== i + 1)
            throw new Error(`${nested.name}: field ${i + 1} must be the common column '${common}'`);
        });
        tables.push({ name: table, message: nested.name, doc: doc(nested.comment, nested.name), columns });
      } else if (nested instanceof protobuf.Namespace) visit(nested);
    }
  };
  visit(root);
  return tables.sort((a, b) => a.name.localeCompare(b.name));
}

// ---- TypeScript ------------------------------------------------------------

function tsType(t: ColumnType): string {
  switch (t.kind) {
    case 'string':
      return 'string';
    case 'int32':
    case 'int64':
    case 'double':
    case 'timestamp':
      return 'number';
    case 'bool':
      return 'boolean';
    case 'list':
      return `readonly ${tsType(t.element)}[]`;
    case 'map':
      return 'Readonly<Record<string, string>>';
    case 'struct':
      return t.name;
  }
}

function tsInterface(name: string, columns: readonly Column[], comment: string): string {
  const lines = [`/** ${comment} */`, `export interface ${name} {`];
  for (const c of columns) {
    const unit = c.type.kind === 'timestamp' ? ' (epoch microseconds, UTC)' : '';
    lines.push(`  /** ${c.doc}${unit} */`);
    // Lists and maps may be omitted (they are written empty, never null).
    const omittable = c.type.kind === 'list' || c.type.kind === 'map';
    lines.push(
      c.nullable
        ? `  ${c.name}?: ${tsType(c.type)} | null;`
        : omittable
          ? `  ${c.name}?: ${tsType(c.type)};`
          : `  ${c.name}: ${tsType(c.type)};`,
    );
  }
  lines.push('}');
  return lines.join('\n');
}

function structsOf(
  columns: readonly Column[],
  out: Map<string, Column[]>,
  docs: Map<string, string>,
  root: protobuf.Root,
) {
  for (const c of columns) {
    let t = c.type;
    if (t.kind === 'list') t = t.element;
    if (t.kind === 'struct' && !out.has(t.name)) {
      out.set(t.name, [...t.fields]);
      docs.set(t.name, doc(root.lookupType(`hoptrace.v1.${t.name}`).comment, t.name));
      structsOf(t.fields, out, docs, root);
    }
  }
}

function rowTypeName(t: TableSchema): string {
  return `${t.message}Row`;
}

function generateTs(tables: TableSchema[], root: protobuf.Root, fingerprint: string): string {
  const structs = new Map<string, Column[]>();
  const structDocs = new Map<string, string>();
  for (const t of tables) structsOf(t.columns, structs, structDocs, root);
  const parts = [
    '// Generated by scripts/gen-contract.ts from proto/hoptrace/v1 — do not edit.',
    "import type { TableSchema } from './schema.ts';",
    '',
    `export const SCHEMA_VERSION = ${schemaVersion};`,
    `/** Hash of the whole contract; changes whenever any table, column, type or bound does. */`,
    `export const CONTRACT_FINGERPRINT = '${fingerprint}';`,
    '',
  ];
  for (const [name, cols] of [...structs].sort(([a], [b]) => a.localeCompare(b)))
    parts.push(tsInterface(name, cols, structDocs.get(name) ?? name), '');
  for (const t of tables) parts.push(tsInterface(rowTypeName(t), t.columns, t.doc), '');
  parts.push('/** Row type of each table. */', 'export interface TableRows {');
  for (const t of tables) parts.push(`  ${t.name}: ${rowTypeName(t)};`);
  parts.push('}', '', 'export type TableName = keyof TableRows;', '');
  parts.push(`export const TABLE_NAMES: readonly TableName[] = [${tables.map((t) => `'${t.name}'`).join(', ')}];`, '');
  parts.push(
    '/** Schema of each table, in column order. */',
    `export const TABLES: Readonly<Record<TableName, TableSchema>> = ${JSON.stringify(
      Object.fromEntries(tables.map((t) => [t.name, t])),
      null,
      2,
    )};`,
    '',
  );
  return parts.join('\n');
}

// ---- Spark -----------------------------------------------------------------

type SparkType = string | Record<string, unknown>;

function sparkType(t: ColumnType): SparkType {
  switch (t.kind) {
    case 'string':
      return 'string';
    case 'int32':
      return 'integer';
    case 'int64':
      return 'long';
    case 'double':
      return 'double';
    case 'bool':
      return 'boolean';
    case 'timestamp':
      return 'timestamp';
    case 'list':
      return { type: 'array', elementType: sparkType(t.element), containsNull: false };
    case 'map':
      return { type: 'map', keyType: 'string', valueType: 'string', valueContainsNull: true };
    case 'struct':
      return sparkStruct(t.fields);
  }
}

function sparkStruct(columns: readonly Column[]): Record<string, unknown> {
  return {
    type: 'struct',
    fields: columns.map((c) => ({
      name: c.name,
      type: sparkType(c.type),
      nullable: c.nullable,
      metadata: { comment: c.doc },
    })),
  };
}

// ---- Markdown --------------------------------------------------------------

function mdType(t: ColumnType): string {
  switch (t.kind) {
    case 'string':
      return t.maxLength ? `string(≤${t.maxLength})` : 'string';
    case 'timestamp':
      return 'timestamp (µs, UTC)';
    case 'list':
      return `list<${mdType(t.element)}>`;
    case 'map':
      return t.maxLength ? `map<string, string(≤${t.maxLength})>` : 'map<string, string>';
    case 'struct':
      return `struct \`${t.name}\``;
    default:
      return t.kind;
  }
}

function mdColumns(columns: readonly Column[]): string[] {
  const rows = ['| column | type | null | meaning |', '|---|---|---|---|'];
  for (const c of columns)
    rows.push(`| \`${c.name}\` | ${mdType(c.type)} | ${c.nullable ? 'yes' : 'no'} | ${c.doc.replace(/\|/g, '\\|')} |`);
  return rows;
}

function generateMd(tables: TableSchema[], root: protobuf.Root, fingerprint: string): string {
  const structs = new Map<string, Column[]>();
  const structDocs = new Map<string, string>();
  for (const t of tables) structsOf(t.columns, structs, structDocs, root);
  const out = [
    '<!-- Generated by scripts/gen-contract.ts from proto/hoptrace/v1 — do not edit. -->',
    '# The hoptrace data contract (v1)',
    '',
    'The agent writes these tables as Parquet; the lakehouse reads them with the Spark schemas generated from the same',
    '`proto/hoptrace/v1` definitions (`lakehouse/src/hoptrace_lakehouse/contract/*.json`). `make test` fails when a',
    'generated file is out of date. Conventions: see `proto/hoptrace/v1/options.proto`.',
    '',
    `Schema version: ${schemaVersion}. Fingerprint: \`${fingerprint}\`.`,
    '',
    'Parquet encoding: ZSTD, data page V1; timestamps INT64 `TIMESTAMP(MICROS, isAdjustedToUTC=true)`; strings',
    'BYTE_ARRAY UTF8; lists and maps in the standard three-level layout; int32/int64 signed only.',
    '',
    'Object keys: `<prefix>/v1/<table>/date=YYYY-MM-DD/hour=HH/node=<node>/<epoch>-<seq>.parquet` (date and hour of',
    "the rows' `event_time`, UTC; `seq` zero-padded to 12 digits, increasing per table within an `epoch`).",
    '',
    '## Tables',
    '',
  ];
  for (const t of tables) out.push(`- [\`${t.name}\`](#${t.name}) — ${t.doc.split('. ')[0]}.`);
  for (const t of tables) out.push('', `## ${t.name}`, '', t.doc, '', ...mdColumns(t.columns));
  out.push('', '## Nested types');
  for (const [name, cols] of [...structs].sort(([a], [b]) => a.localeCompare(b)))
    out.push('', `### ${name}`, '', structDocs.get(name) ?? '', '', ...mdColumns(cols));
  out.push('');
  return out.join('\n');
}

// ---- main ------------------------------------------------------------------

function main(): number {
  const check = process.argv.includes('--check');
  const root = loadRoot();
  const tables = tablesOf(root);
  const fingerprint = createHash('sha256').update(JSON.stringify({ schemaVersion, tables })).digest('hex').slice(0, 16);
  const outputs = new Map<string, string>();
  outputs.set('agent/src/contract/generated.ts', generateTs(tables, root, fingerprint));
  for (const t of tables)
    outputs.set(
      `lakehouse/src/hoptrace_lakehouse/contract/${t.name}.json`,
      `${JSON.stringify(sparkStruct(t.columns), null, 2)}\n`,
    );
  outputs.set(
    'lakehouse/src/hoptrace_lakehouse/contract/manifest.json',
    `${JSON.stringify({ schema_version: schemaVersion, fingerprint, tables: tables.map((t) => t.name) }, null, 2)}\n`,
  );
  outputs.set('docs/contract.md', generateMd(tables, root, fingerprint));

  const stale: string[] = [];
  for (const [rel, text] of outputs) {
    const path = join(repo, rel);
    const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    if (current === text) continue;
    stale.push(rel);
    if (!check) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
    }
  }
  if (check && stale.length) {
    console.error(`contract drift: regenerate with 'make gen' — out of date: ${stale.join(', ')}`);
    return 1;
  }
  console.log(check ? 'contract: generated files are up to date' : `contract: ${stale.length} file(s) written`);
  return 0;
}

process.exitCode = main();
