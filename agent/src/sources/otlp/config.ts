// Configuration of the OTLP trace receiver (one `sources[]` entry of type
// `otlp`). The defaults are the OTLP well-known ports; the limits bound what
// one client can make the agent hold in memory.
import { z } from 'zod';
import { parseDuration, parseSize } from '../../config/units.ts';

const size = (fallback: string, description: string) =>
  z
    .union([z.number(), z.string()])
    .default(fallback)
    .transform((v, ctx) => {
      const bytes = parseSize(v);
      if (bytes === undefined || bytes < 1024) {
        ctx.addIssue({ code: 'custom', message: `'${v}' is not a size of at least 1KiB (use e.g. 4MiB, 64MiB)` });
        return z.NEVER;
      }
      return bytes;
    })
    .describe(`${description} Size: 512KiB, 64MiB, 1GiB, or a number of bytes. Default ${fallback}.`);

const listener = (port: number, what: string) =>
  z
    .object({
      enabled: z.boolean().default(true).describe(`Serve ${what}.`),
      host: z
        .string()
        .min(1)
        .default('0.0.0.0')
        .describe('Listen address (`::` for IPv6, `127.0.0.1` for local only).'),
      port: z.number().int().min(0).max(65535).default(port).describe(`Listen port (0 picks a free one).`),
    })
    .strict()
    .prefault({});

export const otlpSourceSchema = z
  .object({
    type: z.literal('otlp').describe('The OTLP trace receiver (OTLP/gRPC and OTLP/HTTP).'),
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]*$/)
      .default('otlp')
      .describe('Source name (metrics, drop counters).'),
    grpc: listener(4317, 'OTLP/gRPC `TraceService/Export`').describe('OTLP/gRPC listener.'),
    http: listener(4318, 'OTLP/HTTP `POST /v1/traces` (protobuf and JSON)').describe('OTLP/HTTP listener.'),
    max_request_bytes: size(
      '16MiB',
      'Largest export request accepted, checked on the bytes received and again after decompression (413 / RESOURCE_EXHAUSTED above it).',
    ),
    max_inflight_bytes: size(
      '64MiB',
      'Request bytes (received plus decompressed) held at once across all requests; above it new requests are refused with 503 / UNAVAILABLE and retried by the client.',
    ),
    retry_after: z
      .union([z.number(), z.string()])
      .default('5s')
      .transform((v, ctx) => {
        const ms = parseDuration(v);
        if (ms === undefined || ms < 1000) {
          ctx.addIssue({ code: 'custom', message: `'${v}' is not a duration of at least 1s` });
          return z.NEVER;
        }
        return ms;
      })
      .describe(
        'Delay suggested to clients refused for backpressure (HTTP `Retry-After`, whole seconds). Duration: 5s, 1m, or a number of seconds. Default 5s.',
      ),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (!s.grpc.enabled && !s.http.enabled)
      ctx.addIssue({ code: 'custom', path: ['grpc', 'enabled'], message: 'enable at least one of grpc and http' });
    if (s.max_inflight_bytes < s.max_request_bytes)
      ctx.addIssue({
        code: 'custom',
        path: ['max_inflight_bytes'],
        message: 'must be at least max_request_bytes, or the largest allowed request could never be taken',
      });
  });

export type OtlpSourceConfig = z.output<typeof otlpSourceSchema>;
