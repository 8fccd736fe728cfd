// Small builders of valid contract rows for tests.
import type { FlowRow } from '../../agent/src/contract/generated.ts';
import { parseTimestampUs } from '../../agent/src/contract/time.ts';

export const T0 = parseTimestampUs('2026-11-25T07:00:00Z')!;

export function flow(i: number, eventUs = T0 + i): FlowRow {
  return {
    record_id: `flow-${i}`,
    event_time: eventUs,
    observed_time: eventUs,
    node: 'node-a',
    source: 'test',
    schema_version: 1,
    verdict: 'FORWARDED',
    src_ip: '10.244.1.10',
    src_port: 40000 + (i % 20000),
    dst_ip: '10.244.2.21',
    dst_port: 8080,
    l4_protocol: 'TCP',
  };
}

/** NDJSON lines for the replay source. */
export function flowLines(n: number, start = 0): string {
  let out = '';
  for (let i = start; i < start + n; i++) {
    const { record_id: _drop, ...row } = flow(i);
    out += `${JSON.stringify({ table: 'flows', row })}\n`;
  }
  return out;
}
