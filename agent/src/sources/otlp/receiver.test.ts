// The receiver's protocol behaviour on a real agent: size limits (on the wire
// and after decompression), partial success, malformed and unsupported
// requests, backpressure from a full spool, and the in-flight byte budget.
// Clients are the SDK's exporters where they expose the behaviour, and raw
// HTTP / gRPC requests where the test must see status codes and headers.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { DiagLogLevel, diag } from '@opentelemetry/api';
import type { IdGenerator } from '@opentelemetry/sdk-trace';
import fc from 'fast-check';
import { until } from '../../../../test/support/agent.ts';
import { GatedStore } from '../../../../test/support/gated-store.ts';
import {
  EXPORTERS,
  exportWith,
  jsonToProtobuf,
  makeSpans,
  readSpanRows,
  startOtlpAgent,
} from '../../../../test/support/otlp.ts';
import { tempDir } from '../../../../test/support/tmp.ts';
import type { AgentMetrics } from '../../ops/metrics.ts';
import { ExportTraceServiceResponse, RpcStatus, TRACE_EXPORT_PATH } from './protos.ts';

interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One raw POST; `chunks` are written one by one (no Content-Length unless given). */
function post(
  port: number,
  body: Uint8Array | Uint8Array[],
  headers: Record<string, string>,
  path = '/v1/traces',
  method = 'POST',
): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    for (const chunk of Array.isArray(body) ? body : [body]) req.write(chunk);
    req.end();
  });
}

const PROTO = { 'content-type': 'application/x-protobuf' };
const JSON_TYPE = { 'content-type': 'application/json' };

function grpcExport(port: number, body: Uint8Array): Promise<{ code: number; details: string; response?: Buffer }> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const identity = (b: Buffer) => b;
  return new Promise((resolve) => {
    client.makeUnaryRequest(TRACE_EXPORT_PATH, identity, identity, Buffer.from(body), (err, response) => {
      client.close();
      if (err) resolve({ code: err.code, details: err.details });
      else resolve({ code: 0, details: '', ...(response ? { response } : {}) });
    });
  });
}

const kv = (key: string, value: string) => ({ key, value: { stringValue: value } });
const T0 = 1768471200000000000n;

/** An OTLP/JSON request of spans with ids derived from `seed`; `over` patches individual spans. */
function jsonRequest(seed: number, n: number, over: Record<number, Record<string, unknown>> = {}, pad = 0) {
  return {
    resourceSpans: [
      {
        resource: { attributes: [kv('service.name', 'raw')] },
        scopeSpans: [
          {
            scope: { name: 'raw-client' },
            spans: Array.from({ length: n }, (_, i) => ({
              traceId: (seed + 1).toString(16).padStart(32, '0'),
              spanId: (seed * 1000 + i + 1).toString(16).padStart(16, '0'),
              name: `op-${i}`,
              kind: 2,
              startTimeUnixNano: String(T0 + BigInt(i) * 1000n),
              endTimeUnixNano: String(T0 + BigInt(i) * 1000n + 5000n),
              attributes: pad ? [kv('app.padding', 'p'.repeat(pad))] : [],
              ...over[i],
            })),
          },
        ],
      },
    ],
  };
}

test('size limit: 413 / RESOURCE_EXHAUSTED on the wire and after decompression; the receiver keeps serving', async () => {
  const dir = tempDir();
  const { agent, ports } = await startOtlpAgent(dir, { max_request_bytes: '64KiB', max_inflight_bytes: '1MiB' });
  try {
    // 100 KB of one letter: over the limit as sent, a few hundred bytes gzipped.
    const big = makeSpans([{ name: 'big', attributes: { 'app.blob': 'a'.repeat(100_000) } }]);
    for (const gzip of [false, true]) {
      const viaGrpc = await exportWith('grpc', ports, big, { gzip });
      assert.equal(viaGrpc.error?.code, grpc.status.RESOURCE_EXHAUSTED, `grpc gzip=${gzip}: ${viaGrpc.error?.message}`);
      for (const kind of ['http-proto', 'http-json'] as const) {
        const viaHttp = await exportWith(kind, ports, big, { gzip });
        assert.equal(viaHttp.error?.code, 413, `${kind} gzip=${gzip}: ${viaHttp.error?.message}`);
      }
    }
    // A declared Content-Length over the limit is refused before the body is read.
    const body = Buffer.alloc(70 * 1024, 0x0a);
    const declared = await post(ports.http, body, { ...PROTO, 'content-length': String(body.length) });
    assert.equal(declared.status, 413);
    assert.equal(RpcStatus.toObject(RpcStatus.decode(declared.body)).code, 8);
    const zipped = gzipSync(jsonToProtobuf(jsonRequest(1, 1, {}, 80_000)));
    const bomb = await post(ports.http, zipped, { ...PROTO, 'content-encoding': 'gzip' });
    assert.equal(bomb.status, 413);
    assert.match(RpcStatus.toObject(RpcStatus.decode(bomb.body)).message as string, /decompressed/);

    assert.deepEqual(agent.metrics.drops(), [
      { table: 'spans', source: 'otlp', reason: 'request_too_large', count: 8 },
    ]);
    const small = makeSpans([{ name: 'small' }]);
    for (const kind of EXPORTERS) assert.equal((await exportWith(kind, ports, small, { gzip: true })).code, 0, kind);
  } finally {
    await agent.stop();
  }
  assert.equal((await readSpanRows(join(dir, 'landing'))).length, 3);
});

