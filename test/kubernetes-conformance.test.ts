// Conformance: real API objects written by others (shared/corpus/k8s-watch,
// read in place, never copied) map into valid contract rows, keep what the
// lakehouse needs, and leave out env values and managedFields.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { TABLES } from '../agent/src/contract/generated.ts';
import { validateRow } from '../agent/src/contract/validate.ts';
import {
  MetadataFilter,
  mapEndpointSlice,
  mapEvent,
  mapPod,
  type ObjectState,
  objectRow,
} from '../agent/src/sources/kubernetes/map.ts';

// shared/ sits beside the repository (as in CI); HOPTRACE_CORPUS points elsewhere.
const CORPUS = resolve(process.env.HOPTRACE_CORPUS ?? resolve(import.meta.dirname, '../../shared/corpus'), 'k8s-watch');
const filter = new MetadataFilter({ labelAllow: ['*'], labelDeny: [], annotationAllow: [] });
const rc = { node: 'node-a', source: 'k8s-watch' };

function corpusFiles(): string[] {
  if (!existsSync(CORPUS))
    throw new Error(`conformance corpus missing: ${CORPUS} (set HOPTRACE_CORPUS to the shared corpus folder)`);
  const files = readdirSync(CORPUS).sort();
  assert.ok(files.length >= 5, `expected the k8s-watch samples in ${CORPUS}, found ${files.length}`);
  return files;
}

const read = (f: string) => readFileSync(join(CORPUS, f), 'utf8');

function objectRowOk(state: ObjectState): Record<string, unknown> {
  const row = objectRow(state, 'SNAPSHOT', 1, 1, rc);
  assert.equal(validateRow(TABLES.k8s_objects, row), undefined);
  return row as unknown as Record<string, unknown>;
}

test('every k8s-watch sample maps into valid rows (pods, lists, watch lines, events, fuzzed slices)', (t) => {
  const seen = { pods: 0, events: 0, slices: 0 };
  for (const file of corpusFiles()) {
    const before = seen.pods + seen.events + seen.slices;
    const text = read(file);
    const docs: Record<string, unknown>[] = file.startsWith('watch_')
      ? text
          .split('\n')
          .filter((l) => l.trim())
          .map((l) => (JSON.parse(l) as { object: Record<string, unknown> }).object)
      : [JSON.parse(text) as Record<string, unknown>];
    for (const doc of docs) {
      const items = Array.isArray(doc.items) ? (doc.items as Record<string, unknown>[]) : [doc];
      for (const item of items) {
        const kind = (item.kind as string | undefined) ?? (doc.kind as string).replace(/List$/, '');
        if (kind === 'Pod') {
          const m = mapPod(item, filter);
          assert.ok(m.ok, `${file}: ${m.ok ? '' : m.problem}`);
          const row = objectRowOk(m.value);
          const json = JSON.stringify(row);
          assert.ok(!json.includes('managedFields') && !json.includes('"env"'), file);
          seen.pods++;
        } else if (kind === 'Event') {
          const m = mapEvent(item, 5, { message: 'redact' }, rc);
          assert.ok(m.ok, `${file}: ${m.ok ? '' : m.problem}`);
          assert.equal(validateRow(TABLES.k8s_events, m.value), undefined);
          seen.events++;
        } else if (kind === 'EndpointSlice') {
          const m = mapEndpointSlice(item, filter);
          assert.ok(m.ok, `${file}: ${m.ok ? '' : m.problem}`);
          objectRowOk(m.value);
          seen.slices++;
        } else assert.fail(`${file}: unexpected kind ${kind}`);
      }
    }
    t.diagnostic(`${file}: ${seen.pods + seen.events + seen.slices - before} object(s) → valid contract rows`);
  }
  assert.deepEqual(seen, { pods: 3, events: 3, slices: 1 });
});

test('a real Deployment pod: owner resolved, container ids stripped, env values gone', () => {
  const doc = JSON.parse(read('default_kairosdb-914055854-b63vq.meta')) as Record<string, unknown>;
  const m = mapPod(doc, filter);
  assert.ok(m.ok);
  const s = m.value;
  assert.equal(s.owner_kind, 'Deployment');
  assert.equal(s.owner_name, 'kairosdb');
  assert.deepEqual(s.pod_ips, ['10.2.39.12']);
  assert.equal(s.host_ip, '192.168.10.169');
  assert.equal(s.ready, true);
  assert.equal(s.containers?.[0]?.container_id, '02d45318f220ad01109d13df31fbbb0668b87fdd06ef6607abfdecf5eba4b311');
  assert.equal(s.annotations, undefined);
  const json = JSON.stringify(objectRowOk(s));
  for (const envValue of ['58080', '-Xms128m -Xmx512m', '315360000', 'cassandra.nodeports'])
    assert.ok(!json.includes(envValue), envValue);

  const ds = mapPod(JSON.parse(read('core_base-with-owner-references.meta')) as Record<string, unknown>, filter);
  assert.ok(ds.ok);
  assert.equal(ds.value.owner_kind, 'DaemonSet');
  assert.equal(ds.value.owner_name, 'fluentbit-max');
});

test('real events: the time falls back from lastTimestamp to eventTime; counts and reporters are kept', () => {
  const watchLine = JSON.parse(read('watch_v1_with_lastTimestamp.json').trim()) as {
    object: Record<string, unknown>;
  };
  const a = mapEvent(watchLine.object, 5, { message: 'keep' }, rc);
  assert.ok(a.ok);
  assert.equal(a.value.event_time, Date.UTC(2024, 6, 31, 18, 47, 15) * 1000);
  assert.equal(a.value.count, 16);
  assert.equal(a.value.reporting_component, 'kubelet');
  assert.equal(a.value.involved_name, 'fluent-bit-78945dccd8-hvr55');
  assert.match(a.value.message ?? '', /configmap "fluent-bit-config" not found/);

  const list = JSON.parse(read('eventlist_v1_with_creationTimestamp.json')) as { items: Record<string, unknown>[] };
  const b = mapEvent(list.items[0]!, 5, { message: 'redact' }, rc);
  assert.ok(b.ok);
  assert.equal(b.value.event_time, Date.UTC(2023, 11, 24, 13, 37, 16) * 1000 + 335172);
  assert.equal(b.value.reporting_component, 'default-scheduler');
  assert.equal(b.value.action, 'Scheduling');
});

test('the fuzzed EndpointSlice keeps its odd values within bounds and drops the impossible port', () => {
  const doc = JSON.parse(read('discovery.k8s.io.v1.EndpointSlice.json')) as Record<string, unknown>;
  const m = mapEndpointSlice(doc, filter);
  assert.ok(m.ok);
  assert.deepEqual(m.value.endpoints?.[0]?.addresses, ['20']);
  assert.equal(m.value.endpoint_ports?.[0]?.port, undefined);
  assert.equal(m.value.endpoint_ports?.[0]?.name, '33');
  assert.equal(m.value.creation_time, undefined);
});
