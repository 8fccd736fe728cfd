// Worker thread: turns an Arrow IPC stream into a Parquet file with
// parquet-wasm, off the event loop (a large ZSTD file takes hundreds of ms).
import { parentPort } from 'node:worker_threads';
import * as pw from 'parquet-wasm';
import type { EncodeRequest, EncodeResponse } from './parquet-encoder.ts';

const codecs: Record<EncodeRequest['compression'], pw.Compression> = {
  zstd: pw.Compression.ZSTD,
  snappy: pw.Compression.SNAPPY,
  none: pw.Compression.UNCOMPRESSED,
};

// High-cardinality columns gain nothing from a dictionary page and cost time.
const noDictionary = new Set(['record_id', 'request_id', 'trace_id', 'span_id', 'flow_uuid', 'parent_span_id']);

function properties(req: EncodeRequest): pw.WriterProperties {
  // A WriterProperties is consumed by writeParquet; reusing one silently falls
  // back to defaults (uncompressed), so build one per file.
  let b = new pw.WriterPropertiesBuilder()
    .setCompression(codecs[req.compression])
    .setWriterVersion(pw.WriterVersion.V1)
    .setMaxRowGroupSize(req.rowGroupRows)
    .setCreatedBy(req.createdBy);
  for (const column of req.columns) if (noDictionary.has(column)) b = b.setColumnDictionaryEnabled(column, false);
  return b.build();
}

parentPort!.on('message', (req: EncodeRequest) => {
  let reply: EncodeResponse;
  try {
    const table = pw.Table.fromIPCStream(new Uint8Array(req.ipc));
    const bytes = pw.writeParquet(table, properties(req));
    reply = { id: req.id, bytes };
    parentPort!.postMessage(reply, [bytes.buffer as ArrayBuffer]);
  } catch (err) {
    reply = { id: req.id, error: err instanceof Error ? err.message : String(err) };
    parentPort!.postMessage(reply);
  }
});
