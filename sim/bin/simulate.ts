#!/usr/bin/env node
// hoptrace cluster simulator: writes, per simulated node, what that node's
// agent would see, plus the cluster's API objects over time and the ground
// truth of every request. See sim/README.md.
import { parseArgs } from 'node:util';
import {
  DEFAULT_START,
  DEFAULTS,
  FAULT_MEANING,
  FAULTS,
  makeConfig,
  parseDurationS,
  parseFaults,
  type SimConfig,
} from '../src/config.ts';
import { simulate } from '../src/simulate.ts';

const USAGE = `usage: node sim/bin/simulate.ts --out DIR [options]

  --seed N             PRNG seed (default ${DEFAULTS.seed}); the same options write the same bytes
  --nodes N            nodes (default ${DEFAULTS.nodes}, 2..250)
  --duration D         simulated traffic time: 90s, 5m, 1h (default ${DEFAULTS.durationS}s)
  --rate R             external requests per second, cluster-wide (default ${DEFAULTS.rate})
  --start T            start of simulated time, RFC 3339, or 'now' (default ${DEFAULT_START})
  --cni C              cilium (Hubble export file) or calico (flow logs) (default ${DEFAULTS.cni})
  --routing M          kube-proxy or ebpf (Cilium socket-LB) (default ${DEFAULTS.routing})
  --faults LIST        comma-separated fault=rate, a bare fault name for its default rate,
                       'all' or 'none' (default none). Faults:
${FAULTS.map((f) => `                         ${f.padEnd(12)} ${FAULT_MEANING[f]}`).join('\n')}
  --sidecar-share X    share of workloads with an Istio sidecar (default ${DEFAULTS.sidecarShare})
  --tracing-share X    share of workloads sending OTLP spans (default ${DEFAULTS.tracingShare})
  --log-max-size B     kubelet containerLogMaxSize in bytes (default ${DEFAULTS.logMaxBytes})
  --out DIR            output directory (replaced)
`;

function main(argv: string[]): number {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        seed: { type: 'string' },
        nodes: { type: 'string' },
        duration: { type: 'string' },
        rate: { type: 'string' },
        start: { type: 'string' },
        cni: { type: 'string' },
        routing: { type: 'string' },
        faults: { type: 'string' },
        'sidecar-share': { type: 'string' },
        'tracing-share': { type: 'string' },
        'log-max-size': { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (typeof values.out !== 'string') {
    process.stderr.write(`--out is required\n\n${USAGE}`);
    return 2;
  }
  let cfg: SimConfig;
  try {
    const num = (k: string) => (typeof values[k] === 'string' ? Number(values[k]) : undefined);
    const o: Record<string, unknown> = {};
    if (values.seed !== undefined) o.seed = num('seed');
    if (values.nodes !== undefined) o.nodes = num('nodes');
    if (typeof values.duration === 'string') o.durationS = parseDurationS(values.duration);
    if (values.rate !== undefined) o.rate = num('rate');
    if (typeof values.start === 'string') {
      const ms = values.start === 'now' ? Math.ceil(Date.now() / 1000) * 1000 : Date.parse(values.start);
      if (Number.isNaN(ms)) throw new Error(`--start '${values.start}' is not an RFC 3339 time`);
      o.startUs = ms * 1000;
    }
    if (values.cni !== undefined) o.cni = values.cni;
    if (values.routing !== undefined) o.routing = values.routing;
    if (typeof values.faults === 'string') o.faults = parseFaults(values.faults);
    if (values['sidecar-share'] !== undefined) o.sidecarShare = num('sidecar-share');
    if (values['tracing-share'] !== undefined) o.tracingShare = num('tracing-share');
    if (values['log-max-size'] !== undefined) o.logMaxBytes = num('log-max-size');
    cfg = makeConfig(o as Partial<SimConfig>);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const m = simulate(cfg, values.out);
  const c = m.counts;
  process.stdout.write(
    `simulated ${m.nodes.length} nodes, ${c.pods} pods, ${c.requests} requests (${c.downstream_calls} downstream calls, ` +
      `${c.retried_requests} retried) from ${m.start} to ${m.end}\n` +
      `wrote ${Object.keys(m.files).length} files to ${values.out} (truth.jsonl, manifest.json, cluster/, nodes/${m.faults.late.length ? ', late/' : ''}${m.faults.drift.length ? ', drift/' : ''})\n`,
  );
  return 0;
}

process.exitCode = main(process.argv.slice(2));
