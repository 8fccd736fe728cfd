// Reads, expands and validates the configuration file. Every problem is
// reported with the key it concerns, all at once, before the agent starts.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { type AgentConfig, configSchema } from './schema.ts';

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(file: string, problems: readonly string[]) {
    super(`invalid configuration ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** `${env:NAME}` and `${env:NAME:-default}` in string values, like the OpenTelemetry Collector. */
function expandEnv(value: unknown, env: NodeJS.ProcessEnv, missing: Set<string>): unknown {
  if (typeof value === 'string')
    return value.replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback?: string) => {
      const v = env[name] ?? fallback;
      if (v === undefined) missing.add(name);
      return v ?? '';
    });
  if (Array.isArray(value)) return value.map((v) => expandEnv(v, env, missing));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, env, missing)]));
  return value;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const key = issue.path.length ? issue.path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') return `${key}: unknown key(s) ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
  return `${key}: ${issue.message}`;
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(file, [`not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(file, ['the file must hold a YAML mapping']);
  const missing = new Set<string>();
  const expanded = expandEnv(raw, env, missing);
  const problems = [...missing].map((name) => `environment variable ${name} is referenced but not set`);
  const result = configSchema.safeParse(expanded);
  if (!result.success) problems.push(...result.error.issues.map(describeIssue));
  if (problems.length || !result.success) throw new ConfigError(file, problems);
  const nodeName = result.data.node_name ?? env.HOPTRACE_NODE_NAME ?? env.NODE_NAME;
  if (!nodeName)
    throw new ConfigError(file, [
      'node_name: not set and neither HOPTRACE_NODE_NAME nor NODE_NAME is in the environment',
    ]);
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(nodeName))
    throw new ConfigError(file, [`node_name: '${nodeName}' is not a Kubernetes node name`]);
  const config = { ...result.data, node_name: nodeName };
  // Relative paths are relative to the config file, so a config is portable.
  const base = dirname(resolve(file));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  config.spool = { ...config.spool, dir: abs(config.spool.dir) };
  if (config.store.type === 'local') config.store = { ...config.store, dir: abs(config.store.dir) };
  config.sources = config.sources.map((s) => (s.type === 'replay' ? { ...s, paths: s.paths.map(abs) } : s));
  config.sources = config.sources.map((s) => (s.type === 'container-logs' ? { ...s, include: s.include.map(abs) } : s));
  return config;
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as Error).message}`]);
  }
  return parseConfig(text, file, env);
}
