// OTLP/HTTP: `POST /v1/traces` with a protobuf or JSON body, optionally
// gzip/deflate/zstd compressed. Responses use the request's encoding; errors
// carry a google.rpc.Status. The body is bounded as it streams in and again
// after decompression, and counted against the in-flight byte budget.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { RpcStatus } from './protos.ts';
import { type BodyFormat, type ExportOutcome, encodeExportResponse, type OtlpReceiver } from './receiver.ts';

const TRACES_PATH = '/v1/traces';

// gRPC codes carried in the google.rpc.Status of error responses.
const INVALID_ARGUMENT = 3;
const NOT_FOUND = 5;
const RESOURCE_EXHAUSTED = 8;
const UNIMPLEMENTED = 12;
const INTERNAL = 13;
const UNAVAILABLE = 14;

type Decompress = (body: Buffer, options: zlib.ZlibOptions) => Promise<Buffer>;

const gunzip = promisify(zlib.gunzip) as Decompress;
const inflate = promisify(zlib.inflate) as Decompress;
const inflateRaw = promisify(zlib.inflateRaw) as Decompress;
const zstd = (typeof zlib.zstdDecompress === 'function' ? promisify(zlib.zstdDecompress) : undefined) as
  | Decompress
  | undefined;

/** `deflate` is zlib-wrapped by the RFC, but some clients send raw deflate. */
const deflate: Decompress = (body, options) =>
  inflate(body, options).catch((err: NodeJS.ErrnoException) =>
    err.code === 'Z_DATA_ERROR' ? inflateRaw(body, options) : Promise.reject(err),
  );

function decoderFor(encoding: string): Decompress | null | undefined {
  switch (encoding) {
    case '':
    case 'identity':
      return null;
    case 'gzip':
    case 'x-gzip':
      return gunzip;
    case 'deflate':
      return deflate;
    case 'zstd':
      return zstd;
    default:
      return undefined;
  }
}

function formatOf(contentType: string | undefined): BodyFormat | undefined {
  const media = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (media === 'application/x-protobuf' || media === 'application/protobuf') return 'protobuf';
  if (media === 'application/json') return 'json';
  return undefined;
}

const CONTENT_TYPE: Record<BodyFormat, string> = { protobuf: 'application/x-protobuf', json: 'application/json' };

function send(
  res: ServerResponse,
  status: number,
  format: BodyFormat | undefined,
  body: Uint8Array | string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, {
    'content-type': format ? CONTENT_TYPE[format] : 'text/plain; charset=utf-8',
    'content-length': String(payload.length),
    ...headers,
  });
  res.end(payload);
}

function sendStatus(
  res: ServerResponse,
  http: number,
  code: number,
  message: string,
  format: BodyFormat | undefined,
  headers: Record<string, string> = {},
): void {
  if (format === 'json') send(res, http, format, JSON.stringify({ code, message }), headers);
  else if (format === 'protobuf') send(res, http, format, RpcStatus.encode({ code, message }).finish(), headers);
  else send(res, http, undefined, `${message}\n`, headers);
}

function sendOutcome(res: ServerResponse, outcome: ExportOutcome, format: BodyFormat, retryAfter: string): void {
  switch (outcome.kind) {
    case 'accepted':
      if (format === 'protobuf') send(res, 200, format, encodeExportResponse(outcome));
      else
        send(
          res,
          200,
          format,
          outcome.rejected
            ? JSON.stringify({
                partialSuccess: { rejectedSpans: String(outcome.rejected), errorMessage: outcome.message ?? '' },
              })
            : '{}',
        );
      return;
    case 'malformed':
      sendStatus(res, 400, INVALID_ARGUMENT, outcome.message, format);
      return;
    case 'busy':
      sendStatus(res, 503, UNAVAILABLE, outcome.message, format, { 'retry-after': retryAfter });
      return;
  }
}

export interface HttpListener {
  readonly port: number;
  close(timeoutMs: number): Promise<void>;
}

