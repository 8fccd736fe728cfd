// What the Hubble sources do with the events that are not flows, the same for
// the gRPC stream and the export file: Hubble's lost events and a relay's
// unavailable nodes are losses (metrics and heartbeat, so the lakehouse can
// tell lost data from no traffic); agent and debug events are counted and
// skipped; undecodable events are counted drops.
import type { RateLimitedLog } from '../../ops/rate-limited-log.ts';
import type { SourceContext } from '../../pipeline/source.ts';
import type { HubbleEvent } from './flow-mapper.ts';

/** Relay node states after which that node's flows are missing from the stream. */
const NODE_LOSS_STATES = new Set(['NODE_UNAVAILABLE', 'NODE_GONE', 'NODE_ERROR']);

export function reportEvent(
  ctx: SourceContext,
  source: string,
  event: Exclude<HubbleEvent, { kind: 'flow' }>,
  log: RateLimitedLog,
): void {
  const { metrics } = ctx;
  switch (event.kind) {
    case 'lost':
      metrics.hubbleEvents.inc({ source, kind: 'lost_events' });
      ctx.lose('flows', event.reason, event.count);
      log.warn(`lost:${event.reason}`, { reason: event.reason, count: event.count }, 'Hubble reports lost flows');
      return;
    case 'node_status': {
      metrics.hubbleEvents.inc({ source, kind: 'node_status' });
      const n = Math.max(1, event.nodes.length);
      metrics.hubbleNodeStatus.inc({ source, state: event.state }, n);
      if (NODE_LOSS_STATES.has(event.state)) {
        ctx.lose('flows', event.state.toLowerCase(), n);
        log.warn(
          `node:${event.state}`,
          { state: event.state, nodes: event.nodes.slice(0, 20), message: event.message },
          'Hubble Relay cannot deliver the flows of some nodes',
        );
      }
      return;
    }
    case 'ignored':
      metrics.hubbleEvents.inc({ source, kind: event.what });
      return;
    case 'drop':
      metrics.drop('flows', source, event.reason);
      log.warn(`drop:${event.reason}`, { reason: event.reason }, 'Hubble event dropped');
      return;
  }
}
