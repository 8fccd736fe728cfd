// Builds the configured store. The AWS SDK is loaded only when S3 is used,
// so the local default starts fast and light.
import type { StoreConfig } from '../config/schema.ts';
import type { AgentMetrics } from '../ops/metrics.ts';
import { LocalDirectoryStore } from './local.ts';
import type { ObjectStore } from './store.ts';

export async function createStore(config: StoreConfig, metrics: AgentMetrics): Promise<ObjectStore> {
  if (config.type === 'local') return new LocalDirectoryStore(config.dir);
  const { S3Store } = await import('./s3.ts');
  return new S3Store({
    bucket: config.bucket,
    region: config.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(config.force_path_style === undefined ? {} : { forcePathStyle: config.force_path_style }),
    sse: config.sse,
    ...(config.kms_key_id ? { kmsKeyId: config.kms_key_id } : {}),
    bucketKeyEnabled: config.bucket_key_enabled,
    multipartThresholdBytes: config.multipart_threshold,
    partSizeBytes: config.part_size,
    maxAttempts: config.max_attempts,
    ...(config.checksums ? { checksums: config.checksums } : {}),
    connectTimeoutMs: config.connect_timeout,
    requestTimeoutMs: config.request_timeout,
    observer: {
      request: (outcome) => {
        metrics.s3Requests.inc({
          operation: outcome.operation,
          code: outcome.ok ? 'ok' : (outcome.errorCode ?? 'error'),
        });
        if (outcome.attempts > 1) metrics.s3Retries.inc({ operation: outcome.operation }, outcome.attempts - 1);
      },
    },
  });
}
