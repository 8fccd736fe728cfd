// Schema drift is a property of the Parquet the agents land, not of their
// inputs (the parsers map every input into the contract). It happens when an
// agent of another version lands next to the others. This writes, for each
// chosen node, the files such an agent would land under its own spool epoch,
// laid out like the bucket (drift/landing/<prefix>/v1/…): `http_requests` with
// an extra column, `flows` with a renamed column (`src_pod` → `source_pod`),
// `spans` with an unknown `schema_version`, and the heartbeat that accounts
// for those sequence numbers. Copy drift/landing/ over the landing directory
// (or upload it to the bucket) to inject the fault.
import { TABLES, type TableName } from '../../../agent/src/contract/generated.ts';
import type { Column, ColumnType } from '../../../agent/src/contract/schema.ts';
import { builderFor } from '../../../agent/src/encode/columns.ts';
import { writeParquet } from '../../../agent/src/encode/parquet/writer.ts';
import type { Cluster } from '../model.ts';
import type { Rng } from '../rng.ts';

const S = 1_000_000;
export const DRIFT_PREFIX = 'drift/landing/hoptrace';

export interface DriftKind {
  readonly table: TableName;
  readonly change: 'extra_column' | 'renamed_column' | 'unknown_schema_version';
  readonly detail: string;
}

export const DRIFTS: readonly DriftKind[] = [
  { table: 'http_requests', change: 'extra_column', detail: 'upstream_zone' },
  { table: 'flows', change: 'renamed_column', detail: 'src_pod→source_pod' },
  { table: 'spans', change: 'unknown_schema_version', detail: '2' },
];

function defaultFor(t: ColumnType, eventUs: number): unknown {
  switch (t.kind) {
    case 'string':
      return '';
    case 'int32':
    case 'int64':
    case 'double':
      return 0;
    case 'bool':
      return false;
    case 'timestamp':
      return eventUs;
    case 'list':
      return [];
    case 'map':
      return {};
    case 'struct':
      return Object.fromEntries(t.fields.map((f) => [f.name, f.nullable ? null : defaultFor(f.type, eventUs)]));
  }
}

function parquet(columns: readonly Column[], rows: readonly Record<string, unknown>[]): Uint8Array {
  const builders = columns.map((c) => builderFor(c.name, c.type, () => {}));
  for (const row of rows) for (const [i, c] of columns.entries()) builders[i]!.append(row[c.name]);
  return writeParquet(
    { name: 'drift', message: 'drift', doc: '', columns },
    builders.map((b) => b.finish()),
    { compression: 'zstd', rowGroupRows: 100_000, createdBy: 'hoptrace-agent 0.2.0-sim' },
  );
}

const pad2 = (n: number) => String(n).padStart(2, '0');

function key(table: string, node: string, eventUs: number, epoch: string, seq: number): string {
  const d = new Date(Math.floor(eventUs / 1000));
  const date = `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
  return `${DRIFT_PREFIX}/v1/${table}/date=${date}/hour=${pad2(d.getUTCHours())}/node=${node}/${epoch}-${String(seq).padStart(12, '0')}.parquet`;
}

/** Writes the drift files of the chosen nodes; returns what was written per node. */
export function writeDriftFiles(
  root: Rng,
  cluster: Cluster,
  nodes: readonly string[],
  write: (rel: string, content: Uint8Array) => void,
): { node: string; files: string[] }[] {
  const out: { node: string; files: string[] }[] = [];
  const rng = root.fork('drift');
  for (const node of nodes) {
    const epoch = String(Math.floor(cluster.startUs / 1000) + 1 + cluster.nodes.findIndex((n) => n.name === node));
    const files: string[] = [];
    // One file per drifted table, all in one hour so the event time decides the key.
    const eventUs = cluster.startUs + Math.round((cluster.endUs - cluster.startUs) / 2);
    const progress: Record<string, unknown>[] = [];
    DRIFTS.forEach((d, i) => {
      const seq = 1;
      const schema = TABLES[d.table];
      let columns: Column[] = [...schema.columns];
      if (d.change === 'extra_column')
        columns.push({
          name: d.detail,
          type: { kind: 'string', maxLength: 64 },
          nullable: true,
          doc: 'added by a newer agent',
        });
      if (d.change === 'renamed_column')
        columns = columns.map((c) => (c.name === 'src_pod' ? { ...c, name: 'source_pod' } : c));
      const rows: Record<string, unknown>[] = [];
      for (let r = 0; r < 5; r++) {
        const t = eventUs + r * S + i * 1000;
        const row: Record<string, unknown> = {};
        for (const c of columns) row[c.name] = c.nullable ? null : defaultFor(c.type, t);
        Object.assign(row, {
          record_id: rng.hex(32),
          event_time: t,
          observed_time: t + 20_000,
          node,
          schema_version: d.change === 'unknown_schema_version' ? Number(d.detail) : 1,
        });
        if (d.table === 'http_requests')
          Object.assign(row, {
            source: 'container-logs',
            proxy: 'envoy',
            role: 'unknown',
            request_id: rng.uuid(),
            method: 'GET',
            path: '/healthz',
            status: 200,
            upstream_zone: cluster.nodes.find((n) => n.name === node)!.zone,
          });
        if (d.table === 'flows')
          Object.assign(row, {
            source: 'hubble-export',
            src_ip: `10.250.${rng.int(0, 255)}.${rng.int(1, 254)}`,
            dst_ip: `10.250.${rng.int(0, 255)}.${rng.int(1, 254)}`,
            verdict: 'FORWARDED',
            source_pod: `probe-${rng.suffix(5)}`,
          });
        if (d.table === 'spans')
          Object.assign(row, {
            source: 'otlp-http',
            trace_id: rng.id(32),
            span_id: rng.id(16),
            kind: 'INTERNAL',
            name: 'warmup',
            start_time: t - 1000,
            end_time: t,
            duration_us: 1000,
            status_code: 'UNSET',
          });
        rows.push(row);
      }
      const k = key(d.table, node, eventUs, epoch, seq);
      write(k, parquet(columns, rows));
      files.push(k);
      progress.push({
        table: d.table,
        last_seq: seq,
        uploaded_seq: seq,
        flushed_through: eventUs + 10 * S,
        records_in: rows.length,
        records_spooled: rows.length,
        records_buffered: 0,
      });
    });
    // The drifted agent's heartbeat: it accounts for the sequence numbers above.
    const hbUs = eventUs + 15 * S;
    const hb: Record<string, unknown> = {
      record_id: rng.hex(32),
      event_time: hbUs,
      observed_time: hbUs,
      node,
      source: 'agent',
      schema_version: 1,
      epoch,
      agent_version: '0.2.0-sim',
      started_at: eventUs - 60 * S,
      heartbeat_seq: 1,
      tables: progress,
      drops: [],
      losses: [],
      spool_bytes: 0,
      spool_files: 0,
      spool_oldest_age_us: null,
      tail_lag_bytes: null,
      source_lag_us: null,
    };
    const hk = key('agent_heartbeats', node, hbUs, epoch, 1);
    write(hk, parquet(TABLES.agent_heartbeats.columns, [hb]));
    files.push(hk);
    out.push({ node, files });
  }
  return out;
}
