// ObjectStore backed by Amazon S3 or an S3-compatible service. Objects are
// immutable and keyed deterministically, so every failure mode reduces to
// "try the whole put again later"; this module only has to say whether that
// can help (StoreError.retryable) and must never leave a half-visible object.

import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { type ObjectStore, StoreError } from './store.ts';

const MiB = 1024 * 1024;
/** S3 rejects non-final parts smaller than this. */
const MIN_PART_SIZE = 5 * MiB;
const MAX_PART_SIZE = 5 * 1024 * MiB;
const MAX_PARTS = 10_000;
/** Largest object a single PutObject may carry. */
const MAX_SINGLE_PUT = 5 * 1024 * MiB;
const DEFAULT_CONNECT_TIMEOUT_MS = 3_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

export const PARQUET_CONTENT_TYPE = 'application/vnd.apache.parquet';

export interface S3StaticCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface S3StoreOptions {
  /** Bucket name only. Keys arrive complete (prefix included) from the caller. */
  readonly bucket: string;
  readonly region: string;
  /** S3-compatible endpoint URL. Leave unset for AWS S3. */
  readonly endpoint?: string;
  /** `endpoint/bucket/key` addressing. Default: true when `endpoint` is set, else false. */
  readonly forcePathStyle?: boolean;
  /** Default `none`: no SSE header is sent and the bucket's default encryption applies. */
  readonly sse?: 'none' | 'AES256' | 'aws:kms';
  /** KMS key id or ARN; only with `sse: 'aws:kms'`. Unset: the AWS managed key `aws/s3`. */
  readonly kmsKeyId?: string;
  /** S3 Bucket Keys with `sse: 'aws:kms'` (default true); ignored for other `sse` values. */
  readonly bucketKeyEnabled?: boolean;
  /** Bodies smaller than this go in one PutObject, others as a multipart upload. Default 64 MiB. */
  readonly multipartThresholdBytes?: number;
  /** Multipart part size. Default 16 MiB, at least 5 MiB; raised automatically to stay within 10,000 parts. */
  readonly partSizeBytes?: number;
  /** HTTP attempts per S3 request, SDK retries included (retry mode `adaptive`). Default 5. */
  readonly maxAttempts?: number;
  /** Request checksums. Default `when_required` when `endpoint` is set, else `when_supported`. */
  readonly checksums?: 'when_required' | 'when_supported';
  /** TCP connect timeout per attempt. Default 3 s. */
  readonly connectTimeoutMs?: number;
  /** Deadline for one HTTP attempt including the body upload; must cover one part or one PutObject. Default 60 s. */
  readonly requestTimeoutMs?: number;
  /** Static credentials. Unset: the SDK default provider chain (env, profile, IRSA, EKS Pod Identity, IMDS). */
  readonly credentials?: S3StaticCredentials;
  readonly observer?: S3StoreObserver;
}

export type S3Operation =
  | 'PutObject'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload';

export interface S3RequestOutcome {
  readonly operation: S3Operation;
  /** HTTP attempts the SDK made, its own retries included: `attempts - 1` retries. */
  readonly attempts: number;
  readonly ok: boolean;
  /** S3 error code (`SlowDown`, `AccessDenied`) or network error code (`ECONNRESET`) when not ok. */
  readonly errorCode?: string;
}

/** Lets the pipeline count S3 requests and SDK retries without depending on the SDK. */
export interface S3StoreObserver {
  /** Called once per S3 request, after the SDK has finished retrying it. Exceptions are ignored. */
  request(outcome: S3RequestOutcome): void;
}

interface ResolvedOptions {
  readonly bucket: string;
  readonly multipartThresholdBytes: number;
  readonly partSizeBytes: number;
  readonly checksums: 'when_required' | 'when_supported';
  readonly sse: SseParams;
}

interface SseParams {
  readonly ServerSideEncryption?: 'AES256' | 'aws:kms';
  readonly SSEKMSKeyId?: string;
  readonly BucketKeyEnabled?: boolean;
}

