// Feeds a Kubernetes API server (the test server, or anything with its
// create/update/remove methods) with the cluster's changes: everything that
// happened before a point at once, or paced so each change is applied when
// the wall clock reaches its simulated time — the agents' watches stamp what
// they receive with the time they receive it.

export interface ChangeLine {
  readonly at: string;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly collection: string;
  readonly object: Record<string, unknown> & { metadata: { name: string; namespace?: string; uid: string } };
}

export interface ApiServerLike {
  create(collection: never, object: Record<string, unknown>): unknown;
  update(
    collection: never,
    namespace: string | undefined,
    name: string,
    mutate: (o: Record<string, unknown>) => void,
  ): unknown;
  remove(collection: never, namespace: string | undefined, name: string): void;
}

export function changeTimeUs(c: ChangeLine): number {
  const m = /\.(\d{6})Z$/.exec(c.at);
  return Math.floor(Date.parse(c.at) / 1000) * 1_000_000 + Number(m?.[1] ?? 0);
}

export function applyChange(server: ApiServerLike, c: ChangeLine): void {
  const collection = c.collection as never;
  const { name, namespace } = c.object.metadata;
  if (c.type === 'ADDED') server.create(collection, structuredClone(c.object));
  else if (c.type === 'MODIFIED')
    server.update(collection, namespace, name, (o) => {
      const next = structuredClone(c.object);
      for (const k of Object.keys(o)) delete o[k];
      Object.assign(o, next);
    });
  else server.remove(collection, namespace, name);
}

/**
 * Applies the changes in order. `pace`: simulated µs → wall-clock ms at which
 * to apply a change (changes already due are applied at once).
 */
export async function feedKubernetes(
  server: ApiServerLike,
  changes: readonly ChangeLine[],
  options: { readonly pace?: (simUs: number) => number; readonly signal?: AbortSignal } = {},
): Promise<number> {
  let applied = 0;
  for (const c of changes) {
    if (options.signal?.aborted) break;
    if (options.pace) {
      const wait = options.pace(changeTimeUs(c)) - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    applyChange(server, c);
    applied++;
  }
  return applied;
}
