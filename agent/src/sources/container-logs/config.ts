// Configuration of the container-logs source: which container log files to
// follow (kubelet layout, globs and name filters), how they are framed, and
// which access-log parser reads which container.
import { z } from 'zod';
import { tailOptionsShape } from '../tail/config.ts';
import { EnvoyParser } from './parsers/envoy.ts';
import { NginxParser } from './parsers/nginx.ts';

const globs = (fallback: string[], description: string) =>
  z.array(z.string().min(1)).default(fallback).describe(description);

export const ROLES = ['auto', 'ingress', 'gateway', 'sidecar_inbound', 'sidecar_outbound'] as const;

const parserRule = z
  .object({
    parser: z.enum(['ingress-nginx', 'envoy']).describe('Access-log parser for the matching containers.'),
    containers: z.array(z.string().min(1)).min(1).describe('Container names (globs) this rule applies to.'),
    namespaces: globs(['*'], 'Namespaces (globs) this rule applies to.'),
    pods: globs(['*'], 'Pod names (globs) this rule applies to.'),
    log_format: z
      .string()
      .min(1)
      .optional()
      .describe(
        "The proxy's access-log format when customised: an nginx `log-format-upstream` (text, or a JSON template) or an Envoy format string (text, or a JSON format object as JSON text). Unset: the built-in formats are recognised.",
      ),
    role: z
      .enum(ROLES)
      .default('auto')
      .describe(
        'Role written to the rows. auto: ingress-nginx is ingress; Envoy is gateway for gateway_pods, else sidecar_inbound or sidecar_outbound from the cluster name (inbound|… / outbound|…), else unknown.',
      ),
    gateway_pods: globs(
      ['*ingressgateway*', '*egressgateway*'],
      'Pods (globs) whose Envoy is a gateway, for role auto.',
    ),
  })
  .strict();

export type ParserRuleConfig = z.output<typeof parserRule>;

const DEFAULT_PARSERS: z.input<typeof parserRule>[] = [
  { parser: 'ingress-nginx', containers: ['controller', 'nginx-ingress-controller', '*ingress-nginx*'] },
  { parser: 'envoy', containers: ['envoy'], namespaces: ['envoy-gateway-system'], role: 'gateway' },
  { parser: 'envoy', containers: ['istio-proxy', 'envoy', 'istio-ingressgateway', 'istio-egressgateway'] },
];

export const containerLogsSourceSchema = z
  .object({
    type: z.literal('container-logs'),
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]*$/)
      .default('container-logs')
      .describe('Source name (metrics, checkpoints, the source column).'),
    include: globs(
      ['/var/log/pods/*/*/*.log', '/var/log/pods/*/*/*.log.*'],
      'Files to follow (globs). The kubelet layout /var/log/pods/<ns>_<pod>_<uid>/<container>/<n>.log and the /var/log/containers/<pod>_<ns>_<container>-<id>.log links give the pod metadata; the second default pattern finds files the kubelet rotated. Relative patterns are relative to the configuration file.',
    ),
    exclude: globs(['**/*.gz', '**/*.tmp'], 'Files never followed (globs), e.g. compressed rotations.'),
    namespaces: globs([], 'Namespaces to read (globs); empty: all.'),
    exclude_namespaces: globs([], 'Namespaces never read (globs).'),
    pods: globs([], 'Pods to read (globs); empty: all.'),
    exclude_pods: globs([], 'Pods never read (globs).'),
    containers: globs([], 'Containers to read (globs); empty: all that a parser rule matches.'),
    exclude_containers: globs([], 'Containers never read (globs).'),
    format: z
      .enum(['auto', 'cri', 'docker'])
      .default('auto')
      .describe('Framing of the files: CRI (containerd, CRI-O), Docker json-file, or auto (decided per file).'),
    parsers: z
      .array(parserRule)
      .min(1)
      .prefault(DEFAULT_PARSERS)
      .describe(
        'Which parser reads which container; the first matching rule wins and containers no rule matches are not read. Default: ingress-nginx for controller containers, Envoy for istio-proxy and envoy containers.',
      ),
    log_malformed_samples: z
      .boolean()
      .default(true)
      .describe(
        'Log a bounded sample of unparseable access lines (cut, query strings removed). Turn off if a custom format logs header values.',
      ),
    ...tailOptionsShape,
  })
  .strict()
  .superRefine((s, ctx) => {
    s.parsers.forEach((rule, i) => {
      if (!rule.log_format) return;
      try {
        if (rule.parser === 'ingress-nginx') new NginxParser(rule.log_format);
        else new EnvoyParser(rule.log_format);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['parsers', i, 'log_format'], message: (err as Error).message });
      }
    });
  });

export type ContainerLogsConfig = z.output<typeof containerLogsSourceSchema>;
