// Shared by the simulator tests: small runs into temporary directories, and
// readers for what they wrote.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeConfig, type SimConfig } from '../../sim/src/config.ts';
import { type Manifest, simulate } from '../../sim/src/simulate.ts';
import type { TruthRequest } from '../../sim/src/truth.ts';
import { tempDir } from '../support/tmp.ts';

export interface Run {
  readonly dir: string;
  readonly cfg: SimConfig;
  readonly manifest: Manifest;
}

export function run(overrides: Partial<SimConfig> = {}, dir = tempDir('hoptrace-sim-')): Run {
  const cfg = makeConfig({ nodes: 3, durationS: 20, rate: 10, ...overrides });
  return { dir, cfg, manifest: simulate(cfg, dir) };
}

export function jsonl<T = Record<string, unknown>>(path: string): T[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);
}

export function truth(r: Run): TruthRequest[] {
  return jsonl<TruthRequest>(join(r.dir, 'truth.jsonl'));
}

export interface Change {
  readonly at: string;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly collection: string;
  // biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are free-form JSON
  readonly object: any;
}

export function changes(r: Run): Change[] {
  return jsonl<Change>(join(r.dir, 'cluster/changes.jsonl'));
}

export const us = (iso: string) => Date.parse(iso) * 1000 + Number((/\.\d{3}(\d{3})Z$/.exec(iso) ?? ['', '0'])[1]);

/** Files written under a prefix, from the manifest. */
export function filesUnder(r: Run, prefix: string, suffix = ''): string[] {
  return Object.keys(r.manifest.files)
    .filter((f) => f.startsWith(prefix) && f.endsWith(suffix))
    .sort();
}
