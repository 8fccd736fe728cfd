// Privacy canaries: secrets placed everywhere an OTLP client can put them —
// off-list span and resource attributes, queries and full URLs, header
// values, user ids, span events, links, status messages, trace state, scope
// attributes, bytes and key-value-list values — must never reach the landed
// Parquet. Files are written uncompressed so that a byte search of them
// means something, and a positive control proves the search finds what is
// kept.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { EXPORTERS, exportWith, jsonToProtobuf, makeSpans, startOtlpAgent } from '../../../../test/support/otlp.ts';
import { runPython } from '../../../../test/support/python.ts';
import { tempDir } from '../../../../test/support/tmp.ts';

const c = (where: string) => `CANARY-${where}-5e1f`;
const KEPT = 'KEPT-route-marker';

const SECRET_ATTRIBUTES = {
  'db.statement': `SELECT * FROM users WHERE password = '${c('db-statement')}'`,
  'db.query.text': `UPDATE cards SET pan = '${c('db-query-text')}'`,
  'url.query': `token=${c('url-query')}`,
  'url.full': `https://shop.example.com/orders/42?token=${c('url-full')}`,
  'http.url': `http://user:${c('userinfo')}@payments:9000/charge?card=${c('http-url')}`,
  'http.target': `/search?q=${c('http-target')}`,
  'http.request.header.authorization': [`Bearer ${c('authorization')}`],
  'http.request.header.cookie': [`session=${c('cookie')}`],
  'http.response.header.set-cookie': [`session=${c('set-cookie')}`],
  'http.request.header.x-api-key': [c('api-key')],
  'enduser.id': c('enduser-id'),
  'user.email': `${c('user-email')}@example.com`,
  'http.request.body.content': c('request-body'),
  'messaging.message.body': c('message-body'),
  'exception.message': c('exception'),
  'http.route': `/orders/{id}/${KEPT}`,
};

function upload(port: number, body: Uint8Array, contentType: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/v1/traces', method: 'POST', headers: { 'content-type': contentType } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A raw OTLP/JSON request carrying what the SDK cannot: trace state, scope attributes, bytes and kvlist values. */
function rawRequest() {
  const kv = (key: string, value: unknown) => ({ key, value });
  return {
    resourceSpans: [
      {
        resource: {
          attributes: [
            kv('service.name', { stringValue: 'raw' }),
            kv('process.command_args', { arrayValue: { values: [{ stringValue: `--password=${c('cmdline')}` }] } }),
          ],
        },
        scopeSpans: [
          {
            scope: {
              name: 'raw-lib',
              version: c('scope-version'),
              attributes: [kv('k', { stringValue: c('scope-attr') })],
            },
            spans: [
              {
                traceId: '0af7651916cd43dd8448eb211c80319c',
                spanId: 'b7ad6b7169203331',
                traceState: `vendor=${c('trace-state')}`,
                name: `GET /search?q=${c('span-name')}`,
                kind: 2,
                startTimeUnixNano: '1768471200000000000',
                endTimeUnixNano: '1768471200000500000',
                attributes: [
                  kv('http.route', { stringValue: KEPT }),
                  kv('app.blob', { bytesValue: Buffer.from(c('bytes-value')).toString('base64') }),
                  kv('app.map', { kvlistValue: { values: [kv('inner', { stringValue: c('kvlist-value') })] } }),
                  kv('http.request.header.x-request-id', {
                    arrayValue: { values: [{ stringValue: 'req-1' }, { stringValue: c('second-header-value') }] },
                  }),
                ],
                events: [{ timeUnixNano: '1768471200000100000', name: c('raw-event'), attributes: [] }],
                links: [
                  {
                    traceId: '0af7651916cd43dd8448eb211c80319d',
                    spanId: 'b7ad6b7169203332',
                    traceState: c('link-state'),
                    attributes: [kv('k', { stringValue: c('raw-link-attr') })],
                  },
                ],
                status: { code: 2, message: c('raw-status') },
              },
            ],
          },
        ],
      },
    ],
  };
}

test('privacy: canary secrets in attributes, events, links, status and resources never reach landed Parquet', async () => {
  const dir = tempDir();
  const { agent, ports } = await startOtlpAgent(dir, {}, { encode: { compression: 'none' } });
  try {
    for (const kind of EXPORTERS) {
      const linked = makeSpans([{ name: 'linked' }])[0]!.spanContext();
      const spans = makeSpans(
        [
          {
            name: `GET /orders/42?token=${c(`${kind}-span-name`)}`,
            kind: SpanKind.SERVER,
            attributes: SECRET_ATTRIBUTES,
            events: [
              { name: c(`${kind}-event-name`), attributes: { 'exception.stacktrace': c(`${kind}-event-attr`) } },
            ],
            links: [{ context: linked, attributes: { reason: c(`${kind}-link-attr`) } }],
            status: { code: SpanStatusCode.ERROR, message: c(`${kind}-status-message`) },
          },
        ],
        {
          'service.name': 'canary',
          'k8s.pod.name': 'orders-1',
          'host.name': c('host-name'),
          'process.command_line': `app --token=${c('command-line')}`,
          'cloud.account.id': c('account-id'),
        },
      );
      const result = await exportWith(kind, ports, spans, { gzip: kind === 'grpc' });
      assert.equal(result.code, 0, `${kind}: ${result.error?.message}`);
    }
    const raw = rawRequest();
    assert.equal(await upload(ports.http, Buffer.from(JSON.stringify(raw)), 'application/json'), 200);
    raw.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.spanId = 'b7ad6b7169203339';
    assert.equal(await upload(ports.http, jsonToProtobuf(raw), 'application/x-protobuf'), 200);
  } finally {
    await agent.stop();
  }
  assert.deepEqual(agent.metrics.drops(), []);

  const files: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.parquet')) files.push(p);
    }
  };
  walk(join(dir, 'landing'));
  assert.ok(
    files.some((f) => f.includes('/spans/')),
    'spans landed',
  );
  const bytes = Buffer.concat(files.map((f) => readFileSync(f)));
  // Every column of every landed file (spans and heartbeats), decoded.
  const decoded = await runPython<string>(
    `
import json, sys
import pyarrow.parquet as pq
print(json.dumps(json.dumps([pq.read_table(p).to_pylist() for p in sys.argv[1:]], default=str)))
`,
    files,
  );
  assert.ok(bytes.includes(KEPT), 'positive control: a kept value is visible to the byte search');
  assert.ok(decoded.includes(KEPT), 'positive control: and to the decoded search');
  assert.ok(decoded.includes('req-1'), 'the first x-request-id value is kept');
  const leaks = [...new Set([...bytes.toString('latin1').matchAll(/CANARY-[a-z0-9-]+-5e1f/g)].map((m) => m[0]))];
  const decodedLeaks = [...new Set([...decoded.matchAll(/CANARY-[a-z0-9-]+-5e1f/g)].map((m) => m[0]))];
  assert.deepEqual(leaks, [], 'no canary in the Parquet bytes');
  assert.deepEqual(decodedLeaks, [], 'no canary in any decoded column');
  assert.ok(!decoded.includes('5e1f'), 'not even a fragment');
});