export class S3Store implements ObjectStore {
  readonly kind = 's3';
  readonly location: string;
  readonly #opts: ResolvedOptions;
  readonly #client: S3Client;
  readonly #observer: S3StoreObserver | undefined;
  #closed = false;

  constructor(options: S3StoreOptions) {
    this.#opts = resolveOptions(options);
    this.#client = new S3Client(clientConfig(options, this.#opts.checksums));
    this.#observer = options.observer;
    this.location = options.endpoint ? `s3://${options.bucket} (${options.endpoint})` : `s3://${options.bucket}`;
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    if (this.#closed) throw new StoreError(`S3 store ${this.location} is closed; cannot put ${key}`, false);
    if (key === '' || key.startsWith('/')) {
      throw new StoreError(`S3 put to bucket ${this.#opts.bucket}: invalid key ${JSON.stringify(key)}`, false);
    }
    if (body.byteLength < this.#opts.multipartThresholdBytes) {
      await this.#putSingle(key, body);
    } else {
      await this.#putMultipart(key, body);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.destroy();
  }

  async #putSingle(key: string, body: Uint8Array): Promise<void> {
    const { bucket, sse } = this.#opts;
    await this.#call('PutObject', 'PutObject', key, () =>
      this.#client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentLength: body.byteLength,
          ContentType: PARQUET_CONTENT_TYPE,
          ...sse,
        }),
      ),
    );
  }

  async #putMultipart(key: string, body: Uint8Array): Promise<void> {
    const { bucket, sse } = this.#opts;
    // Only ask for per-part CRC32 when the store is known to support flexible
    // checksums; S3-compatible services often reject the algorithm headers.
    const crc32 = this.#opts.checksums === 'when_supported';
    const created = await this.#call('CreateMultipartUpload', 'CreateMultipartUpload', key, () =>
      this.#client.send(
        new CreateMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          ContentType: PARQUET_CONTENT_TYPE,
          ...(crc32 ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
          ...sse,
        }),
      ),
    );
    const uploadId = created.UploadId;
    if (!uploadId) {
      throw new StoreError(`S3 CreateMultipartUpload for s3://${bucket}/${key} returned no UploadId`, false);
    }

    try {
      // The part size depends only on the body length, so a retried put of the
      // same bytes produces the same parts and the same multipart ETag.
      const partSize = Math.max(this.#opts.partSizeBytes, Math.ceil(body.byteLength / MAX_PARTS));
      const count = Math.ceil(body.byteLength / partSize);
      const parts: CompletedPart[] = [];
      for (let n = 1; n <= count; n++) {
        const chunk = body.subarray((n - 1) * partSize, Math.min(n * partSize, body.byteLength));
        const out = await this.#call('UploadPart', `UploadPart ${n}/${count}`, key, () =>
          this.#client.send(
            new UploadPartCommand({
              Bucket: bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: n,
              Body: chunk,
              ContentLength: chunk.byteLength,
              ...(crc32 ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
            }),
          ),
        );
        parts.push({ PartNumber: n, ETag: out.ETag, ...(crc32 ? { ChecksumCRC32: out.ChecksumCRC32 } : {}) });
      }
      await this.#call('CompleteMultipartUpload', 'CompleteMultipartUpload', key, () =>
        this.#client.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
          }),
        ),
      );
    } catch (err) {
      throw await this.#abortAfter(err, key, uploadId);
    }
  }

  /** Aborts so that the failed upload stops accruing storage; the original error is what the caller sees. */
  async #abortAfter(err: unknown, key: string, uploadId: string): Promise<StoreError> {
    const original =
      err instanceof StoreError
        ? err
        : new StoreError(`S3 multipart put failed: ${String(err)}`, false, { cause: err });
    try {
      await this.#call('AbortMultipartUpload', 'AbortMultipartUpload', key, () =>
        this.#client.send(new AbortMultipartUploadCommand({ Bucket: this.#opts.bucket, Key: key, UploadId: uploadId })),
      );
      return original;
    } catch (abortErr) {
      const code = classifyS3Error(abortErr instanceof StoreError ? abortErr.cause : abortErr).code;
      return new StoreError(
        `${original.message} (AbortMultipartUpload of upload ${uploadId} also failed: ${code}; ` +
          'the incomplete upload is left for the bucket lifecycle rule)',
        original.retryable,
        { cause: original.cause },
      );
    }
  }

  /** Runs one SDK request, reports it to the observer and turns failures into StoreError. */
  async #call<T extends { $metadata: { attempts?: number } }>(
    operation: S3Operation,
    label: string,
    key: string,
    send: () => Promise<T>,
  ): Promise<T> {
    try {
      const out = await send();
      this.#report({ operation, attempts: out.$metadata.attempts ?? 1, ok: true });
      return out;
    } catch (err) {
      const failure = classifyS3Error(err);
      const attempts = attemptsOf(err);
      this.#report({ operation, attempts, ok: false, errorCode: failure.code });
      const status = failure.httpStatus === undefined ? 'no HTTP response' : `HTTP ${failure.httpStatus}`;
      const detail = err instanceof Error && err.message && err.message !== failure.code ? `: ${err.message}` : '';
      throw new StoreError(
        `S3 ${label} to bucket ${this.#opts.bucket}, key ${key} failed with ${failure.code} ` +
          `(${status}, ${attempts} attempt${attempts === 1 ? '' : 's'}, ${failure.retryable ? 'retryable' : 'not retryable'})${detail}`,
        failure.retryable,
        { cause: err },
      );
    }
  }

  #report(outcome: S3RequestOutcome): void {
    try {
      this.#observer?.request(outcome);
    } catch {
      // Metrics must never fail an upload.
    }
  }
}

