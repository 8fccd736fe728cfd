// OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
// The method is registered with identity (de)serializers, so the handler
// gets the raw request bytes and decodes them with the trimmed protos itself
// (and answers with bytes it encoded).
import * as grpc from '@grpc/grpc-js';
import { TRACE_EXPORT_PATH } from './protos.ts';
import { type ExportOutcome, encodeExportResponse, type OtlpReceiver } from './receiver.ts';

const identity = (b: Buffer): Buffer => b;

const traceService: grpc.ServiceDefinition = {
  Export: {
    path: TRACE_EXPORT_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
    originalName: 'export',
  },
};

/**
 * grpc-js refuses oversized (also after decompression) and undecodable
 * messages itself, before any handler runs. The call's sendStatus is the one
 * place that sees those refusals; wrapping it lets them be counted like every
 * other drop. The codes counted here are ones the handler never sends.
 */
function countTransportRefusals(receiver: OtlpReceiver): grpc.ServerInterceptor {
  return (_method, call) => {
    const send = call.sendStatus.bind(call);
    call.sendStatus = (status) => {
      if (status.code === grpc.status.RESOURCE_EXHAUSTED)
        receiver.refuse('grpc', 'request_too_large', status.details ?? '');
      else if (status.code === grpc.status.INTERNAL) receiver.refuse('grpc', 'malformed_request', status.details ?? '');
      else if (status.code === grpc.status.UNIMPLEMENTED) receiver.unsupported('grpc', status.details ?? '');
      send(status);
    };
    return new grpc.ServerInterceptingCall(call);
  };
}

export interface GrpcListener {
  readonly port: number;
  close(timeoutMs: number): Promise<void>;
}

export async function startGrpcServer(receiver: OtlpReceiver, host: string, port: number): Promise<GrpcListener> {
  const server = new grpc.Server({
    // Checked by grpc-js on the message as received and again after decompression.
    'grpc.max_receive_message_length': receiver.config.max_request_bytes,
    interceptors: [countTransportRefusals(receiver)],
  });
  server.addService(traceService, {
    Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
      handleExport(receiver, call.request, callback),
  });
  const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port: bound,
    close: (timeoutMs) =>
      new Promise<void>((resolve) => {
        // Calls in progress finish; a client that holds its connection open does not delay shutdown past the bound.
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, timeoutMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

function handleExport(receiver: OtlpReceiver, body: Buffer, callback: grpc.sendUnaryData<Buffer>): void {
  if (receiver.stopping) {
    receiver.refuse('grpc', 'receiver_stopping', 'export after shutdown began');
    callback({ code: grpc.status.UNAVAILABLE, details: 'the agent is shutting down; retry against its successor' });
    return;
  }
  if (!receiver.admit(body.length)) {
    receiver.refuse('grpc', 'receiver_busy', `in-flight bytes at max_inflight_bytes (${body.length}-byte request)`);
    callback({ code: grpc.status.UNAVAILABLE, details: 'the receiver is at its in-flight byte limit; retry later' });
    return;
  }
  try {
    let outcome: ExportOutcome;
    try {
      outcome = receiver.export('grpc', body, 'protobuf');
    } catch (err) {
      // A defect, not bad input. UNKNOWN, because INTERNAL is how grpc-js reports undecodable messages.
      receiver.failed('grpc', err);
      callback({ code: grpc.status.UNKNOWN, details: 'internal error while handling the export' });
      return;
    }
    switch (outcome.kind) {
      case 'accepted':
        callback(null, Buffer.from(encodeExportResponse(outcome)));
        return;
      case 'malformed':
        callback({ code: grpc.status.INVALID_ARGUMENT, details: outcome.message });
        return;
      case 'busy':
        callback({ code: grpc.status.UNAVAILABLE, details: outcome.message });
        return;
    }
  } finally {
    receiver.release(body.length);
  }
}