export async function startHttpServer(receiver: OtlpReceiver, host: string, port: number): Promise<HttpListener> {
  // A client that stalls mid-body holds in-flight budget; a minute is far beyond any exporter's own timeout.
  const server: Server = createServer({ requestTimeout: 60_000 }, (req, res) => handle(receiver, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: (timeoutMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.closeAllConnections();
          resolve();
        }, timeoutMs);
        // Stops accepting, closes idle keep-alive connections, waits for requests in progress.
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

/**
 * Refuses a request whose body has not been (fully) read: the rest of the
 * body is read and discarded so the client sees the response rather than a
 * reset connection, and the connection is not reused.
 */
function refuseUnread(req: IncomingMessage, res: ServerResponse, respond: () => void): void {
  res.shouldKeepAlive = false;
  respond();
  req.removeAllListeners('data');
  req.resume();
}

function handle(receiver: OtlpReceiver, req: IncomingMessage, res: ServerResponse): void {
  const { config } = receiver;
  const retryAfter = String(Math.ceil(config.retry_after / 1000));
  const format = formatOf(req.headers['content-type']);
  const path = (req.url ?? '').split('?')[0];
  if (path !== TRACES_PATH) {
    receiver.unsupported('http', 'path other than /v1/traces');
    refuseUnread(req, res, () => sendStatus(res, 404, NOT_FOUND, `only ${TRACES_PATH} is served here`, format));
    return;
  }
  if (req.method !== 'POST') {
    receiver.unsupported('http', `method ${req.method}`);
    refuseUnread(req, res, () =>
      sendStatus(res, 405, UNIMPLEMENTED, `${TRACES_PATH} takes POST`, format, { allow: 'POST' }),
    );
    return;
  }
  if (!format) {
    receiver.unsupported('http', 'content type');
    refuseUnread(req, res, () =>
      sendStatus(res, 415, UNIMPLEMENTED, 'Content-Type must be application/x-protobuf or application/json', undefined),
    );
    return;
  }
  const encoding = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
  const decompress = decoderFor(encoding);
  if (decompress === undefined) {
    receiver.unsupported('http', 'content encoding');
    refuseUnread(req, res, () =>
      sendStatus(res, 415, UNIMPLEMENTED, 'Content-Encoding must be gzip, deflate, zstd or identity', format),
    );
    return;
  }
  if (receiver.stopping) {
    receiver.refuse('http', 'receiver_stopping', 'export after shutdown began');
    refuseUnread(req, res, () =>
      sendStatus(res, 503, UNAVAILABLE, 'the agent is shutting down; retry', format, { 'retry-after': retryAfter }),
    );
    return;
  }
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  const tooLarge = () =>
    sendStatus(
      res,
      413,
      RESOURCE_EXHAUSTED,
      `request body larger than max_request_bytes (${config.max_request_bytes})`,
      format,
    );
  if (declared !== undefined && declared > config.max_request_bytes) {
    receiver.refuse('http', 'request_too_large', `Content-Length ${declared}`);
    refuseUnread(req, res, tooLarge);
    return;
  }
  const busy = () =>
    sendStatus(res, 503, UNAVAILABLE, 'the receiver is at its in-flight byte limit; retry later', format, {
      'retry-after': retryAfter,
    });
  if (!receiver.admit(declared ?? 0)) {
    receiver.refuse('http', 'receiver_busy', `in-flight bytes at max_inflight_bytes (${declared}-byte request)`);
    refuseUnread(req, res, busy);
    return;
  }

  let held = declared ?? 0;
  let received = 0;
  let done = false;
  const chunks: Buffer[] = [];
  const finish = () => {
    if (done) return;
    done = true;
    receiver.release(held);
    held = 0;
  };
  let ended = false;
  // A client that goes away mid-body frees its share; after the end, complete() frees it.
  req.on('close', () => {
    if (!ended) finish();
  });
  req.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (received > config.max_request_bytes) {
      receiver.refuse('http', 'request_too_large', `body over ${config.max_request_bytes} bytes`);
      chunks.length = 0;
      finish();
      refuseUnread(req, res, tooLarge);
      return;
    }
    if (received > held) {
      // A body without (or beyond) its Content-Length reserves budget as it arrives.
      const more = received - held;
      if (!receiver.fits(more)) {
        receiver.refuse('http', 'receiver_busy', 'in-flight bytes at max_inflight_bytes while receiving');
        chunks.length = 0;
        finish();
        refuseUnread(req, res, busy);
        return;
      }
      receiver.hold(more);
      held += more;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    ended = true;
    if (done) return;
    void complete(receiver, res, Buffer.concat(chunks, received), format, decompress, retryAfter, (n) => {
      if (done) return;
      receiver.hold(n);
      held += n;
    })
      .catch((err: unknown) => {
        // A defect, not bad input: answer rather than leave the client hanging, and keep serving.
        receiver.failed('http', err);
        sendStatus(res, 500, INTERNAL, 'internal error while handling the export', format);
      })
      .finally(finish);
  });
}

async function complete(
  receiver: OtlpReceiver,
  res: ServerResponse,
  raw: Buffer,
  format: BodyFormat,
  decompress: Decompress | null,
  retryAfter: string,
  hold: (bytes: number) => void,
): Promise<void> {
  const max = receiver.config.max_request_bytes;
  let body = raw;
  if (decompress) {
    try {
      body = await decompress(raw, { maxOutputLength: max });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        receiver.refuse('http', 'request_too_large', `decompressed body over ${max} bytes`);
        sendStatus(res, 413, RESOURCE_EXHAUSTED, `decompressed body larger than max_request_bytes (${max})`, format);
      } else {
        receiver.refuse('http', 'malformed_request', 'body cannot be decompressed');
        sendStatus(res, 400, INVALID_ARGUMENT, 'the body cannot be decompressed as its Content-Encoding says', format);
      }
      return;
    }
    hold(body.length);
  }
  sendOutcome(res, receiver.export('http', body, format), format, retryAfter);
}