function resolveOptions(o: S3StoreOptions): ResolvedOptions {
  if (!o.bucket || o.bucket.includes('/')) throw new Error(`S3 store: invalid bucket name ${JSON.stringify(o.bucket)}`);
  if (!o.region) throw new Error('S3 store: region is required');
  if (o.endpoint !== undefined && !URL.canParse(o.endpoint)) {
    throw new Error(`S3 store: endpoint ${JSON.stringify(o.endpoint)} is not a URL`);
  }
  const sse = o.sse ?? 'none';
  if (sse !== 'aws:kms' && o.kmsKeyId !== undefined) throw new Error(`S3 store: kmsKeyId requires sse 'aws:kms'`);
  if (o.credentials && (!o.credentials.accessKeyId || !o.credentials.secretAccessKey)) {
    throw new Error('S3 store: credentials need both accessKeyId and secretAccessKey');
  }
  const partSizeBytes = intOption('partSizeBytes', o.partSizeBytes, 16 * MiB, MIN_PART_SIZE, MAX_PART_SIZE);
  const multipartThresholdBytes = intOption(
    'multipartThresholdBytes',
    o.multipartThresholdBytes,
    64 * MiB,
    1,
    MAX_SINGLE_PUT,
  );
  intOption('maxAttempts', o.maxAttempts, 5, 1, 100);
  intOption('connectTimeoutMs', o.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS, 1, 3_600_000);
  intOption('requestTimeoutMs', o.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS, 1, 24 * 3_600_000);

  let sseParams: SseParams = {};
  if (sse === 'AES256') sseParams = { ServerSideEncryption: 'AES256' };
  if (sse === 'aws:kms') {
    sseParams = {
      ServerSideEncryption: 'aws:kms',
      BucketKeyEnabled: o.bucketKeyEnabled ?? true,
      ...(o.kmsKeyId !== undefined ? { SSEKMSKeyId: o.kmsKeyId } : {}),
    };
  }
  return {
    bucket: o.bucket,
    multipartThresholdBytes,
    partSizeBytes,
    // Flexible-checksum headers are what S3-compatible services most often reject.
    checksums: o.checksums ?? (o.endpoint !== undefined ? 'when_required' : 'when_supported'),
    sse: sseParams,
  };
}

