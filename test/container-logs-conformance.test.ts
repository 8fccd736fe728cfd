// Conformance on real-world samples written by others (../shared/corpus, not
// copied into this repository): ingress-nginx and Envoy/Istio access logs
// through the parsers and the row mapping, container log files through the
// tailer's framing. Parse rates are reported; the expected outcome of every
// file is asserted. A missing corpus is a failure, not a skip.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TABLES } from '../agent/src/contract/generated.ts';
import { validateRow } from '../agent/src/contract/validate.ts';
import type { TableRecord } from '../agent/src/pipeline/source.ts';
import { QueryHasher } from '../agent/src/privacy/url.ts';
import { fromContainersPath } from '../agent/src/sources/container-logs/kubelet-path.ts';
import { EnvoyParser } from '../agent/src/sources/container-logs/parsers/envoy.ts';
import { buildRow } from '../agent/src/sources/container-logs/parsers/fields.ts';
import { parseJsonObject } from '../agent/src/sources/container-logs/parsers/lenient-json.ts';
import { NginxParser } from '../agent/src/sources/container-logs/parsers/nginx.ts';
import type { AccessLogParser } from '../agent/src/sources/container-logs/parsers/outcome.ts';
import type { LogLine } from '../agent/src/sources/tail/decoders.ts';
import { Tailer } from '../agent/src/sources/tail/tailer.ts';
import { TestSourceContext } from './support/source-context.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CORPUS = process.env.HOPTRACE_CORPUS ?? resolve(repo, '..', 'shared', 'corpus');

function corpus(kind: string): string {
  const dir = join(CORPUS, kind);
  assert.ok(
    existsSync(dir),
    `the shared corpus is missing: ${dir} does not exist. The conformance check reads the real-world samples from ../shared/corpus (or HOPTRACE_CORPUS); they are not part of this repository.`,
  );
  return dir;
}

interface Rates {
  lines: number;
  access: number;
  skipped: Record<string, number>;
  malformed: number;
}

function rates(parser: AccessLogParser, path: string): Rates {
  const r: Rates = { lines: 0, access: 0, skipped: {}, malformed: 0 };
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    r.lines++;
    const outcome = parser.parse(line);
    if (outcome.kind === 'skip') r.skipped[outcome.what] = (r.skipped[outcome.what] ?? 0) + 1;
    else if (outcome.kind === 'malformed') r.malformed++;
    else {
      const built = buildRow(outcome.fields, {
        recordId: 'conformance',
        observedUs: Date.now() * 1000,
        node: 'node-a',
        source: 'container-logs',
        proxy: parser.proxy,
        role: 'unknown',
        queryHasher: new QueryHasher('conformance-key-0123'),
      });
      if ('row' in built && validateRow(TABLES.http_requests, built.row) === undefined) r.access++;
      else r.malformed++;
    }
  }
  return r;
}

function report(t: { diagnostic(msg: string): void }, file: string, r: Rates): void {
  const skipped = Object.entries(r.skipped)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  const accessLines = r.lines - Object.values(r.skipped).reduce((a, b) => a + b, 0);
  const msg = `${basename(file)}: ${r.access}/${accessLines} access lines parsed (${accessLines ? ((100 * r.access) / accessLines).toFixed(1) : '—'}%), ${r.malformed} malformed, skipped: ${skipped || 'none'}`;
  t.diagnostic(msg);
  console.log(`conformance  ${msg}`);
}

test('ingress-nginx corpus: every access line parsed; controller and error lines recognised', (t) => {
  const dir = corpus('ingress-nginx');
  const nginx = new NginxParser();
  const beats = rates(nginx, join(dir, 'test.log'));
  report(t, 'test.log', beats);
  assert.deepEqual(beats, { lines: 29, access: 29, skipped: {}, malformed: 0 });
  const datadog = rates(nginx, join(dir, 'nginx-ingress-controller_tests.samples.log'));
  report(t, 'nginx-ingress-controller_tests.samples.log', datadog);
  assert.deepEqual(datadog, { lines: 11, access: 8, skipped: { nginx_error: 2, klog: 1 }, malformed: 0 });
});

