import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { classifyS3Error, type S3RequestOutcome, S3Store, type S3StoreOptions } from '../agent/src/store/s3.ts';
import { objectKey, StoreError } from '../agent/src/store/store.ts';
import {
  createBucket,
  type MotoServer,
  startMotoServer,
  TEST_CREDENTIALS,
  TEST_REGION,
  testClient,
} from './support/s3-server.ts';

const MiB = 1024 * 1024;
const KMS_KEY = 'arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789';

let seq = 0;
function nextKey(table = 'flows'): string {
  seq += 1;
  return objectKey({ prefix: 'lake', table, hourStartUs: 1_767_225_600_000_000, node: 'node-a', epoch: 'e1', seq });
}

/** Records every S3 request the store makes, for assertions and retry counting. */
function recorder(): { outcomes: S3RequestOutcome[]; observer: { request(o: S3RequestOutcome): void } } {
  const outcomes: S3RequestOutcome[] = [];
  return { outcomes, observer: { request: (o) => outcomes.push(o) } };
}

function storeFor(server: MotoServer, bucket: string, extra: Partial<S3StoreOptions> = {}): S3Store {
  return new S3Store({
    bucket,
    region: TEST_REGION,
    endpoint: server.endpoint,
    credentials: TEST_CREDENTIALS,
    maxAttempts: 2,
    connectTimeoutMs: 1_000,
    requestTimeoutMs: 10_000,
    ...extra,
  });
}

async function readObject(client: S3Client, bucket: string, key: string): Promise<Uint8Array> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return out.Body!.transformToByteArray();
}

async function openUploads(client: S3Client, bucket: string): Promise<number> {
  const out = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return out.Uploads?.length ?? 0;
}

