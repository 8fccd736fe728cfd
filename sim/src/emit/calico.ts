// Calico flow logs as Felix writes them on each node
// (/var/log/calico/flowlogs/flows.log, one JSON object per line, one line
// per flow, reporter and action per flush interval). Aggregation level 0 for
// allowed and denied flows (FelixConfiguration flowLogsFileAggregationKind…: 0),
// so addresses and ports are kept; Service fields name the ClusterIP the
// connection was made to before kube-proxy translated it.
import type { Pod, SimNode } from '../model.ts';
import type { Connection, Tag } from '../observations.ts';

const S = 1_000_000;

export interface CalicoRecord {
  /** Node-clock end of the interval (when Felix writes the line), µs. */
  readonly writeUs: number;
  readonly node: SimNode;
  readonly line: string;
  readonly tags: Tag[];
}

function labelsOf(pod: Pod): { labels: string[] } {
  return { labels: Object.entries(pod.workload.labels).map(([k, v]) => `${k}=${v}`) };
}

/** Flow-log lines for the connections, per node; intervals are aligned to the node's clock. */
export function calicoRecords(conns: readonly Connection[], flushS: number, endUs: number): CalicoRecord[] {
  const out: CalicoRecord[] = [];
  const flushUs = flushS * S;
  for (const c of conns) {
    for (const reporter of ['src', 'dst'] as const) {
      const pod = reporter === 'src' ? c.src.pod : c.backend.pod;
      if (!pod) continue;
      const node = pod.node;
      const skew = node.skewUs;
      const open = c.openedUs + skew;
      const close = (c.denied ? c.openedUs + 3 * S : (c.closedUs ?? Number.POSITIVE_INFINITY)) + skew;
      const last = Math.min(close, endUs + skew);
      for (let start = Math.floor(open / flushUs) * flushUs; start <= last; start += flushUs) {
        const end = start + flushUs;
        if (end > endUs + skew + flushUs) break;
        const uses = c.uses.filter((u) => u.startUs + skew >= start && u.startUs + skew < end);
        const started = open >= start && open < end ? 1 : 0;
        const completed = close >= start && close < end ? 1 : 0;
        if (!started && !completed && uses.length === 0) continue;
        const reqBytes = uses.reduce((a, u) => a + u.bytesOut, 0) + (started ? 180 : 0);
        const respBytes = uses.reduce((a, u) => a + u.bytesIn, 0) + (started ? 60 : 0);
        const reqPackets = uses.reduce((a, u) => a + 1 + Math.ceil(u.bytesOut / 1448), 0) + (started ? 3 : 0);
        const respPackets = uses.reduce((a, u) => a + 1 + Math.ceil(u.bytesIn / 1448), 0) + (started ? 2 : 0);
        const denied = c.denied && reporter === 'dst';
        const src = c.src.pod;
        const dst = c.backend.pod;
        const svc = c.service;
        const rec = {
          start_time: Math.floor(start / S),
          end_time: Math.floor(end / S),
          source_ip: c.src.ip,
          source_name: src ? src.name : '-',
          source_name_aggr: src ? `${src.workload.name}-${src.workload.templateHash}-*` : 'pvt',
          source_namespace: src ? src.namespace : '-',
          source_port: c.src.port,
          source_type: src ? 'wep' : 'net',
          source_labels: src ? labelsOf(src) : null,
          dest_ip: c.backend.ip,
          dest_name: dst ? dst.name : '-',
          dest_name_aggr: dst ? `${dst.workload.name}-${dst.workload.templateHash}-*` : 'pvt',
          dest_namespace: dst ? dst.namespace : '-',
          dest_port: c.backend.port,
          dest_type: dst ? 'wep' : 'net',
          dest_labels: dst ? labelsOf(dst) : null,
          dest_service_namespace: svc ? svc.namespace : '-',
          dest_service_name: svc ? svc.name : '-',
          dest_service_port: svc ? svc.portName : '-',
          dest_service_port_num: svc ? svc.port : null,
          dest_domains: null,
          proto: 'tcp',
          action: denied ? 'deny' : 'allow',
          reporter,
          policies: {
            enforced_policies: [
              denied
                ? `0|default|${dst!.namespace}/knp.default.restrict-${dst!.workload.name}|deny|-1`
                : `0|__PROFILE__|__PROFILE__.kns.${pod.namespace}|allow|0`,
            ],
            pending_policies: [],
          },
          bytes_in: reporter === 'src' ? (denied ? 0 : respBytes) : reqBytes,
          bytes_out: reporter === 'src' ? reqBytes : denied ? 0 : respBytes,
          num_flows: 1,
          num_flows_started: started,
          num_flows_completed: denied ? 1 : completed,
          packets_in: reporter === 'src' ? (c.denied ? 0 : respPackets) : reqPackets,
          packets_out: reporter === 'src' ? reqPackets : denied ? 0 : respPackets,
          http_requests_allowed_in: 0,
          http_requests_denied_in: 0,
          original_source_ips: null,
          num_original_source_ips: 0,
          process_name: '-',
          num_process_names: 0,
          process_id: '-',
          num_process_ids: 0,
          process_args: ['-'],
          num_process_args: 0,
          nat_outgoing_ports: null,
        };
        out.push({ writeUs: end, node, line: JSON.stringify(rec), tags: started ? c.tags : [] });
        if (c.denied) break;
      }
    }
  }
  return out.sort((a, b) => a.writeUs - b.writeUs);
}
