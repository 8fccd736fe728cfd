// Shared by the deployment tests: the pinned tools (built into .tools/ by `make helm` and
// `make test-deploy`), rendering the chart, and reading the manifests it renders.
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CHART = join(ROOT, 'charts/hoptrace');
export const HOPTRACE = join(ROOT, 'agent/bin/hoptrace.ts');

function tool(envName: string, path: string, install: string): string {
  const file = process.env[envName] ?? join(ROOT, path);
  if (!existsSync(file)) throw new Error(`${file} is missing: run '${install}' (or set ${envName})`);
  return file;
}
export const helmBin = (): string => tool('HOPTRACE_HELM', '.tools/bin/helm', 'make helm');
export const hadolintBin = (): string => tool('HOPTRACE_HADOLINT', '.tools/hadolint/bin/hadolint', 'make test-deploy');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(file: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  return new Promise<Run>((resolvePromise) => {
    execFile(
      file,
      args,
      { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolvePromise({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

export const helm = (args: readonly string[]): Promise<Run> => run(helmBin(), args);

export interface Manifest {
  apiVersion: string;
  kind: string;
  // labels and annotations may be absent; a test reading one that is absent fails on it
  metadata: { name: string; namespace?: string; labels: Record<string, string>; annotations: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered Kubernetes objects are checked field by field
  [key: string]: any;
}

export interface Rendered {
  manifests: Manifest[];
  one(kind: string, nameSuffix?: string): Manifest;
  all(kind: string): Manifest[];
}

/** `helm template` with values files and --set pairs; throws with helm's message on failure. */
export async function render(
  options: { values?: readonly string[]; set?: Record<string, string>; setJson?: Record<string, unknown> } = {},
): Promise<Rendered> {
  const r = await renderRaw(options);
  if (r.code !== 0) throw new Error(`helm template failed:\n${r.stderr}`);
  return parseManifests(r.stdout);
}

export function renderRaw(
  options: { values?: readonly string[]; set?: Record<string, string>; setJson?: Record<string, unknown> } = {},
): Promise<Run> {
  const args = ['template', 'hoptrace', CHART, '--namespace', 'observability'];
  for (const v of options.values ?? []) args.push('--values', v);
  for (const [k, v] of Object.entries(options.set ?? {})) args.push('--set-string', `${k}=${v}`);
  for (const [k, v] of Object.entries(options.setJson ?? {})) args.push('--set-json', `${k}=${JSON.stringify(v)}`);
  return helm(args);
}

export function parseManifests(text: string): Rendered {
  const manifests: Manifest[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as Manifest | null;
    if (value) manifests.push(value);
  }
  const all = (kind: string) => manifests.filter((m) => m.kind === kind);
  return {
    manifests,
    all,
    one(kind, nameSuffix) {
      const found = all(kind).filter((m) => nameSuffix === undefined || m.metadata.name.endsWith(nameSuffix));
      if (found.length !== 1)
        throw new Error(`expected one ${kind}${nameSuffix ? ` *${nameSuffix}` : ''}, got ${found.length}`);
      return found[0]!;
    },
  };
}

/** The environment the DaemonSet gives the agent: literal values as rendered, downward-API fields as a node would fill them. */
export function podEnv(daemonSet: Manifest): NodeJS.ProcessEnv {
  const downward: Record<string, string> = {
    'spec.nodeName': 'ip-10-0-12-34.eu-west-1.compute.internal',
    'metadata.name': 'hoptrace-x7k2p',
    'metadata.namespace': 'observability',
    'status.hostIP': '10.0.12.34',
  };
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  for (const e of daemonSet.spec.template.spec.containers[0].env as {
    name: string;
    value?: string;
    valueFrom?: { fieldRef?: { fieldPath: string } };
  }[]) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) env[e.name] = downward[e.valueFrom.fieldRef.fieldPath];
    else env[e.name] = `secret-value-of-${e.name.toLowerCase()}-0123456789`;
  }
  return env;
}

/** The ConfigMap holding the agent configuration. */
export function agentConfigMap(r: Rendered): Manifest {
  const found = r.all('ConfigMap').filter((m) => m.data?.['config.yaml'] !== undefined);
  if (found.length !== 1) throw new Error(`expected one ConfigMap with config.yaml, got ${found.length}`);
  return found[0]!;
}

/** Runs `hoptrace check-config` on the ConfigMap's config.yaml with the pod's environment. */
export async function checkRenderedConfig(rendered: Rendered, dir: string): Promise<Run> {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, agentConfigMap(rendered).data['config.yaml']);
  const env = podEnv(rendered.one('DaemonSet'));
  // NODE_OPTIONS sized for the pod's memory limit is fine here too; keep it to prove it parses.
  return run(process.execPath, [HOPTRACE, 'check-config', file], { env });
}