async function rejection(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof StoreError, `expected StoreError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the put to reject');
}

describe('S3Store against moto', () => {
  let server: MotoServer;
  let client: S3Client;
  const stores: S3Store[] = [];
  const open = (extra: Partial<S3StoreOptions> = {}, bucket = 'lake'): S3Store => {
    const s = storeFor(server, bucket, extra);
    stores.push(s);
    return s;
  };

  before(async () => {
    server = await startMotoServer();
    client = testClient(server.endpoint);
    await createBucket(server.endpoint, 'lake');
    await createBucket(server.endpoint, 'lake-versioned', { versioning: true });
  });

  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    client?.destroy();
    await server?.stop();
  });

  test('small put lands the exact bytes with the Parquet content type', async () => {
    const rec = recorder();
    const store = open({ observer: rec.observer });
    const key = nextKey();
    const body = randomBytes(64 * 1024);
    await store.put(key, body);

    assert.deepEqual(await readObject(client, 'lake', key), new Uint8Array(body));
    const head = await client.send(new HeadObjectCommand({ Bucket: 'lake', Key: key }));
    assert.equal(head.ContentType, 'application/vnd.apache.parquet');
    assert.equal(head.ContentLength, body.byteLength);
    assert.deepEqual(rec.outcomes, [{ operation: 'PutObject', attempts: 1, ok: true }]);
    assert.equal(store.kind, 's3');
    assert.match(store.location, /^s3:\/\/lake\b/);
  });

  test('a body above the threshold goes up in fixed-size parts and leaves no open upload', async () => {
    const rec = recorder();
    const store = open({ multipartThresholdBytes: 5 * MiB, partSizeBytes: 5 * MiB, observer: rec.observer });
    const key = nextKey();
    const body = randomBytes(12 * MiB);
    await store.put(key, body);

    assert.deepEqual(await readObject(client, 'lake', key), new Uint8Array(body));
    assert.deepEqual(
      rec.outcomes.map((o) => o.operation),
      ['CreateMultipartUpload', 'UploadPart', 'UploadPart', 'UploadPart', 'CompleteMultipartUpload'],
    );
    const head = await client.send(new HeadObjectCommand({ Bucket: 'lake', Key: key }));
    assert.match(head.ETag ?? '', /-3"?$/);
    assert.equal(head.ContentType, 'application/vnd.apache.parquet');
    assert.equal(await openUploads(client, 'lake'), 0);
  });

  test('a body of exactly the threshold size is uploaded in parts', async () => {
    const rec = recorder();
    const store = open({ multipartThresholdBytes: 5 * MiB, partSizeBytes: 5 * MiB, observer: rec.observer });
    const key = nextKey();
    const body = randomBytes(5 * MiB);
    await store.put(key, body);
    assert.deepEqual(
      rec.outcomes.map((o) => o.operation),
      ['CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload'],
    );
    assert.deepEqual(await readObject(client, 'lake', key), new Uint8Array(body));
  });

  test('multipart with per-part CRC32 checksums (checksums: when_supported)', async () => {
    const store = open({ multipartThresholdBytes: 5 * MiB, partSizeBytes: 5 * MiB, checksums: 'when_supported' });
    const key = nextKey();
    const body = randomBytes(11 * MiB);
    await store.put(key, body);
    assert.deepEqual(await readObject(client, 'lake', key), new Uint8Array(body));
    assert.equal(await openUploads(client, 'lake'), 0);
  });

  test('SSE-S3 header is sent on PutObject and CreateMultipartUpload', async () => {
    const store = open({ sse: 'AES256', multipartThresholdBytes: 5 * MiB, partSizeBytes: 5 * MiB });
    for (const size of [1024, 6 * MiB]) {
      const key = nextKey();
      await store.put(key, randomBytes(size));
      const head = await client.send(new HeadObjectCommand({ Bucket: 'lake', Key: key }));
      assert.equal(head.ServerSideEncryption, 'AES256', `size ${size}`);
    }
  });

  test('SSE-KMS with a key id and bucket keys is sent on PutObject and CreateMultipartUpload', async () => {
    const store = open({ sse: 'aws:kms', kmsKeyId: KMS_KEY, multipartThresholdBytes: 5 * MiB, partSizeBytes: 5 * MiB });
    const small = nextKey();
    await store.put(small, randomBytes(2048));
    const head = await client.send(new HeadObjectCommand({ Bucket: 'lake', Key: small }));
    assert.equal(head.ServerSideEncryption, 'aws:kms');
    assert.equal(head.SSEKMSKeyId, KMS_KEY);
    assert.equal(head.BucketKeyEnabled, true);

    const large = nextKey();
    const body = randomBytes(6 * MiB);
    await store.put(large, body);
    const headLarge = await client.send(new HeadObjectCommand({ Bucket: 'lake', Key: large }));
    assert.equal(headLarge.ServerSideEncryption, 'aws:kms');
    assert.equal(headLarge.SSEKMSKeyId, KMS_KEY);
    assert.deepEqual(await readObject(client, 'lake', large), new Uint8Array(body));
  });

  test('putting the same key twice with the same bytes yields versions with equal ETags', async () => {
    const store = open({ multipartThresholdBytes: 5 * MiB, partSizeBytes: 5 * MiB }, 'lake-versioned');
    for (const size of [4096, 12 * MiB]) {
      const key = nextKey();
      const body = randomBytes(size);
      await store.put(key, body);
      await store.put(key, body);
      const out = await client.send(new ListObjectVersionsCommand({ Bucket: 'lake-versioned', Prefix: key }));
      const versions = (out.Versions ?? []).filter((v) => v.Key === key);
      assert.equal(versions.length, 2, `size ${size}`);
      assert.ok(versions[0]!.ETag);
      assert.equal(versions[1]!.ETag, versions[0]!.ETag, `size ${size}`);
    }
  });

  test('a missing bucket is a non-retryable StoreError naming the bucket, key and code', async () => {
    const store = open({ multipartThresholdBytes: 5 * MiB, partSizeBytes: 5 * MiB }, 'no-such-bucket-here');
    for (const size of [100, 6 * MiB]) {
      const key = nextKey();
      const err = await rejection(store.put(key, randomBytes(size)));
      assert.equal(err.retryable, false);
      assert.match(err.message, /no-such-bucket-here/);
      assert.match(err.message, /NoSuchBucket/);
      assert.ok(err.message.includes(key));
      assert.match(err.message, /HTTP 404/);
    }
  });

  test('puts after close are rejected without touching the network', async () => {
    const store = storeFor(server, 'lake');
    await store.close();
    await store.close();
    const err = await rejection(store.put(nextKey(), new Uint8Array(1)));
    assert.equal(err.retryable, false);
  });
});

describe('S3Store when the server goes away', () => {
  let server: MotoServer;
  let client: S3Client;
  const stores: S3Store[] = [];

  before(async () => {
    server = await startMotoServer();
    client = testClient(server.endpoint);
    await createBucket(server.endpoint, 'lake');
  });

  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    client?.destroy();
    await server?.stop();
  });

  test('a stopped server gives a retryable error; after a restart the retry succeeds', async () => {
    const rec = recorder();
    const store = storeFor(server, 'lake', { observer: rec.observer });
    stores.push(store);
    const key = nextKey();
    const body = randomBytes(256 * 1024);

    await server.stop();
    const err = await rejection(store.put(key, body));
    assert.equal(err.retryable, true);
    assert.match(err.message, /ECONNREFUSED/);
    assert.match(err.message, /bucket lake\b/);
    // The SDK retried once (maxAttempts 2) and the observer saw both attempts.
    assert.deepEqual(rec.outcomes, [{ operation: 'PutObject', attempts: 2, ok: false, errorCode: 'ECONNREFUSED' }]);

    await server.restart();
    await createBucket(server.endpoint, 'lake');
    await store.put(key, body);
    assert.deepEqual(await readObject(client, 'lake', key), new Uint8Array(body));
  });

  test('a server that hangs mid-upload times out as retryable; the retry after a restart is complete', async () => {
    let hung = false;
    const store = storeFor(server, 'lake', {
      multipartThresholdBytes: 5 * MiB,
      partSizeBytes: 5 * MiB,
      requestTimeoutMs: 1_000,
      observer: {
        request: (o) => {
          // Freeze the server as soon as the first part is in, so part 2 hangs.
          if (!hung && o.operation === 'UploadPart' && o.ok) {
            hung = true;
            server.pause();
          }
        },
      },
    });
    stores.push(store);
    const key = nextKey();
    const body = randomBytes(12 * MiB);

    const err = await rejection(store.put(key, body));
    assert.ok(hung);
    assert.equal(err.retryable, true);
    assert.match(err.message, /UploadPart 2\/3/);
    assert.match(err.message, /ETIMEDOUT|TimeoutError/);
    // The abort could not reach the frozen server either, and the message says so.
    assert.match(err.message, /AbortMultipartUpload of upload \S+ also failed/);

    await server.restart();
    await createBucket(server.endpoint, 'lake');
    await store.put(key, body);
    assert.deepEqual(await readObject(client, 'lake', key), new Uint8Array(body));
    assert.equal(await openUploads(client, 'lake'), 0);
  });
});

describe('S3Store multipart failure', () => {
  let server: MotoServer;
  let client: S3Client;

  before(async () => {
    // Every part is "too small" for this server, so CompleteMultipartUpload fails.
    server = await startMotoServer({ env: { S3_UPLOAD_PART_MIN_SIZE: String(64 * MiB) } });
    client = testClient(server.endpoint);
    await createBucket(server.endpoint, 'lake');
  });

  after(async () => {
    client?.destroy();
    await server?.stop();
  });

  test('a failed multipart upload is aborted and reported as non-retryable', async () => {
    const rec = recorder();
    const store = storeFor(server, 'lake', {
      multipartThresholdBytes: 5 * MiB,
      partSizeBytes: 5 * MiB,
      observer: rec.observer,
    });
    try {
      const err = await rejection(store.put(nextKey(), randomBytes(11 * MiB)));
      assert.equal(err.retryable, false);
      assert.match(err.message, /CompleteMultipartUpload/);
      assert.match(err.message, /EntityTooSmall/);
      assert.deepEqual(rec.outcomes.at(-1), { operation: 'AbortMultipartUpload', attempts: 1, ok: true });
      assert.equal(await openUploads(client, 'lake'), 0);
    } finally {
      await store.close();
    }
  });
});

describe('classifyS3Error', () => {
  const s3Error = (name: string, httpStatusCode: number) =>
    Object.assign(new Error(name), {
      name,
      $fault: httpStatusCode >= 500 ? 'server' : 'client',
      $metadata: { httpStatusCode },
    });

  test('throttling, server errors and S3 timeouts are retryable', () => {
    for (const [name, status] of [
      ['SlowDown', 503],
      ['InternalError', 500],
      ['TooManyRequests', 429],
      ['RequestTimeout', 400],
      ['NoSuchUpload', 404],
      ['ExpiredToken', 400],
      ['KMS.ThrottlingException', 400],
    ] as const) {
      const info = classifyS3Error(s3Error(name, status));
      assert.deepEqual(info, { code: name, httpStatus: status, retryable: true }, name);
    }
  });

  test('request errors are not retryable', () => {
    for (const [name, status] of [
      ['AccessDenied', 403],
      ['NoSuchBucket', 404],
      ['InvalidArgument', 400],
      ['PermanentRedirect', 301],
      ['KMS.NotFoundException', 400],
    ] as const) {
      assert.equal(classifyS3Error(s3Error(name, status)).retryable, false, name);
    }
  });

  test('network failures are retryable, found through causes and aggregate errors', () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    assert.deepEqual(classifyS3Error(reset), { code: 'ECONNRESET', httpStatus: undefined, retryable: true });
    const refused = new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })], 'connect failed');
    assert.equal(classifyS3Error(refused).code, 'ECONNREFUSED');
    const wrapped = new Error('credentials', { cause: Object.assign(new Error('dns'), { code: 'EAI_AGAIN' }) });
    assert.equal(classifyS3Error(wrapped).retryable, true);
    const timeout = Object.assign(new Error('took too long'), { name: 'TimeoutError' });
    assert.equal(classifyS3Error(timeout).retryable, true);
    assert.equal(classifyS3Error(new TypeError('bug')).retryable, false);
  });
});

describe('S3Store options', () => {
  const base = { bucket: 'lake', region: TEST_REGION, credentials: TEST_CREDENTIALS };

  test('rejects parts below the S3 minimum, a KMS key without SSE-KMS, and a bucket with a path', () => {
    assert.throws(() => new S3Store({ ...base, partSizeBytes: 4 * MiB }), /partSizeBytes/);
    assert.throws(() => new S3Store({ ...base, sse: 'AES256', kmsKeyId: KMS_KEY }), /kmsKeyId/);
    assert.throws(() => new S3Store({ ...base, bucket: 'lake/prefix' }), /bucket/);
  });

  test('accepts a minimal AWS configuration, and bucket keys without SSE-KMS (ignored)', async () => {
    const store = new S3Store({ bucket: 'lake', region: TEST_REGION, sse: 'aws:kms' });
    assert.equal(store.location, 's3://lake');
    await store.close();
    await new S3Store({ ...base, sse: 'none', bucketKeyEnabled: true }).close();
  });
});