/** Every third span id is all zero: invalid, so the receiver must reject exactly those. */
class EveryThirdSpanIdZero implements IdGenerator {
  private n = 0;
  generateTraceId(): string {
    return `${(++this.n).toString(16).padStart(8, '0')}${'c'.repeat(24)}`;
  }
  generateSpanId(): string {
    this.n++;
    return this.n % 3 === 0 ? '0000000000000000' : this.n.toString(16).padStart(16, '0');
  }
}

test('partial success: invalid spans are rejected and reported to the SDK exporters and raw clients; the rest land', async () => {
  const dir = tempDir();
  const { agent, ports } = await startOtlpAgent(dir);
  const warnings: string[] = [];
  diag.setLogger(
    {
      error: () => {},
      warn: (...args: unknown[]) => warnings.push(args.map(String).join(' ')),
      info: () => {},
      debug: () => {},
      verbose: () => {},
    },
    DiagLogLevel.WARN,
  );
  let expectedLanded = 0;
  let zeroIds = 0;
  try {
    for (const kind of EXPORTERS) {
      const spans = makeSpans(
        Array.from({ length: 6 }, (_, i) => ({ name: `${kind}-${i}` })),
        { 'service.name': kind },
        new EveryThirdSpanIdZero(),
      );
      const zero = spans.filter((s) => s.spanContext().spanId === '0000000000000000').length;
      assert.ok(zero > 0 && zero < spans.length);
      expectedLanded += spans.length - zero;
      zeroIds += zero;
      warnings.length = 0;
      const result = await exportWith(kind, ports, spans);
      assert.equal(result.code, 0, `${kind}: a partial success is a success to the client`);
      const partial = warnings.find((w) => w.includes('Partial Success'));
      assert.ok(partial, `${kind}: the exporter decoded a partial_success (${warnings.join('|')})`);
      assert.match(partial, new RegExp(`"rejectedSpans":"?${zero}"?`));
      assert.match(partial, /invalid_span_id/);
    }

    // Raw clients see the exact fields, in the request's encoding.
    const mixed = jsonRequest(7, 6, {
      0: { traceId: 'W47/95gDgQPSabYzgT/GDA==' },
      1: { endTimeUnixNano: '1000000000' },
      2: { traceId: '0AF7651916CD43DD8448EB211C80319C', kind: 'SPAN_KIND_CLIENT' },
    });
    const json = await post(ports.http, Buffer.from(JSON.stringify(mixed)), {
      'content-type': 'application/json; charset=utf-8',
    });
    assert.equal(json.status, 200);
    assert.equal(json.headers['content-type'], 'application/json');
    const parsed = JSON.parse(json.body.toString()) as {
      partialSuccess: { rejectedSpans: string; errorMessage: string };
    };
    assert.equal(parsed.partialSuccess.rejectedSpans, '2');
    assert.match(
      parsed.partialSuccess.errorMessage,
      /2 of 6 spans rejected \(1 invalid_trace_id, 1 end_before_start\)/,
    );
    const proto = await post(ports.http, jsonToProtobuf(jsonRequest(8, 3, { 1: { spanId: 'abcd' } })), PROTO);
    assert.equal(proto.status, 200);
    const decoded = ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(proto.body), {
      longs: Number,
    }) as { partialSuccess: { rejectedSpans: number; errorMessage: string } };
    assert.equal(decoded.partialSuccess.rejectedSpans, 1);
    const viaGrpc = await grpcExport(ports.grpc, jsonToProtobuf(jsonRequest(9, 4, { 3: { parentSpanId: '12' } })));
    assert.equal(viaGrpc.code, 0);
    const grpcDecoded = ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(viaGrpc.response!), {
      longs: Number,
    }) as { partialSuccess: { rejectedSpans: number; errorMessage: string } };
    assert.equal(grpcDecoded.partialSuccess.rejectedSpans, 1);
    assert.match(grpcDecoded.partialSuccess.errorMessage, /invalid_parent_span_id/);
    // A fully accepted request carries no partial_success.
    const clean = await post(ports.http, Buffer.from(JSON.stringify(jsonRequest(10, 2))), JSON_TYPE);
    assert.equal(clean.body.toString(), '{}');
    expectedLanded += 4 + 2 + 3 + 2;
  } finally {
    diag.disable();
    await agent.stop();
  }
  const rows = await readSpanRows(join(dir, 'landing'));
  assert.equal(rows.length, expectedLanded);
  assert.ok(rows.some((r) => r.trace_id === '0af7651916cd43dd8448eb211c80319c' && r.kind === 'CLIENT'));
  const drops = Object.fromEntries(agent.metrics.drops().map((d) => [d.reason, d.count]));
  assert.deepEqual(drops, {
    end_before_start: 1,
    invalid_parent_span_id: 1,
    invalid_span_id: zeroIds + 1,
    invalid_trace_id: 1,
  });
});

