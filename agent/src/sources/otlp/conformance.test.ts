// Conformance over real-world OTLP/JSON written by other projects (the
// shared corpus; never copied into this repository). Each file is posted
// as OTLP/JSON and, converted, as OTLP/protobuf to a real agent; every span
// must be accepted and land as the file says, from both encodings alike.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { jsonToProtobuf, readSpanRows, startOtlpAgent } from '../../../../test/support/otlp.ts';
import { tempDir } from '../../../../test/support/tmp.ts';

// shared/ sits beside the repository (as in CI); the variables point elsewhere.
const CORPUS =
  process.env.HOPTRACE_OTLP_CORPUS ??
  resolve(process.env.HOPTRACE_CORPUS ?? resolve(import.meta.dirname, '../../../../../shared/corpus'), 'otlp');
const KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];

interface Expected {
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  name: string;
  kind: string;
  start_time: number;
  end_time: number;
  service_name: string | null;
  scope_name: string | null;
}

type J = Record<string, unknown>;

/** What the file says, read independently of the receiver's code. */
function expectedRows(doc: J): Expected[] {
  const out: Expected[] = [];
  for (const rs of (doc.resourceSpans as J[]) ?? []) {
    const attrs = ((rs.resource as J | undefined)?.attributes as J[]) ?? [];
    const service = attrs.find((a) => a.key === 'service.name')?.value as J | undefined;
    for (const ss of (rs.scopeSpans as J[]) ?? [])
      for (const s of (ss.spans as J[]) ?? []) {
        const scopeName = (ss.scope as J | undefined)?.name as string | undefined;
        out.push({
          trace_id: (s.traceId as string).toLowerCase(),
          span_id: (s.spanId as string).toLowerCase(),
          parent_span_id: s.parentSpanId ? (s.parentSpanId as string).toLowerCase() : null,
          name: s.name as string,
          kind: KINDS[(s.kind as number | undefined) ?? 0]!,
          start_time: Number(BigInt(s.startTimeUnixNano as string) / 1000n),
          end_time: Number(BigInt(s.endTimeUnixNano as string) / 1000n),
          service_name: (service?.stringValue as string | undefined) ?? null,
          scope_name: scopeName || null,
        });
      }
  }
  return out;
}

function post(port: number, body: Uint8Array, contentType: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/v1/traces', method: 'POST', headers: { 'content-type': contentType } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const key = (r: Record<string, unknown> | Expected) => `${r.trace_id}/${r.span_id}`;

test('conformance: every OTLP/JSON file of the shared corpus is accepted whole and lands as written', async (t) => {
  assert.ok(
    existsSync(CORPUS),
    `OTLP corpus not found at ${CORPUS}: this conformance check needs it (set HOPTRACE_OTLP_CORPUS to its location)`,
  );
  const files = readdirSync(CORPUS)
    .filter((f) => f.endsWith('.json'))
    .sort();
  assert.ok(files.length > 0, `no .json files in ${CORPUS}`);
  const dir = tempDir();
  const { agent, ports } = await startOtlpAgent(dir);
  const expected: Expected[] = [];
  try {
    for (const file of files) {
      const text = readFileSync(join(CORPUS, file));
      const doc = JSON.parse(text.toString()) as J;
      const rows = expectedRows(doc);
      const json = await post(ports.http, text, 'application/json');
      assert.equal(json.status, 200, `${file} as JSON: ${json.body}`);
      assert.equal(json.body.toString(), '{}', `${file} as JSON: no span may be rejected`);
      const proto = await post(ports.http, jsonToProtobuf(doc), 'application/x-protobuf');
      assert.equal(proto.status, 200, `${file} as protobuf: ${proto.body}`);
      assert.equal(proto.body.length, 0, `${file} as protobuf: no span may be rejected`);
      t.diagnostic(`${file}: ${rows.length} spans accepted from JSON and from protobuf`);
      expected.push(...rows);
    }
  } finally {
    await agent.stop();
  }
  assert.deepEqual(agent.metrics.drops(), []);
  const landed = await readSpanRows(join(dir, 'landing'));
  // Each span was sent twice (JSON, then protobuf); duplicates share a record_id.
  assert.equal(landed.length, expected.length * 2);
  const want = new Map<string, Expected[]>();
  for (const e of expected) want.set(key(e), [...(want.get(key(e)) ?? []), e]);
  for (const row of landed) {
    const candidates = want.get(key(row));
    assert.ok(candidates, `unexpected span ${key(row)}`);
    const picked = Object.fromEntries(Object.keys(candidates[0]!).map((k) => [k, row[k]]));
    assert.ok(
      candidates.some((c) => JSON.stringify(c) === JSON.stringify(picked)),
      `${key(row)} landed as ${JSON.stringify(picked)}, expected one of ${JSON.stringify(candidates)}`,
    );
  }
  const byId = new Map<string, Set<string>>();
  for (const row of landed)
    byId.set(row.record_id as string, (byId.get(row.record_id as string) ?? new Set()).add(key(row)));
  for (const [id, keys] of byId) assert.equal(keys.size, 1, `record_id ${id} is shared by different spans`);
});
