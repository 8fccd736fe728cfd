// One line of a Hubble export file or of `hubble observe -o jsonpb`: an
// ExportEvent / GetFlowsResponse (`{"flow":…,"node_name":…,"time":…}`, or
// `lost_events`, `node_status`, `agent_event`, `debug_event`), or a bare Flow
// as older `hubble observe -o json` and some re-exporters write it.
import type { HubbleEvent, HubbleFlowMapper } from './flow-mapper.ts';
import { obj } from './values.ts';

const EVENT_KEYS = ['flow', 'lost_events', 'node_status', 'agent_event', 'debug_event'] as const;
/** Keys only a Flow has at its top level (a bare flow needs one of them). */
const FLOW_KEYS = ['verdict', 'IP', 'l4', 'source', 'destination', 'Type', 'uuid', 'l7', 'event_type'] as const;

export function decodeExportLine(
  line: string,
  mapper: HubbleFlowMapper,
  fallbackId: () => string,
  observedUs: number,
): HubbleEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { kind: 'drop', reason: 'invalid_json' };
  }
  return decodeExportValue(parsed, mapper, fallbackId, observedUs);
}

/** The same, for a line already parsed as JSON. */
export function decodeExportValue(
  parsed: unknown,
  mapper: HubbleFlowMapper,
  fallbackId: () => string,
  observedUs: number,
): HubbleEvent {
  const o = obj(parsed);
  if (!o) return { kind: 'drop', reason: 'not_a_flow' };
  if (EVENT_KEYS.some((k) => k in o)) return mapper.event(o, fallbackId, observedUs);
  if (FLOW_KEYS.some((k) => k in o)) return mapper.flow(o, undefined, fallbackId, observedUs);
  return { kind: 'drop', reason: 'not_a_flow' };
}
