// Conformance of the flow sources with real-world samples written by others
// (../shared/corpus/{hubble,calico}, read in place, never copied into the
// project): every line is accounted for, nothing crashes, every row fits the
// contract, and the samples' notable traits come out as they should. The
// samples are required: a missing corpus fails the test.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { Agent } from '../agent/src/agent.ts';
import { type FlowRow, TABLES } from '../agent/src/contract/generated.ts';
import { validateRow } from '../agent/src/contract/validate.ts';
import { silentLogger } from '../agent/src/ops/logger.ts';
import { mapCalicoFlowLog } from '../agent/src/sources/calico/flow-log.ts';
import { decodeExportLine } from '../agent/src/sources/hubble/export-line.ts';
import { HubbleFlowMapper } from '../agent/src/sources/hubble/flow-mapper.ts';
import { readLanded, testConfig } from './support/agent.ts';
import { tempDir } from './support/tmp.ts';

const CORPUS = resolve(process.env.HOPTRACE_CORPUS ?? resolve(import.meta.dirname, '../../shared/corpus'));

function corpusFiles(kind: string): string[] {
  const dir = join(CORPUS, kind);
  assert.ok(
    existsSync(dir),
    `the ${kind} corpus is missing at ${dir}: conformance needs the shared samples (set HOPTRACE_CORPUS to their directory)`,
  );
  const files = readdirSync(dir)
    .filter((f) => !f.startsWith('.'))
    .sort()
    .map((f) => join(dir, f));
  assert.ok(files.length > 0, `no files in ${dir}`);
  return files;
}

interface HubbleFileResult {
  readonly lines: number;
  readonly rows: FlowRow[];
  readonly other: Record<string, number>;
}

function mapHubbleFile(path: string): HubbleFileResult {
  const mapper = new HubbleFlowMapper({ node: 'node-a', source: 'hubble-export' });
  const rows: FlowRow[] = [];
  const other: Record<string, number> = {};
  let lines = 0;
  for (const [i, line] of readFileSync(path, 'utf8').split('\n').entries()) {
    if (!line.trim()) continue;
    lines++;
    const event = decodeExportLine(line, mapper, () => `${path}:${i}`, 1);
    if (event.kind === 'flow') {
      assert.equal(validateRow(TABLES.flows, event.row), undefined, `${path}:${i + 1}`);
      rows.push(event.row);
    } else {
      const key = event.kind === 'drop' ? `drop:${event.reason}` : event.kind;
      other[key] = (other[key] ?? 0) + 1;
    }
  }
  return { lines, rows, other };
}

test('Hubble corpus: every line maps to a valid flow row, with the samples’ traits', (t) => {
  const results = new Map(corpusFiles('hubble').map((f) => [f.split('/').pop()!, mapHubbleFile(f)]));
  for (const [name, r] of results) {
    const rate = r.rows.length / r.lines;
    t.diagnostic(
      `${name}: ${r.rows.length}/${r.lines} lines → rows (${(rate * 100).toFixed(1)}%) ${JSON.stringify(r.other)}`,
    );
    assert.deepEqual(r.other, {}, `${name}: every line is a flow`);
  }
  const rows = (name: string) => {
    const r = results.get(name);
    assert.ok(r, `${name} is part of the corpus`);
    return r.rows;
  };
  const count = (list: FlowRow[], p: (r: FlowRow) => unknown) => list.filter(p).length;

  // Deprecated `reply: true` without is_reply.
  assert.equal(
    count(rows('basic-sample-10-flows.json'), (r) => r.is_reply === true),
    5,
  );
  // L7 HTTP: path without query, correlation headers, latency on responses.
  const http = rows('basic-sample-348-http-flows.json');
  assert.equal(
    count(http, (r) => r.l7_protocol === 'http' && r.http_method && r.http_path?.startsWith('/')),
    348,
  );
  assert.equal(
    count(http, (r) => r.http_path?.includes('?')),
    0,
  );
  assert.equal(
    count(http, (r) => r.request_id),
    348,
  );
  assert.equal(
    count(http, (r) => r.l7_type === 'RESPONSE' && (r.l7_latency_us ?? 0) > 0),
    173,
  );
  assert.ok(count(http, (r) => /^[0-9a-f]{32}$/.test(r.trace_id ?? '')) > 0, 'B3 trace ids');
  // DNS: the query, never the answer.
  const dns = rows('basic-sample-5-dns-flows.json');
  assert.equal(
    count(dns, (r) => r.dns_query?.endsWith('.')),
    5,
  );
  assert.equal(
    count(rows('basic-sample-400-udp-flows.json'), (r) => r.l4_protocol === 'UDP'),
    400,
  );
  assert.equal(
    count(rows('basic-sample-400-icmpv4-flows.json'), (r) => r.l4_protocol === 'ICMPv4'),
    18,
  );
  const tcp = rows('basic-sample-400-tcp-flows.json');
  assert.ok(count(tcp, (r) => r.verdict === 'REDIRECTED') > 0, 'redirected to the L7 proxy');
  assert.ok(count(tcp, (r) => r.observation_point === 'TO_PROXY') > 0);
  // The exporter sample: drops with reasons, IPv6, empty endpoints, a cluster-prefixed node name.
  const exported = rows('export.rst.output.jsonl');
  assert.deepEqual(
    exported.map((r) => [r.verdict, r.drop_reason, r.l4_protocol, r.reported_node]),
    [
      ['DROPPED', 'INVALID_SOURCE_IP', 'ICMPv6', 'kind-kind/kind-worker'],
      ['DROPPED', 'POLICY_DENIED', 'TCP', 'kind-kind/kind-worker'],
    ],
  );
  assert.equal(exported[0]!.src_ip, 'fe80::64d8:8aff:fe72:fc14');
});