function clientConfig(o: S3StoreOptions, checksums: ResolvedOptions['checksums']): S3ClientConfig {
  const mode = checksums === 'when_supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';
  return {
    region: o.region,
    forcePathStyle: o.forcePathStyle ?? o.endpoint !== undefined,
    maxAttempts: o.maxAttempts ?? 5,
    retryMode: 'adaptive',
    requestChecksumCalculation: mode,
    responseChecksumValidation: mode,
    // The SDK's handler has no timeouts by default, and without
    // throwOnRequestTimeout an expired request deadline only logs a warning.
    requestHandler: {
      connectionTimeout: o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      requestTimeout: o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: true,
    },
    ...(o.endpoint !== undefined ? { endpoint: o.endpoint } : {}),
    ...(o.credentials ? { credentials: { ...o.credentials } } : {}),
  };
}

function intOption(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new Error(`S3 store: ${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
  return v;
}

// --- failure classification ----------------------------------------------------

/**
 * S3 error codes worth retrying although their HTTP status is a 4xx, or that
 * arrive with a 200 (CompleteMultipartUpload reports late errors that way).
 */
const RETRYABLE_S3_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestThrottled',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'InternalError',
  'ServiceUnavailable',
  // Server-side socket timeout (HTTP 400): the body arrived too slowly.
  'RequestTimeout',
  // Body corrupted in transit; a resend carries the right bytes.
  'BadDigest',
  'XAmzContentSHA256Mismatch',
  // The SDK corrects its clock offset and the credential chain refreshes tokens.
  'RequestTimeTooSkewed',
  'ExpiredToken',
  // A concurrent conflicting operation on the bucket; transient by definition.
  'OperationAborted',
  // The upload vanished mid-way (lifecycle rule, store restart); a new put starts over.
  'NoSuchUpload',
]);

/** Client-side errors that mean "the network or the peer went away", not "the request is wrong". */
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENETRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_HTTP2_STREAM_ERROR',
]);

export interface S3FailureInfo {
  /** S3 error code, network error code, or error name. */
  readonly code: string;
  /** Status of the S3 response; undefined when none arrived. */
  readonly httpStatus: number | undefined;
  readonly retryable: boolean;
}

export function classifyS3Error(err: unknown): S3FailureInfo {
  const e = record(err);
  const status = numberAt(record(e.$metadata), 'httpStatusCode');
  if (status !== undefined) {
    const code = stringAt(e, 'Code') ?? stringAt(e, 'name') ?? `HTTP${status}`;
    const retryable =
      status >= 500 ||
      status === 429 ||
      status === 408 ||
      RETRYABLE_S3_CODES.has(code) ||
      // Throttling passed through from another service, e.g. KMS under SSE-KMS.
      /throttl/i.test(code) ||
      e.$retryable !== undefined;
    return { code, httpStatus: status, retryable };
  }
  const network = findNetworkCode(err, 0);
  if (network) return { code: network, httpStatus: undefined, retryable: true };
  return {
    code: stringAt(e, 'code') ?? stringAt(e, 'name') ?? 'UnknownError',
    httpStatus: undefined,
    retryable: false,
  };
}

/** Looks through `cause` chains and AggregateError members (happy-eyeballs connects fail that way). */
function findNetworkCode(err: unknown, depth: number): string | undefined {
  if (depth > 8 || typeof err !== 'object' || err === null) return undefined;
  const e = record(err);
  const code = stringAt(e, 'code');
  if (code && NETWORK_ERROR_CODES.has(code)) return code;
  // The SDK's own connect/request/socket deadlines carry only this name.
  if (stringAt(e, 'name') === 'TimeoutError') return code ?? 'TimeoutError';
  for (const inner of Array.isArray(e.errors) ? e.errors : []) {
    const found = findNetworkCode(inner, depth + 1);
    if (found) return found;
  }
  return findNetworkCode(e.cause, depth + 1);
}

function attemptsOf(err: unknown): number {
  return numberAt(record(record(err).$metadata), 'attempts') ?? 1;
}

function record(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
}

function stringAt(r: Record<string, unknown>, k: string): string | undefined {
  const v = r[k];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function numberAt(r: Record<string, unknown>, k: string): number | undefined {
  const v = r[k];
  return typeof v === 'number' ? v : undefined;
}
