// Hubble's Observer API from the trimmed protos in proto/cilium/api/v1, loaded
// once at start-up (the agent has no build step, so no generated code). The
// same definitions serve the client, the test server and the enum names used
// by the flow mapper, so a wire value and a JSON name always agree.
import { fileURLToPath } from 'node:url';
import type { ServiceDefinition } from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const PROTO_DIR = fileURLToPath(new URL('../../../../proto/cilium/api/v1/', import.meta.url));

function load(): protobuf.Root {
  const root = new protobuf.Root();
  // Imports are relative to api/v1, like Cilium's; google/protobuf/* are bundled with protobufjs.
  root.resolvePath = (_origin, target) =>
    target.startsWith('/') || target.startsWith('google/') ? target : PROTO_DIR + target;
  root.loadSync(`${PROTO_DIR}observer/observer.proto`, { keepCase: true });
  root.resolveAll();
  return root;
}

export const hubbleRoot = load();
export const GetFlowsRequest = hubbleRoot.lookupType('observer.GetFlowsRequest');
export const GetFlowsResponse = hubbleRoot.lookupType('observer.GetFlowsResponse');
export const FlowFilter = hubbleRoot.lookupType('flow.FlowFilter');

/** Number → name of a Hubble enum; unknown numbers stay undefined. */
function names(enumName: string): ReadonlyMap<number, string> {
  const e = hubbleRoot.lookupEnum(enumName);
  return new Map(Object.entries(e.valuesById).map(([id, name]) => [Number(id), name]));
}

export const ENUMS = {
  verdict: names('flow.Verdict'),
  flowType: names('flow.FlowType'),
  trafficDirection: names('flow.TrafficDirection'),
  observationPoint: names('flow.TraceObservationPoint'),
  sockXlatePoint: names('flow.SocketTranslationPoint'),
  dropReason: names('flow.DropReason'),
  l7Type: names('flow.L7FlowType'),
  lostEventSource: names('flow.LostEventSource'),
  nodeState: names('relay.NodeState'),
} as const;

export const GET_FLOWS_PATH = '/observer.Observer/GetFlows';

/**
 * A decoded response together with its wire bytes: a flow without a uuid is
 * identified by a hash of its bytes.
 */
export interface WireResponse {
  readonly bytes: Uint8Array;
  readonly message: Record<string, unknown>;
  /** Set when the bytes could not be decoded. */
  readonly error?: string;
}

export const serializeRequest = (req: Record<string, unknown>): Buffer =>
  Buffer.from(GetFlowsRequest.encode(GetFlowsRequest.fromObject(req)).finish());

/**
 * Never throws: a message the decoder rejects would otherwise fail the call,
 * and the resumed call would replay it forever.
 */
export const deserializeResponse = (bytes: Buffer): WireResponse => {
  try {
    return { bytes, message: GetFlowsResponse.decode(bytes) as unknown as Record<string, unknown> };
  } catch (err) {
    return { bytes, message: {}, error: (err as Error).message };
  }
};

/** The Observer service with just GetFlows, for a grpc-js server (the tests serve it). */
export const observerService: ServiceDefinition = {
  GetFlows: {
    path: GET_FLOWS_PATH,
    requestStream: false,
    responseStream: true,
    requestSerialize: serializeRequest,
    requestDeserialize: (bytes: Buffer) =>
      GetFlowsRequest.toObject(GetFlowsRequest.decode(bytes), { longs: String, enums: String }),
    // Pre-encoded responses pass through (the benchmark server sends bytes).
    responseSerialize: (res: Record<string, unknown> | Uint8Array) =>
      res instanceof Uint8Array
        ? Buffer.from(res.buffer, res.byteOffset, res.byteLength)
        : Buffer.from(GetFlowsResponse.encode(GetFlowsResponse.fromObject(res)).finish()),
    responseDeserialize: deserializeResponse,
  },
};