test('Hubble corpus through the export-file source: every distinct flow lands once', async (t) => {
  const files = corpusFiles('hubble');
  const lines = files.flatMap((f) =>
    readFileSync(f, 'utf8')
      .split('\n')
      .filter((l) => l.trim()),
  );
  // basic-sample-5-http-flows.json repeats the first lines of basic-sample-348-http-flows.json in the same
  // directory: the tailer takes it for a copy of the other (copytruncate) and reads that content once.
  const expected = new Set(lines).size;
  const dir = tempDir();
  const config = testConfig(dir, {
    sources: [{ type: 'hubble-export', include: files, exclude: [], start_at: 'beginning' }],
  });
  const agent = new Agent(config, { logger: silentLogger });
  await agent.start('drain');
  await agent.drain();
  const ids = (await readLanded(`${dir}/landing`)).tables.flows?.record_ids ?? [];
  t.diagnostic(`${files.length} files, ${lines.length} lines, ${expected} distinct flows, ${ids.length} landed`);
  assert.equal(ids.length, expected);
  assert.equal(new Set(ids).size, expected);
  assert.deepEqual(agent.metrics.drops(), []);
});

test('Calico corpus: lines that are not flow records are counted drops; the published record maps', async (t) => {
  const files = corpusFiles('calico');
  const dir = tempDir();
  const config = testConfig(dir, {
    sources: [{ type: 'calico', include: files, exclude: [], start_at: 'beginning' }],
  });
  const agent = new Agent(config, { logger: silentLogger });
  await agent.start('drain');
  await agent.drain();
  const landed = (await readLanded(`${dir}/landing`)).tables.flows?.record_ids ?? [];
  const drops = agent.metrics.drops().reduce((n, d) => n + d.count, 0);
  let lines = 0;
  let documents = 0;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    lines += text.split('\n').filter((l) => l.trim()).length;
    // The published example is one pretty-printed record, with a trailing comma (invalid JSON as published).
    const record = JSON.parse(text.replace(/,(\s*[\]}])/g, '$1'));
    const result = mapCalicoFlowLog(record, { node: 'node-a', source: 'calico', recordId: file, observedUs: 1 });
    assert.ok('row' in result, `${file}: ${JSON.stringify(result)}`);
    assert.equal(validateRow(TABLES.flows, result.row), undefined);
    const r = result.row;
    assert.deepEqual(
      [r.flow_start_time, r.flow_end_time, r.verdict, r.traffic_direction, r.l4_protocol, r.dst_port, r.flow_count],
      [1_597_166_083_000_000, 1_597_166_383_000_000, 'FORWARDED', 'INGRESS', 'TCP', 80, 1],
    );
    assert.deepEqual(
      [r.src_pod, r.dst_namespace, r.bytes_in, r.bytes_out],
      ['access-6b687c8dcb-zn5s2', 'policy-demo', 388, 1113],
    );
    assert.deepEqual(r.policies, [
      '0|tier1|ns1/tier1.policy1|pass|3',
      '1|default|policy-demo/default.access-nginx|allow|2',
    ]);
    documents++;
  }
  t.diagnostic(
    `${files.length} file(s): as JSON lines ${landed.length}/${lines} rows, ${drops} counted drops; as documents ${documents}/${files.length} mapped`,
  );
  assert.equal(landed.length + drops, lines, 'every line is a row or a counted drop');
});
