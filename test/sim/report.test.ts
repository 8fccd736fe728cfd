// The demo's HTML report: a path is drawn hop by hop in the order of the
// hops' seq (not of the array), with their timings, evidence and confidence;
// values from logs are escaped; the file needs nothing from elsewhere.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { percentiles } from '../../sim/src/run/freshness.ts';
import { esc, formatPathText, type Hop, pathSvg, pickExamples, renderReport } from '../../sim/src/run/report.ts';

const EVIL = '<script>alert("x")</script>';

function hop(seq: number, kind: string, extra: Partial<Hop>): Hop {
  return { seq, kind, start_time: null, end_time: null, ...extra };
}

// Deliberately out of order in the array: the lakehouse numbers hops, readers sort them.
const path = {
  path_id: 'p1',
  request_id: 'req-1',
  method: 'GET',
  authority: `shop.example"><img src=x onerror=alert(1)>`,
  path: '/api/cart',
  status: 200,
  completeness: 'complete',
  confidence: 0.9,
  client_ip: '198.51.100.7',
  service_namespace: 'shop',
  service_name: 'cart',
  target_namespace: 'shop',
  target_pod: 'cart-7d9f-aaaaa',
  target_container: 'app',
  target_node: 'node-02',
  routing: 'kube_proxy_dnat',
  duration_us: 12_345,
  hops: [
    hop(3, 'downstream', {
      namespace: 'payments',
      pod: 'ledger-1',
      node: 'node-03',
      evidence: 'server_span',
      latency_us: 2500,
    }),
    hop(0, 'client_to_ingress', {
      from_addr: '198.51.100.7',
      to_addr: '203.0.113.10',
      pod: 'ingress-a',
      evidence: 'ingress_log',
    }),
    hop(2, 'upstream_attempt', {
      attempt: 1,
      service: 'shop/cart:80',
      routing: 'kube_proxy_dnat',
      namespace: 'shop',
      pod: 'cart-7d9f-aaaaa',
      container: 'app',
      node: 'node-02',
      evidence: 'sidecar_inbound_log',
      network_evidence: 'connection_tuple',
      confidence: 0.9,
      latency_us: 11_000,
      status: 200,
    }),
    hop(1, 'ingress', {
      namespace: 'ingress-nginx',
      pod: EVIL,
      node: 'node-01',
      evidence: 'ingress_log',
      latency_us: 12_345,
    }),
  ],
};

test('a path is drawn in hop order with timings, evidence and confidence', () => {
  const svg = pathSvg(path);
  const order = [
    '198.51.100.7 → 203.0.113.10',
    'ingress-nginx/&lt;script&gt;',
    'attempt 1: shop/cart:80',
    'payments/ledger-1',
  ].map((s) => svg.indexOf(s));
  assert.ok(
    order.every((i) => i >= 0),
    `every hop drawn: ${order}`,
  );
  assert.deepEqual(
    [...order].sort((a, b) => a - b),
    order,
    'hops appear in seq order',
  );
  assert.match(
    svg,
    /evidence sidecar_inbound_log \+ connection_tuple · confidence 0\.90 · latency 11\.0 ms · status 200/,
  );
  assert.match(svg, /<text[^>]*class="lat">12\.3 ms<\/text>/, 'the arrow into the ingress carries its latency');
  // One box per hop plus the client.
  assert.equal(svg.match(/<rect /g)?.length, 5);

  const text = formatPathText({ path, issues: [{ reason: 'clock_skew', segment: 'server', evidence: '2.1 s' }] });
  const lines = text.split('\n');
  assert.match(lines[2]!, /^ +0 client → load balancer/);
  assert.match(lines[5]!, /^ +3 downstream: payments\/ledger-1 @ node-03/);
  assert.match(text, /issue clock_skew \(server\): 2\.1 s/);
});

test('values from the data are escaped and the report is one self-contained file', () => {
  const html = renderReport({
    title: 'demo',
    generatedAt: '2026-11-25T08:00:00Z',
    run: { faults: EVIL },
    completeness: { complete: 1, [EVIL]: 2 },
    issuesByReason: { missing_segment: 3 },
    freshness: [{ label: 'landed', p: percentiles([1, 2, 3]), how: EVIL }],
    tableSizes: { 'gold.request_paths': { rows: 1, files: 1, bytes: 2048 } },
    examples: [{ path, issues: [{ reason: 'ambiguous_candidates', evidence: EVIL }] }],
  });
  assert.ok(!html.includes('<script'), 'no script element, injected or not');
  assert.ok(!html.includes('<img'), 'an attribute-breaking value stays text');
  assert.ok(html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'));
  assert.ok(html.includes('shop.example&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'));
  // Nothing fetched: no external reference of any kind.
  assert.doesNotMatch(html, /(src|href)=["']?(https?:|\/\/)|<link|@import|url\(http/);
  assert.match(html, /<a href="#path-1">/);
  assert.match(html, /<section class="path" id="path-1">/);
  assert.match(html, /2\.0 KiB/);
  assert.equal(esc(`a&b<"'>`), 'a&amp;b&lt;&quot;&#39;&gt;');
});

test('examples: each completeness in turn, the paths with the most hops first', () => {
  const mk = (id: string, completeness: string, hops: number) => ({
    path_id: id,
    completeness,
    hops: Array.from({ length: hops }, (_, i) => ({ seq: i, kind: 'downstream' })),
  });
  const picked = pickExamples(
    [mk('a', 'partial', 2), mk('b', 'complete', 1), mk('c', 'partial', 5), mk('d', 'failed', 1)],
    {
      complete: 1,
      partial: 1,
      ambiguous: 1,
      failed: 1,
    },
  );
  assert.deepEqual(
    picked.map((p) => p.path_id),
    ['b', 'c', 'd'],
  );
});

test('percentiles are nearest-rank and ignore non-finite values', () => {
  const p = percentiles([5, 1, 4, 2, 3, Number.NaN, 10, 6, 7, 8, 9]);
  assert.deepEqual(p, { n: 10, p50: 5, p95: 10, p99: 10, max: 10 });
  assert.equal(percentiles([]).n, 0);
  assert.ok(Number.isNaN(percentiles([]).p50));
});