test('ingress-nginx corpus: JSON log-format lines in all three escape modes are read', (t) => {
  const file = join(corpus('ingress-nginx'), 'log-format.go.expected-lines.log');
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const parsed = lines.map((l) => parseJsonObject(l));
  assert.deepEqual(parsed, [
    { my_header1: 'Here is "header1" with json escape', my_header2: '' },
    { my_header3: 'Here is "header3" with default escape', my_header4: '-' },
    { my_header5: 'Here is "header5" with none escape', my_header6: '' },
  ]);
  // Custom headers only, no access fields: application-style JSON, not a request.
  const r = rates(new NginxParser(), file);
  report(t, basename(file), r);
  t.diagnostic(`log-format.go.expected-lines.log: ${parsed.filter(Boolean).length}/3 JSON lines decoded`);
  console.log(`conformance  log-format.go.expected-lines.log: ${parsed.filter(Boolean).length}/3 JSON lines decoded`);
  assert.equal(r.malformed, 0);
});

test('Envoy/Istio corpus: every access line parsed; Envoy application lines recognised', (t) => {
  const dir = corpus('envoy-istio');
  const envoy = new EnvoyParser();
  const expected: Record<string, Rates> = {
    'envoy_tests.samples.log': { lines: 5, access: 4, skipped: { envoy_app: 1 }, malformed: 0 },
    'istio-docs-access-log.index.md.samples.log': { lines: 2, access: 2, skipped: {}, malformed: 0 },
    'envoy-docs-usage.rst.default-format-example.log': { lines: 1, access: 1, skipped: {}, malformed: 0 },
  };
  for (const [file, want] of Object.entries(expected)) {
    const r = rates(envoy, join(dir, file));
    report(t, file, r);
    assert.deepEqual(r, want, file);
  }
});

test('container-logs corpus: Docker json-file framing through the tailer', async (t) => {
  const dir = corpus('container-logs');
  const byFile = new Map<string, LogLine[]>();
  const tailer = new Tailer<object>({
    name: 'conformance',
    table: 'http_requests',
    include: [join(dir, '*.log')],
    format: 'docker',
    select: () => ({ meta: {} }),
    consume: (file, lines) => {
      byFile.set(basename(file.path), [...(byFile.get(basename(file.path)) ?? []), ...lines]);
      return [] as TableRecord[];
    },
    startAt: 'beginning',
    pollIntervalMs: 10,
    discoverIntervalMs: 1000,
    rotateWaitMs: 0,
    maxOpenFiles: 16,
    maxLineBytes: 64 * 1024,
    readBufferBytes: 64 * 1024,
    readBudgetBytes: 1024 * 1024,
    fingerprintBytes: 1024,
  });
  const ctx = new TestSourceContext();
  await tailer.run(ctx, 'drain');
  const texts = (f: string) => (byFile.get(f) ?? []).map((l) => l.text);
  const expected: Record<string, number> = {
    'docker_corrupted.log': 20,
    'dockermode_splitted_line.log': 2,
    'dockermode_splitted_multiple_lines.log': 6,
    'dockermode_firstline_detection.log': 9,
    'core_base_fluent-bit.log': 1,
    'core_unescaping_json.log': 1,
    'core_unescaping_text.log': 1,
    'options_merge-log-enabled_invalid-json.log': 1,
    'options_merge-log-trim-enabled_json.log': 1,
    'annotations-parser_multiple-1_container-1.log': 2,
  };
  for (const [file, n] of Object.entries(expected)) {
    const msg = `${file}: ${texts(file).length} records`;
    t.diagnostic(msg);
    console.log(`conformance  ${msg}`);
    assert.equal(texts(file).length, n, file);
  }
  const invalid = ctx.metrics.drops().find((d) => d.reason === 'invalid_container_line');
  assert.equal(invalid?.count, 1, 'the corrupted line is counted');
  assert.deepEqual(texts('dockermode_splitted_line.log'), ['2020-03-24 Single line', '2020-03-24 Another single line']);
  assert.ok(texts('dockermode_splitted_multiple_lines.log').includes('third bullet point'));
  assert.ok(parseJsonObject(texts('core_unescaping_json.log')[0]!)?.['stringified-json'], 'nested JSON intact');
  assert.deepEqual(
    (byFile.get('annotations-parser_multiple-1_container-1.log') ?? []).map((l) => l.stream),
    ['stdout', 'stderr'],
  );
  assert.deepEqual(fromContainersPath(join(dir, 'core_base_fluent-bit.log')), {
    pod: 'core',
    namespace: 'base',
    container: 'fluent-bit',
  });
});
