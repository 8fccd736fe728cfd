// Feeds a Hubble Observer (the gRPC test server, or anything with the same
// two methods) from a node's export-file lines: flows are published to the
// ring, lost events are sent to the followers in stream order. The protojson
// of the file is converted to the object form protobufjs encodes (Timestamps
// and wrappers as messages); the rest of the keys are already proto names.

export interface ObserverSink {
  publish(responses: readonly Record<string, unknown>[]): void;
  broadcast(response: Record<string, unknown>): void;
}

export function timestamp(rfc3339: string): { seconds: number; nanos: number } {
  const m = /^(.*?)(?:\.(\d{1,9}))?Z$/.exec(rfc3339);
  if (!m) throw new Error(`not an RFC 3339 UTC time: ${rfc3339}`);
  return { seconds: Math.floor(Date.parse(`${m[1]}Z`) / 1000), nanos: Number((m[2] ?? '').padEnd(9, '0')) };
}

/** One export-file line as a GetFlowsResponse object for protobufjs `fromObject`. */
export function toGetFlowsResponse(line: string): Record<string, unknown> {
  const ev = JSON.parse(line) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if (ev.flow) {
    const { Summary: _summary, ...flow } = ev.flow as Record<string, unknown>;
    if (typeof flow.time === 'string') flow.time = timestamp(flow.time);
    if (typeof flow.is_reply === 'boolean') flow.is_reply = { value: flow.is_reply };
    out.flow = flow;
  }
  if (ev.lost_events) {
    const lost = { ...(ev.lost_events as Record<string, unknown>) };
    if (typeof lost.cpu === 'object' && lost.cpu !== null) lost.cpu = { value: (lost.cpu as { value: number }).value };
    out.lost_events = lost;
  }
  if (typeof ev.node_name === 'string') out.node_name = ev.node_name;
  if (typeof ev.time === 'string') out.time = timestamp(ev.time);
  return out;
}

/** Publishes the lines in order; returns how many flows and lost-event records went out. */
export function feedHubble(sink: ObserverSink, lines: readonly string[]): { flows: number; lost: number } {
  let flows = 0;
  let lost = 0;
  let batch: Record<string, unknown>[] = [];
  const flush = () => {
    if (batch.length) sink.publish(batch);
    batch = [];
  };
  for (const line of lines) {
    if (line.trim() === '') continue;
    const res = toGetFlowsResponse(line);
    if (res.flow) {
      batch.push(res);
      flows++;
    } else if (res.lost_events) {
      flush();
      sink.broadcast(res);
      lost++;
    }
  }
  flush();
  return { flows, lost };
}
