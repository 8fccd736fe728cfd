// Sends a node's OTLP export requests (otlp/requests.jsonl) to an agent's
// OTLP/HTTP receiver as OTLP/JSON, as the SDK's HTTP exporter does, retrying
// 503 / 429 answers after their Retry-After.

export interface OtlpRequestLine {
  readonly sent_at: string;
  readonly node: string;
  readonly pod: string;
  readonly body: unknown;
}

export interface SendResult {
  readonly requests: number;
  readonly spans: number;
  readonly rejectedSpans: number;
}

const spansIn = (body: unknown): number =>
  ((body as { resourceSpans?: { scopeSpans?: { spans?: unknown[] }[] }[] }).resourceSpans ?? []).reduce(
    (a, rs) => a + (rs.scopeSpans ?? []).reduce((b, ss) => b + (ss.spans ?? []).length, 0),
    0,
  );

export async function sendOtlp(
  endpoint: string,
  lines: readonly OtlpRequestLine[],
  options: { readonly maxRetries?: number } = {},
): Promise<SendResult> {
  let requests = 0;
  let spans = 0;
  let rejectedSpans = 0;
  for (const line of lines) {
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(`${endpoint.replace(/\/$/, '')}/v1/traces`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(line.body),
        });
      } catch (err) {
        // The agent is not listening (restarting): the SDK retries with backoff.
        if (attempt >= (options.maxRetries ?? 20)) throw err;
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      const text = await res.text();
      if (res.status === 200) {
        const partial = text ? (JSON.parse(text) as { partialSuccess?: { rejectedSpans?: string | number } }) : {};
        rejectedSpans += Number(partial.partialSuccess?.rejectedSpans ?? 0);
        break;
      }
      if ((res.status === 503 || res.status === 429) && attempt < (options.maxRetries ?? 20)) {
        const after = Number(res.headers.get('retry-after') ?? '1');
        await new Promise((r) => setTimeout(r, Math.min(5, Math.max(0.1, after)) * 1000));
        continue;
      }
      throw new Error(`OTLP export refused: HTTP ${res.status} ${text.slice(0, 200)}`);
    }
    requests++;
    spans += spansIn(line.body);
  }
  return { requests, spans, rejectedSpans };
}
