// Configuration of the Kubernetes source: which API server, which kinds, the
// Lease that elects the one agent exporting cluster-scoped kinds, snapshots,
// and the allow/deny lists that decide which labels and annotations are kept.
import { z } from 'zod';
import { parseDuration } from '../../config/units.ts';

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

export const KUBERNETES_KINDS = ['pods', 'services', 'endpointslices', 'nodes', 'events'] as const;
export type KubernetesKind = (typeof KUBERNETES_KINDS)[number];

const keyPattern = z
  .string()
  .min(1)
  .max(317)
  .regex(/^[A-Za-z0-9*][A-Za-z0-9._/*-]*$/, 'a label/annotation key, optionally with * wildcards');

export const kubernetesSourceSchema = z
  .object({
    type: z.literal('kubernetes'),
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]*$/)
      .default('k8s-watch')
      .describe('Source name (metrics, logs, and the `source` column of its rows).'),
    kubeconfig: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Path to a kubeconfig file (absolute, or relative to the working directory). Unset: the in-cluster service account (KUBERNETES_SERVICE_HOST and the mounted token).',
      ),
    context: z.string().min(1).optional().describe('kubeconfig context to use; default its current-context.'),
    kinds: z
      .array(z.enum(KUBERNETES_KINDS))
      .min(1)
      .default([...KUBERNETES_KINDS])
      .describe(
        'Kinds to watch. `pods` are this node’s pods (every agent); `services`, `endpointslices`, `nodes` and `events` are cluster-scoped and exported only by the elected leader.',
      ),
    events_api: z
      .enum(['events.k8s.io/v1', 'v1'])
      .default('events.k8s.io/v1')
      .describe('API group/version the Events watch reads (both carry the same events).'),
    event_message: z
      .enum(['redact', 'keep', 'drop'])
      .default('redact')
      .describe(
        'Event messages: `redact` keeps the operational text but blanks credential-looking values (password=…, token: …, Bearer …, user:pass@ in URLs); `keep` keeps them as written; `drop` keeps none. Always bounded to 1,024 characters.',
      ),
    snapshot_interval: duration(
      '1h',
      'Every exported kind is also written in full (change_type SNAPSHOT) at this interval, so validity intervals can be rebuilt without an unbroken change stream.',
    ),
    labels: z
      .object({
        allow: z
          .array(keyPattern)
          .default(['*'])
          .describe('Label keys kept (`*` wildcards). Default all, subject to `deny`.'),
        deny: z
          .array(keyPattern)
          .default(['controller-revision-hash', 'pod-template-generation'])
          .describe('Label keys never kept, even when allowed.'),
      })
      .strict()
      .prefault({})
      .describe('Which labels are kept on objects.'),
    annotations: z
      .object({
        allow: z
          .array(keyPattern)
          .default([])
          .describe(
            'Annotation keys kept (`*` wildcards). Default none. `kubectl.kubernetes.io/last-applied-configuration` is never kept.',
          ),
      })
      .strict()
      .prefault({})
      .describe('Which annotations are kept on objects (allow-list only).'),
    lease: z
      .object({
        name: z
          .string()
          .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/)
          .default('hoptrace-cluster-export')
          .describe('Name of the coordination.k8s.io/v1 Lease that elects the exporter of cluster-scoped kinds.'),
        namespace: z
          .string()
          .min(1)
          .optional()
          .describe(
            "Namespace of the Lease (the agent's own). Default: POD_NAMESPACE from the environment, else the service account's namespace file.",
          ),
        identity: z
          .string()
          .min(1)
          .max(253)
          .optional()
          .describe('Holder identity written to the Lease. Default: <node name>_<random suffix per process>.'),
        duration: duration('15s', 'Lease duration: how long others wait after the last renewal they saw.'),
        renew_deadline: duration(
          '10s',
          'The leader stops exporting when it has not renewed for this long (must be shorter than the duration).',
        ),
        retry_period: duration('2s', 'Interval between acquire or renew attempts (jittered).'),
      })
      .strict()
      .prefault({})
      .describe('Leader election for the cluster-scoped kinds.'),
    watch: z
      .object({
        page_size: z.number().int().min(1).max(10_000).default(500).describe('Objects per LIST page (limit/continue).'),
        backoff_initial: duration('500ms', 'First retry delay after a failed LIST or watch.'),
        backoff_max: duration('30s', 'Longest retry delay (jittered exponential; retries never stop).'),
        idle_timeout: duration(
          '120s',
          'A watch that receives nothing (not even a bookmark) for this long is reconnected from its last resourceVersion.',
        ),
        max_queued_events: z
          .number()
          .int()
          .min(10)
          .max(1_000_000)
          .default(10_000)
          .describe(
            'Watch events held while the pipeline is full; beyond this the watch is closed and resumed later from the last emitted resourceVersion.',
          ),
      })
      .strict()
      .prefault({})
      .describe('LIST/watch behaviour.'),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.lease.renew_deadline >= s.lease.duration)
      ctx.addIssue({
        code: 'custom',
        path: ['lease', 'renew_deadline'],
        message: 'must be shorter than lease.duration',
      });
    if (s.lease.retry_period >= s.lease.renew_deadline)
      ctx.addIssue({
        code: 'custom',
        path: ['lease', 'retry_period'],
        message: 'must be shorter than lease.renew_deadline',
      });
    if (s.snapshot_interval < 1000)
      ctx.addIssue({ code: 'custom', path: ['snapshot_interval'], message: 'must be at least 1s' });
  });

export type KubernetesSourceConfig = z.output<typeof kubernetesSourceSchema>;
