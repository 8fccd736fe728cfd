// Configuration of the Hubble sources: `hubble` (the Observer gRPC API on the
// node's socket) and `hubble-export` (the JSON file Hubble's exporter writes).
import { z } from 'zod';
import { parseDuration } from '../../config/units.ts';
import { sizeKey, tailOptionsShape } from '../tail/config.ts';

const duration = (fallback: string, description: string) =>
  z
    .union([z.number(), z.string()])
    .default(fallback)
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `'${v}' is not a duration (use e.g. 500ms, 30s, 5m, 1h, or seconds)` });
        return z.NEVER;
      }
      return ms;
    })
    .describe(`${description} Duration: 500ms, 30s, 5m, 1h, or a number of seconds. Default ${fallback}.`);

const name = (fallback: string) =>
  z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]*$/)
    .default(fallback)
    .describe('Source name: the `source` column, metric labels and checkpoint keys.');

const strings = (description: string) => z.array(z.string().min(1)).optional().describe(description);
const workloads = (description: string) =>
  z
    .array(
      z
        .object({
          name: z.string().optional().describe('Workload name.'),
          kind: z.string().optional().describe('Workload kind, e.g. Deployment.'),
        })
        .strict(),
    )
    .optional()
    .describe(description);

const tcpFlags = z
  .object(
    Object.fromEntries(
      ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'NS'].map((f) => [
        f,
        z.boolean().optional().describe(`${f} set.`),
      ]),
    ),
  )
  .strict();

/** Hubble's FlowFilter, with Hubble's own key names (as in `hubble observe` and the exporter's allowlist). */
export const flowFilterSchema = z
  .object({
    uuid: strings('Flow uuids.'),
    source_ip: strings('Source IPs or CIDRs.'),
    source_pod: strings('Source pod name prefixes, optionally `namespace/` prefixed.'),
    source_fqdn: strings('Source FQDNs.'),
    source_label: strings('Source label selectors.'),
    source_service: strings('Source Services (`namespace/name` prefixes).'),
    source_workload: workloads('Source workloads.'),
    destination_ip: strings('Destination IPs or CIDRs.'),
    destination_pod: strings('Destination pod name prefixes, optionally `namespace/` prefixed.'),
    destination_fqdn: strings('Destination FQDNs.'),
    destination_label: strings('Destination label selectors.'),
    destination_service: strings('Destination Services (`namespace/name` prefixes).'),
    destination_workload: workloads('Destination workloads.'),
    traffic_direction: z
      .array(z.enum(['INGRESS', 'EGRESS']))
      .optional()
      .describe('Traffic directions.'),
    verdict: z
      .array(z.enum(['FORWARDED', 'DROPPED', 'ERROR', 'AUDIT', 'REDIRECTED', 'TRACED', 'TRANSLATED']))
      .optional()
      .describe('Verdicts.'),
    event_type: z
      .array(
        z
          .object({
            type: z.number().int().describe('Cilium monitor message type (e.g. 4 trace, 129 L7).'),
            match_sub_type: z.boolean().optional().describe('Also match sub_type.'),
            sub_type: z.number().int().optional().describe('Sub type.'),
          })
          .strict(),
      )
      .optional()
      .describe('Cilium event types.'),
    http_status_code: strings('HTTP status prefixes, e.g. `5+`, `404`.'),
    protocol: strings('L4 or L7 protocols, e.g. `tcp`, `http`, `dns`.'),
    source_port: strings('Source ports.'),
    destination_port: strings('Destination ports.'),
    reply: z.array(z.boolean()).optional().describe('Reply direction.'),
    dns_query: strings('DNS query patterns (RE2).'),
    source_identity: z.array(z.number().int().min(0)).optional().describe('Source security identities.'),
    destination_identity: z.array(z.number().int().min(0)).optional().describe('Destination security identities.'),
    http_method: strings('HTTP methods.'),
    http_path: strings('HTTP path patterns (RE2).'),
    tcp_flags: z.array(tcpFlags).optional().describe('TCP flag combinations.'),
    node_name: strings('Node name patterns.'),
    trace_id: strings('Trace ids.'),
  })
  .strict();

export type FlowFilterConfig = z.output<typeof flowFilterSchema>;

