// Worker thread: writes a batch's columns as a Parquet file, off the event
// loop (a large ZSTD file takes tens of ms).
import { parentPort } from 'node:worker_threads';
import { writeParquet } from './parquet/writer.ts';
import type { EncodeRequest, EncodeResponse } from './parquet-encoder.ts';

parentPort!.on('message', (req: EncodeRequest) => {
  let reply: EncodeResponse;
  try {
    const bytes = writeParquet(req.batch.schema, req.batch.columns, req);
    reply = { id: req.id, bytes };
    parentPort!.postMessage(reply, [bytes.buffer as ArrayBuffer]);
  } catch (err) {
    reply = { id: req.id, error: err instanceof Error ? err.message : String(err) };
    parentPort!.postMessage(reply);
  }
});