test('malformed and unsupported requests get the right error, are counted, and never stop the receiver', async () => {
  const dir = tempDir();
  const { agent, ports } = await startOtlpAgent(dir);
  try {
    const garbage = await post(ports.http, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), PROTO);
    assert.equal(garbage.status, 400);
    assert.equal(RpcStatus.toObject(RpcStatus.decode(garbage.body)).code, 3);
    const notJson = await post(ports.http, Buffer.from('{"resourceSpans": [ db.statement=secret'), JSON_TYPE);
    assert.equal(notJson.status, 400);
    assert.deepEqual(JSON.parse(notJson.body.toString()), { code: 3, message: 'the body is not valid JSON' });
    for (const body of ['[]', '{"resourceSpans": {}}', '{"resourceSpans": [{"scopeSpans": 3}]}']) {
      const r = await post(ports.http, Buffer.from(body), JSON_TYPE);
      assert.equal(r.status, 400, body);
      assert.match(JSON.parse(r.body.toString()).message, /not an OTLP trace export request/);
    }
    const badGzip = await post(ports.http, Buffer.from('not gzip'), { ...PROTO, 'content-encoding': 'gzip' });
    assert.equal(badGzip.status, 400);
    const grpcGarbage = await grpcExport(ports.grpc, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    assert.equal(grpcGarbage.code, grpc.status.INVALID_ARGUMENT);
    const malformedSoFar = 7;

    assert.equal((await post(ports.http, Buffer.from('{}'), JSON_TYPE, '/v1/metrics')).status, 404);
    const get = await post(ports.http, Buffer.alloc(0), {}, '/v1/traces', 'GET');
    assert.equal(get.status, 405);
    assert.equal(get.headers.allow, 'POST');
    assert.equal((await post(ports.http, Buffer.from('{}'), { 'content-type': 'text/plain' })).status, 415);
    assert.equal((await post(ports.http, Buffer.from('{}'), { ...JSON_TYPE, 'content-encoding': 'br' })).status, 415);

    // Random bodies on every path: each gets an answer, none takes the receiver down.
    let malformed = malformedSoFar;
    const inputs = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 300 }), { numRuns: 60, seed: 42 });
    for (const [i, bytes] of inputs.entries()) {
      if (i % 3 === 0) {
        const r = await grpcExport(ports.grpc, bytes);
        assert.ok([grpc.status.OK, grpc.status.INVALID_ARGUMENT].includes(r.code), `${r.code} ${r.details}`);
        if (r.code) malformed++;
      } else {
        const r = await post(ports.http, bytes, i % 3 === 1 ? PROTO : JSON_TYPE);
        assert.ok([200, 400].includes(r.status), String(r.status));
        if (r.status === 400) malformed++;
      }
    }
    assert.deepEqual(agent.metrics.drops(), [
      { table: 'spans', source: 'otlp', reason: 'malformed_request', count: malformed },
    ]);
    const unsupported = (await agent.metrics.otlpRequests.get()).values.find((v) => v.labels.result === 'unsupported');
    assert.equal(unsupported?.value, 4);
    for (const kind of EXPORTERS) assert.equal((await exportWith(kind, ports, makeSpans([{ name: kind }]))).code, 0);
  } finally {
    await agent.stop();
  }
});

