// Builds agents for tests from YAML like an operator would write, and reads
// back what they landed with pyarrow.
import { stringify } from 'yaml';
import { parseConfig } from '../../agent/src/config/load.ts';
import type { AgentConfig } from '../../agent/src/config/schema.ts';
import { runPython } from './python.ts';

export function testConfig(dir: string, overrides: Record<string, unknown> = {}): AgentConfig {
  const doc = {
    node_name: 'node-a',
    spool: { dir: `${dir}/spool` },
    store: { type: 'local', dir: `${dir}/landing`, prefix: 'hoptrace' },
    server: { enabled: false },
    log: { level: 'fatal' },
    heartbeat: { interval: '1h' },
    ...overrides,
  };
  return parseConfig(stringify(doc), `${dir}/hoptrace.yaml`, {});
}

export interface Landed {
  /** Per table: rows and record ids over all landed files. */
  tables: Record<string, { files: number; rows: number; record_ids: string[] }>;
  keys: string[];
}

/** Every Parquet object under `root`, grouped by table (the key segment after `v1`). */
export function readLanded(root: string): Promise<Landed> {
  return runPython<Landed>(
    `
import json, os, sys
import pyarrow.parquet as pq
root = sys.argv[1]
tables, keys = {}, []
for d, _, files in os.walk(root):
    for f in sorted(files):
        if not f.endswith('.parquet'):
            continue
        path = os.path.join(d, f)
        key = os.path.relpath(path, root)
        keys.append(key)
        parts = key.split('/')
        t = tables.setdefault(parts[parts.index('v1') + 1], {'files': 0, 'rows': 0, 'record_ids': []})
        ids = pq.read_table(path, columns=['record_id']).column('record_id').to_pylist()
        t['files'] += 1
        t['rows'] += len(ids)
        t['record_ids'].extend(ids)
print(json.dumps({'tables': tables, 'keys': sorted(keys)}))
`,
    [root],
  );
}

/** Polls until `condition` holds; the limit only keeps a broken test from hanging. */
export async function until(condition: () => boolean, what: string, limitMs = 60_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > limitMs) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
