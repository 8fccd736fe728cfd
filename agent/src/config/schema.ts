// The agent's configuration file: one zod schema gives validation with errors
// that name the key, the TypeScript type, and the generated reference
// (docs/configuration.md).
import { z } from 'zod';
import { calicoSourceSchema } from '../sources/calico/config.ts';
import { containerLogsSourceSchema } from '../sources/container-logs/config.ts';
import { hubbleExportSourceSchema, hubbleGrpcSourceSchema } from '../sources/hubble/config.ts';
import { kubernetesSourceSchema } from '../sources/kubernetes/config.ts';
import { otlpSourceSchema } from '../sources/otlp/config.ts';
import { parseDuration, parseSize } from './units.ts';

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

const size = (fallback: string, description: string) =>
  z
    .union([z.number(), z.string()])
    .default(fallback)
    .transform((v, ctx) => {
      const bytes = parseSize(v);
      if (bytes === undefined) {
        ctx.addIssue({ code: 'custom', message: `'${v}' is not a size (use e.g. 512KiB, 64MiB, 1GiB, or bytes)` });
        return z.NEVER;
      }
      return bytes;
    })
    .describe(`${description} Size: 512KiB, 64MiB, 1GiB, or a number of bytes. Default ${fallback}.`);

const localStore = z
  .object({
    type: z.literal('local'),
    dir: z.string().min(1).describe('Directory that receives the objects, laid out like the bucket.'),
    prefix: z.string().default('').describe('Key prefix inside the directory.'),
  })
  .strict();

const s3Store = z
  .object({
    type: z.literal('s3'),
    bucket: z.string().min(3).describe('Bucket name.'),
    prefix: z.string().default('hoptrace').describe('Key prefix; objects go under <prefix>/v1/<table>/…'),
    region: z.string().optional().describe('AWS region; defaults to AWS_REGION from the environment.'),
    endpoint: z.url().optional().describe('Custom endpoint for S3-compatible servers.'),
    force_path_style: z
      .boolean()
      .optional()
      .describe('Path-style addressing; defaults to true with a custom endpoint, else false.'),
    sse: z.enum(['none', 'AES256', 'aws:kms']).default('none').describe('Server-side encryption header to send.'),
    kms_key_id: z.string().optional().describe('KMS key id or ARN for sse aws:kms.'),
    bucket_key_enabled: z.boolean().default(true).describe('Use S3 Bucket Keys with SSE-KMS (cuts KMS calls).'),
    multipart_threshold: size('64MiB', 'Objects at least this large are uploaded in parts.'),
    part_size: size('16MiB', 'Part size for multipart uploads (at least 5MiB).'),
    max_attempts: z.number().int().min(1).max(20).default(5).describe('SDK attempts per request (adaptive retry).'),
    checksums: z
      .enum(['when_required', 'when_supported'])
      .optional()
      .describe('Request checksums; defaults to when_required with a custom endpoint, else when_supported.'),
    connect_timeout: duration('3s', 'TCP connect timeout.'),
    request_timeout: duration('60s', 'Timeout of one request.'),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.sse === 'aws:kms' && !s.kms_key_id)
      ctx.addIssue({ code: 'custom', path: ['kms_key_id'], message: 'required when sse is aws:kms' });
    if (s.part_size < 5 * 1024 * 1024)
      ctx.addIssue({ code: 'custom', path: ['part_size'], message: 'must be at least 5MiB (an S3 limit)' });
  });

const replaySource = z
  .object({
    type: z.literal('replay'),
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]*$/)
      .default('replay')
      .describe('Source name (metrics, checkpoints).'),
    paths: z.array(z.string().min(1)).min(1).describe('NDJSON files of contract rows: {"table": …, "row": {…}}.'),
  })
  .strict();

// Each source folder exports its own config schema; list it here (one line per source).
export const sourceSchema = z.discriminatedUnion('type', [
  replaySource,
  containerLogsSourceSchema,
  hubbleGrpcSourceSchema,
  hubbleExportSourceSchema,
  calicoSourceSchema,
  kubernetesSourceSchema,
  otlpSourceSchema,
]);

export const configSchema = z
  .object({
    node_name: z
      .string()
      .min(1)
      .optional()
      .describe('Kubernetes node name. Defaults to HOPTRACE_NODE_NAME or NODE_NAME (downward API spec.nodeName).'),
    spool: z
      .object({
        dir: z.string().min(1).describe('Durable spool directory (a hostPath that survives restarts).'),
        max_bytes: size('1GiB', 'Spool bound; when reached, file sources pause and push sources drop.'),
      })
      .strict(),
    batch: z
      .object({
        max_rows: z.number().int().min(1).max(10_000_000).default(100_000).describe('Roll a file at this many rows.'),
        max_bytes: size('32MiB', 'Roll a file when its in-memory columns reach this size.'),
        max_age: duration('30s', 'Roll a file this long after its first row.'),
        max_open: z
          .number()
          .int()
          .min(1)
          .max(10_000)
          .default(64)
          .describe('Open batches (table × event hour) at most.'),
      })
      .strict()
      .prefault({}),
    buffer: z
      .object({ max_bytes: size('256MiB', 'Bound on records held in memory before they reach the spool.') })
      .strict()
      .prefault({}),
    encode: z
      .object({
        compression: z.enum(['zstd', 'gzip', 'none']).default('zstd').describe('Parquet compression codec.'),
        row_group_rows: z.number().int().min(1000).default(100_000).describe('Rows per Parquet row group.'),
        workers: z
          .number()
          .int()
          .min(1)
          .max(16)
          .optional()
          .describe(
            'Parquet encoder threads (each started when first needed; each holds its own encoder memory, up to a few hundred MiB with 100k-row batches). Default: 2, or 1 on a single core.',
          ),
      })
      .strict()
      .prefault({}),
    store: z.discriminatedUnion('type', [localStore, s3Store]),
    upload: z
      .object({
        concurrency: z.number().int().min(1).max(32).default(2).describe('Uploads in flight.'),
        backoff_initial: duration('1s', 'First retry delay after a failed upload.'),
        backoff_max: duration('60s', 'Longest retry delay (jittered exponential backoff).'),
      })
      .strict()
      .prefault({}),
    heartbeat: z
      .object({ interval: duration('15s', 'Interval between agent_heartbeats records.') })
      .strict()
      .prefault({}),
    privacy: z
      .object({
        query_hash_key: z.string().min(16).optional().describe(
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal ${env:…} syntax of the config file
          'Key for HMAC-SHA256 of query strings (query_hash column). Unset: queries are dropped. Reference it from a Secret: ${env:HOPTRACE_QUERY_HASH_KEY}.',
        ),
      })
      .strict()
      .prefault({}),
    server: z
      .object({
        enabled: z.boolean().default(true).describe('Serve /metrics, /healthz and /readyz.'),
        host: z.string().default('0.0.0.0').describe('Listen address.'),
        port: z.number().int().min(0).max(65535).default(9464).describe('Listen port (0 picks a free one).'),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info').describe('Log level.'),
      })
      .strict()
      .prefault({}),
    shutdown: z
      .object({ grace: duration('25s', 'Time allowed on SIGTERM to flush, spool and upload before exiting.') })
      .strict()
      .prefault({}),
    sources: z.array(sourceSchema).default([]).describe('Inputs of this agent.'),
  })
  .strict();

export type AgentConfig = z.output<typeof configSchema> & { node_name: string };
export type SourceConfig = z.output<typeof sourceSchema>;
export type StoreConfig = AgentConfig['store'];