test('backpressure: a full spool answers UNAVAILABLE / 503 with Retry-After; nothing refused lands, everything accepted does', async () => {
  const dir = tempDir();
  const store = new GatedStore(join(dir, 'landing'));
  const { agent, ports } = await startOtlpAgent(
    dir,
    { retry_after: '7s' },
    { spool: { dir: join(dir, 'spool'), max_bytes: '16KiB' }, batch: { max_rows: 20 } },
    store,
  );
  const accepted = new Set<string>();
  try {
    let refused: { code?: number; message?: string } | undefined;
    for (let i = 0; i < 200 && !refused; i++) {
      const spans = makeSpans(Array.from({ length: 20 }, (_, k) => ({ name: `fill-${i}-${k}` })));
      const result = await exportWith('grpc', ports, spans, { timeoutMillis: 2000 });
      if (result.code === 0) for (const s of spans) accepted.add(s.spanContext().spanId);
      else refused = result.error ?? {};
      // Let the pipeline encode and spool what it took, so the spool fills.
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(refused?.code, grpc.status.UNAVAILABLE, `refused with ${refused?.message}`);
    assert.equal(agent.status().hasCapacity, false);

    const body = jsonToProtobuf(jsonRequest(3, 5));
    const http = await post(ports.http, body, PROTO);
    assert.equal(http.status, 503);
    assert.equal(http.headers['retry-after'], '7');
    assert.equal(RpcStatus.toObject(RpcStatus.decode(http.body)).code, 14);
    const viaJson = await exportWith('http-json', ports, makeSpans([{ name: 'refused' }]), { timeoutMillis: 2000 });
    assert.equal(viaJson.code, 1, 'the SDK sees a retryable refusal it cannot retry within its timeout');
    // Refused before decoding: the client keeps the spans and retries, so nothing is counted as dropped.
    assert.deepEqual(agent.metrics.drops(), []);
    const busy = (await agent.metrics.otlpRequests.get()).values.filter((v) => v.labels.result === 'busy');
    assert.equal(
      busy.reduce((n, v) => n + v.value, 0),
      3,
      'the three refused requests are counted as busy answers',
    );

    store.open();
    await until(() => agent.status().hasCapacity, 'the spool to drain');
    const after = makeSpans(Array.from({ length: 3 }, (_, k) => ({ name: `after-${k}` })));
    assert.equal((await exportWith('http-proto', ports, after)).code, 0);
    for (const s of after) accepted.add(s.spanContext().spanId);
  } finally {
    store.open();
    await agent.stop();
  }
  const rows = await readSpanRows(join(dir, 'landing'));
  assert.deepEqual(rows.map((r) => r.span_id).sort(), [...accepted].sort(), 'exactly the accepted spans landed, once');
});

test('in-flight budget: a request that would exceed it is refused with 503 until the bytes in flight are released', async () => {
  const dir = tempDir();
  const { agent, ports } = await startOtlpAgent(dir, { max_request_bytes: '8KiB', max_inflight_bytes: '8KiB' });
  try {
    const body = jsonToProtobuf(jsonRequest(11, 1, {}, 5000));
    // The first request declares its size, sends a little, and stalls.
    const slow = httpRequest({
      host: '127.0.0.1',
      port: ports.http,
      path: '/v1/traces',
      method: 'POST',
      headers: { ...PROTO, 'content-length': String(body.length) },
    });
    const replied = new Promise<HttpReply>((resolve, reject) => {
      slow.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      });
      slow.on('error', reject);
    });
    slow.write(body.subarray(0, 10));
    await waitFor(async () => (await inflight(agent)) === body.length, 'the first request to hold its bytes');

    const declared = await post(ports.http, jsonToProtobuf(jsonRequest(12, 1, {}, 5000)), {
      ...PROTO,
      'content-length': String(body.length),
    });
    assert.equal(declared.status, 503);
    assert.ok(declared.headers['retry-after']);
    // Without a Content-Length the budget is checked as the body streams in.
    const streamed = await post(ports.http, [body.subarray(0, 2000), body.subarray(2000)], PROTO);
    assert.equal(streamed.status, 503);
    const viaGrpc = await grpcExport(ports.grpc, jsonToProtobuf(jsonRequest(13, 1)));
    assert.equal(viaGrpc.code, 0, 'a small request still fits beside the stalled one');

    slow.end(body.subarray(10));
    assert.equal((await replied).status, 200);
    await waitFor(async () => (await inflight(agent)) === 0, 'the bytes to be released');
    assert.equal((await post(ports.http, body, PROTO)).status, 200);
    assert.deepEqual(agent.metrics.drops(), [{ table: 'spans', source: 'otlp', reason: 'receiver_busy', count: 2 }]);
  } finally {
    await agent.stop();
  }
});

async function inflight(agent: { metrics: AgentMetrics }): Promise<number> {
  return (await agent.metrics.otlpInflightBytes.get()).values[0]?.value ?? 0;
}

async function waitFor(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting for: ${what}`);
}
