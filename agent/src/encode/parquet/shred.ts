// Dremel shredding: the definition and repetition levels of one leaf over a
// range of rows, and which of the leaf's entries hold its values.
import { type ColumnData, isValid } from '../column-data.ts';
import type { Leaf } from './schema.ts';

export interface Shredded {
  /** Level entries (one per value or null or empty list on the way down). */
  readonly count: number;
  /** Definition level per entry; undefined when every entry is at maxDef. */
  readonly defs: Uint8Array | undefined;
  /** Repetition level per entry; undefined when the leaf is not repeated (entry = row). */
  readonly reps: Uint8Array | undefined;
  /** The leaf entry (slot) per level entry with a value; undefined when entry k is slot `first + k`. */
  readonly slots: Int32Array | undefined;
  readonly first: number;
}

/** The data along a leaf's path: element i is the data that step i starts from; the last is the leaf's. */
export function pathData(leaf: Leaf, top: ColumnData): ColumnData[] {
  const out = [top];
  let d = top;
  for (const s of leaf.steps) {
    if (s.kind === 'struct' && d.kind === 'struct') d = d.children[s.field]!;
    else if (s.kind === 'list' && d.kind === 'list') d = d.child;
    else if (s.kind === 'map' && d.kind === 'map') d = s.part === 'keys' ? d.keys : d.values;
    else throw new Error(`${leaf.path.join('.')}: column data does not match the schema (${s.kind} over ${d.kind})`);
    out.push(d);
  }
  if (out.at(-1)!.kind !== leaf.valueKind)
    throw new Error(`${leaf.path.join('.')}: expected ${leaf.valueKind} data, got ${out.at(-1)!.kind}`);
  return out;
}

const validityOf = (d: ColumnData): Uint8Array | undefined =>
  d.kind === 'list' || d.kind === 'map' ? undefined : d.validity;

/** Entries after a prefix of a leaf's steps, kept for the other leaves that share that prefix. */
interface Expanded {
  readonly n: number;
  readonly defs: Uint8Array;
  readonly reps: Uint8Array;
  readonly slots: Int32Array;
}

/** Shared prefixes of one row group: leaves of the same list expand it once. Keys name the column and the steps. */
export type PrefixCache = Map<string, Expanded>;

const stepKey = (s: Leaf['steps'][number]): string => (s.kind === 'struct' ? `s${s.field}` : s.kind[0]!);

/** Levels of rows [from, to) of one leaf. */
export function shred(
  leaf: Leaf,
  path: readonly ColumnData[],
  from: number,
  to: number,
  cache: PrefixCache = new Map(),
): Shredded {
  if (leaf.steps.length === 0) {
    // A top-level primitive: one entry per row, its definition level the validity bit.
    const validity = validityOf(path[0]!);
    if (!leaf.optional && validity) requiredNull(leaf);
    let defs: Uint8Array | undefined;
    if (validity) {
      defs = new Uint8Array(to - from);
      for (let r = from; r < to; r++) defs[r - from] = (validity[r >> 3]! >> (r & 7)) & 1;
    }
    return { count: to - from, defs, reps: undefined, slots: undefined, first: from };
  }

  // Level by level: entries start as the rows, each step refines their
  // definition levels (structs, the leaf) or expands them (lists, maps), so
  // every pass is a tight loop over typed arrays.
  const { steps } = leaf;
  const keys: string[] = [];
  let key = String(leaf.column);
  for (const step of steps) {
    key += `/${stepKey(step)}`;
    keys.push(key);
  }
  let start = steps.length;
  while (start > 0 && !cache.has(keys[start - 1]!)) start--;
  let n: number;
  let defs: Uint8Array;
  let reps: Uint8Array;
  let slots: Int32Array;
  if (start > 0) {
    // Later steps change definition levels and slots in place: work on copies.
    const hit = cache.get(keys[start - 1]!)!;
    n = hit.n;
    defs = hit.defs.slice();
    reps = hit.reps;
    slots = hit.slots.slice();
  } else {
    n = to - from;
    defs = new Uint8Array(n);
    reps = new Uint8Array(n);
    slots = new Int32Array(n);
    for (let k = 0; k < n; k++) slots[k] = from + k;
  }
  for (let i = start; i < steps.length; i++) {
    const step = steps[i]!;
    const data = path[i]!;
    if (step.kind === 'struct') {
      defineOrNull(leaf, validityOf(data), step.optional, n, defs, slots);
      cache.set(keys[i]!, { n, defs: defs.slice(), reps, slots: slots.slice() });
      continue;
    }
    // Lists and maps are never null: an optional one is always defined.
    const offsets = (data as { offsets: Int32Array }).offsets;
    const up = step.optional ? 1 : 0;
    let m = 0;
    for (let k = 0; k < n; k++) {
      const s = slots[k]!;
      m += s < 0 ? 1 : Math.max(1, offsets[s + 1]! - offsets[s]!);
    }
    const d2 = new Uint8Array(m);
    const r2 = new Uint8Array(m);
    const s2 = new Int32Array(m);
    let p = 0;
    for (let k = 0; k < n; k++) {
      const s = slots[k]!;
      const def = defs[k]!;
      const rep = reps[k]!;
      if (s < 0) {
        d2[p] = def;
        r2[p] = rep;
        s2[p++] = -1;
        continue;
      }
      const a = offsets[s]!;
      const b = offsets[s + 1]!;
      if (a === b) {
        // An empty list: defined up to the list, no element.
        d2[p] = def + up;
        r2[p] = rep;
        s2[p++] = -1;
        continue;
      }
      d2.fill(def + up + 1, p, p + b - a);
      r2[p] = rep;
      r2.fill(step.repLevel, p + 1, p + b - a);
      for (let e = a; e < b; e++) s2[p++] = e;
    }
    n = m;
    defs = d2;
    reps = r2;
    slots = s2;
    cache.set(keys[i]!, { n, defs: defs.slice(), reps, slots: slots.slice() });
  }
  defineOrNull(leaf, validityOf(path[steps.length]!), leaf.optional, n, defs, slots);
  return { count: n, defs, reps: leaf.maxRep > 0 ? reps : undefined, slots, first: 0 };
}

/** One optional (or required) level over the entries: a valid entry goes one definition level up, a null one stops. */
function defineOrNull(
  leaf: Leaf,
  validity: Uint8Array | undefined,
  optional: boolean,
  n: number,
  defs: Uint8Array,
  slots: Int32Array,
): void {
  if (!optional) {
    if (validity) for (let k = 0; k < n; k++) if (slots[k]! >= 0 && !isValid(validity, slots[k]!)) requiredNull(leaf);
    return;
  }
  for (let k = 0; k < n; k++) {
    const s = slots[k]!;
    if (s < 0) continue;
    if (validity === undefined || (validity[s >> 3]! & (1 << (s & 7))) !== 0) defs[k]!++;
    else slots[k] = -1;
  }
}

function requiredNull(leaf: Leaf): never {
  throw new Error(`${leaf.path.join('.')}: null in a required column`);
}