export const hubbleGrpcSourceSchema = z
  .object({
    type: z.literal('hubble'),
    name: name('hubble-grpc'),
    address: z
      .string()
      .min(1)
      .default('unix:///var/run/cilium/hubble.sock')
      .describe('Hubble Observer address: `unix:///path/to.sock` or `host:port`.'),
    tls: z
      .object({
        ca_file: z.string().min(1).describe('CA bundle (PEM) that signed the server certificate.'),
        cert_file: z.string().min(1).optional().describe('Client certificate (PEM) for mutual TLS.'),
        key_file: z.string().min(1).optional().describe('Client key (PEM) for mutual TLS.'),
        server_name: z.string().min(1).optional().describe('Name to verify the server certificate against.'),
      })
      .strict()
      .optional()
      .describe('TLS for a TCP address (Hubble on :4244 uses mutual TLS). Unset: plaintext.'),
    whitelist: z
      .array(flowFilterSchema)
      .default([])
      .describe('Flows to receive (server side); one matching filter is enough. Empty: all flows.'),
    blacklist: z
      .array(flowFilterSchema)
      .default([])
      .describe('Flows to exclude (server side); one matching filter is enough.'),
    field_mask: z
      .array(z.string().min(1))
      .optional()
      .describe(
        'Flow fields the server sends (e.g. `source.pod_name`); `time` and `uuid` are always added. Unset: all fields.',
      ),
    initial_lookback: duration(
      '0s',
      'On the first connection without a checkpoint, also read flows this far back from Hubble’s buffer.',
    ),
    resume_overlap: duration(
      '2s',
      'A resumed stream starts this long before the newest flow received, so late-stamped flows are not skipped; the overlap is deduplicated by flow uuid.',
    ),
    dedupe_max_entries: z
      .number()
      .int()
      .min(1000)
      .max(10_000_000)
      .default(200_000)
      .describe('Flow uuids remembered for deduplicating the overlap (about 100 bytes each).'),
    reconnect_backoff_initial: duration('500ms', 'First delay before calling GetFlows again after a stream ended.'),
    reconnect_backoff_max: duration('30s', 'Longest delay between calls (jittered exponential backoff).'),
    batch_size: z.number().int().min(1).max(100_000).default(1000).describe('Flows per emission to the pipeline.'),
    batch_delay: duration('250ms', 'Longest time a received flow waits for its emission.'),
    keepalive_time: duration(
      '0s',
      'HTTP/2 keepalive ping interval for TCP addresses; 0 disables. Hubble rejects pings more often than every 5 minutes.',
    ),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.keepalive_time !== 0 && s.keepalive_time < 300_000)
      ctx.addIssue({ code: 'custom', path: ['keepalive_time'], message: 'must be 0 or at least 5m (Hubble’s limit)' });
    if (s.reconnect_backoff_max < s.reconnect_backoff_initial)
      ctx.addIssue({
        code: 'custom',
        path: ['reconnect_backoff_max'],
        message: 'must not be shorter than reconnect_backoff_initial',
      });
    if (s.tls && Boolean(s.tls.cert_file) !== Boolean(s.tls.key_file))
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'cert_file and key_file go together' });
  });

export type HubbleGrpcSourceConfig = z.output<typeof hubbleGrpcSourceSchema>;

export const hubbleExportSourceSchema = z
  .object({
    type: z.literal('hubble-export'),
    name: name('hubble-export'),
    include: z
      .array(z.string().min(1))
      .min(1)
      .default(['/var/run/cilium/hubble/events.log', '/var/run/cilium/hubble/events-*.log'])
      .describe(
        'Absolute globs of Hubble export files (`hubble-export-file-path` and its rotated backups) or files of `hubble observe -o jsonpb`.',
      ),
    exclude: z
      .array(z.string().min(1))
      .default(['**/*.gz'])
      .describe('Globs of files not to read (compressed backups cannot be tailed).'),
    ...tailOptionsShape,
    // One JSON document per line, and a cut one cannot be read: room for large L7 records.
    max_line_size: sizeKey(
      '1MiB',
      'Longest line read; a longer one is cut by the tailer and dropped (line_too_long).',
      256,
    ),
  })
  .strict();

export type HubbleExportSourceConfig = z.output<typeof hubbleExportSourceSchema>;
