// The container image recipe, without a Docker engine: hadolint lints docker/Dockerfile, and
// the Dockerfile's own steps — ARG, FROM, WORKDIR, COPY (through the build context filter),
// RUN, ENV, ENTRYPOINT, CMD — are executed on the same files in a temporary tree standing in for
// each stage's filesystem. The agent in the resulting tree must run from the image's
// ENTRYPOINT with production dependencies only.
import assert from 'node:assert/strict';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import { hadolintBin, ROOT, run } from './support.ts';

const DOCKERFILE = join(ROOT, 'docker/Dockerfile');
const IGNORE = join(ROOT, 'docker/Dockerfile.dockerignore');
const work = mkdtempSync(join(tmpdir(), 'hoptrace-image-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Dockerfile instructions: comments dropped, backslash continuations joined. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      i++;
      if (/^\s*#/.test(lines[i]!)) continue;
      line = `${line.replace(/\\\s*$/, '')} ${lines[i]}`;
    }
    const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile line ${start + 1}: cannot parse '${line}'`);
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start + 1 });
  }
  return out;
}

/** Docker's context filter: the last matching pattern wins; a pattern matching a parent directory matches its files. */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = (negate ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
      let re = '';
      for (let i = 0; i < pattern.length; i++) {
        const ch = pattern[i]!;
        if (ch === '*' && pattern[i + 1] === '*') {
          re += '.*';
          i++;
          if (pattern[i + 1] === '/') i++;
        } else if (ch === '*') re += '[^/]*';
        else if (ch === '?') re += '[^/]';
        else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { negate, re: new RegExp(`^${re}(/.*)?$`) };
    });
  return (path) => {
    let excluded = false;
    for (const r of rules) if (r.re.test(path)) excluded = !r.negate;
    return excluded;
  };
}

function expand(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, a?: string, b?: string) => {
    const v = vars[(a ?? b)!];
    return v ?? m;
  });
}

interface Stage {
  name: string;
  image: string;
  root: string;
  workdir: string;
  env: Record<string, string>;
  entrypoint?: string[];
  cmd?: string[];
  user?: string;
  labels: Record<string, string>;
}

// Like Docker, directories are walked even when excluded (an exception may re-include files in
// them); each file is then kept or dropped by the last pattern that matches it.
function copyFiltered(src: string, dest: string, excluded: (rel: string) => boolean, rel: string): number {
  const st = statSync(src);
  if (st.isDirectory()) {
    let n = 0;
    for (const entry of readdirSync(src))
      n += copyFiltered(join(src, entry), join(dest, entry), excluded, `${rel}/${entry}`);
    return n;
  }
  if (excluded(rel)) return 0;
  mkdirSync(dirname(dest), { recursive: true });
  cpSync(src, dest);
  return 1;
}

/** Builds the image tree stage by stage; returns the stages (the last is the image). */
async function build(): Promise<Stage[]> {
  const instructions = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
  const excluded = dockerignore(readFileSync(IGNORE, 'utf8'));
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  let args: Record<string, string> = {};
  const nodeDir = dirname(process.execPath);
  for (const ins of instructions) {
    const stage = stages.at(-1);
    const at = `Dockerfile line ${ins.line}`;
    switch (ins.op) {
      case 'ARG': {
        const [name, value = ''] = ins.args.split(/=(.*)/s);
        if (stage) args[name!] = expand(value, { ...globalArgs, ...args });
        else globalArgs[name!] = value;
        break;
      }
      case 'FROM': {
        const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
        assert.ok(m, `${at}: FROM`);
        const image = expand(m[1]!, globalArgs);
        const root = join(work, `stage${stages.length}`);
        mkdirSync(root, { recursive: true });
        stages.push({ name: m[2] ?? String(stages.length), image, root, workdir: '/', env: {}, labels: {} });
        args = {};
        break;
      }
      case 'WORKDIR':
        assert.ok(stage && isAbsolute(ins.args), `${at}: absolute WORKDIR`);
        stage.workdir = ins.args;
        mkdirSync(join(stage.root, ins.args), { recursive: true });
        break;
      case 'ENV': {
        assert.ok(stage);
        const [name, value] = ins.args.split(/=(.*)/s);
        stage.env[name!] = value!;
        break;
      }
      case 'COPY': {
        assert.ok(stage);
        const words = ins.args.split(/\s+/);
        const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
        const paths = words.filter((w) => !w.startsWith('--'));
        const dest = paths.pop()!;
        const destAbs = join(stage.root, isAbsolute(dest) ? dest : join(stage.workdir, dest));
        for (const src of paths) {
          if (from) {
            const source = stages.find((s) => s.name === from);
            assert.ok(source, `${at}: no stage ${from}`);
            cpSync(join(source.root, src), destAbs, { recursive: true });
          } else {
            const rel = src.replace(/\/+$/, '');
            assert.ok(!isAbsolute(rel) && !rel.startsWith('..'), `${at}: ${src} is outside the context`);
            const target = dest.endsWith('/') && !src.endsWith('/') ? join(destAbs, rel.split('/').pop()!) : destAbs;
            const copied = copyFiltered(join(ROOT, rel), target, excluded, rel);
            assert.ok(copied > 0, `${at}: COPY ${src} copies nothing (filtered out by the .dockerignore?)`);
          }
        }
        break;
      }
      case 'RUN': {
        assert.ok(stage);
        assert.ok(!/(^|\s)\/(app|usr|etc|nodejs)\b/.test(ins.args), `${at}: RUN uses relative paths only`);
        const r = await run('/bin/sh', ['-ec', ins.args], {
          cwd: join(stage.root, stage.workdir),
          env: {
            ...process.env,
            ...args,
            ...stage.env,
            PATH: `${nodeDir}:/usr/bin:/bin`,
            npm_config_update_notifier: 'false',
          },
        });
        assert.equal(r.code, 0, `${at}: RUN ${ins.args}\n${r.stdout}\n${r.stderr}`);
        break;
      }
      case 'LABEL': {
        assert.ok(stage);
        for (const m of ins.args.matchAll(/([\w.-]+)="([^"]*)"/g))
          stage.labels[m[1]!] = expand(m[2]!, { ...globalArgs, ...args });
        break;
      }
      case 'USER':
        assert.ok(stage);
        stage.user = ins.args;
        break;
      case 'ENTRYPOINT':
      case 'CMD':
        assert.ok(stage);
        stage[ins.op === 'CMD' ? 'cmd' : 'entrypoint'] = JSON.parse(ins.args) as string[];
        break;
      case 'EXPOSE':
        break;
      default:
        throw new Error(`${at}: ${ins.op} is not understood by this test; teach it before using it`);
    }
  }
  return stages;
}

let built: Promise<Stage[]> | undefined;
const image = () => {
  built ??= build();
  return built;
};

/** Runs the image's ENTRYPOINT with the given arguments, the distroless node standing in for /nodejs/bin/node. */
async function runImage(stages: Stage[], cmdArgs: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const final = stages.at(-1)!;
  const [exe, ...entry] = final.entrypoint!;
  assert.equal(exe, '/nodejs/bin/node', 'the distroless Node binary');
  const mapped = entry.map((a) => (a.startsWith('/') ? join(final.root, a) : a));
  return run(process.execPath, [...mapped, ...cmdArgs], {
    cwd: join(final.root, final.workdir),
    env: { PATH: process.env.PATH, ...final.env, ...env },
  });
}

test('hadolint finds nothing in docker/Dockerfile, and does flag a bad one', async () => {
  const r = await run(hadolintBin(), ['--no-color', DOCKERFILE]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const bad = join(work, 'Dockerfile.bad');
  writeFileSync(bad, 'FROM node:latest\nRUN cd /app && npm install\n');
  const b = await run(hadolintBin(), ['--no-color', bad]);
  assert.notEqual(b.code, 0);
  assert.match(b.stdout, /DL3007|DL3003/);
});

test('the build context filter keeps the agent and drops tests, fixtures and everything else', () => {
  const excluded = dockerignore(readFileSync(IGNORE, 'utf8'));
  for (const kept of [
    'package.json',
    'package-lock.json',
    'agent/bin/hoptrace.ts',
    'agent/src/agent.ts',
    'proto/hoptrace/v1/flows.proto',
  ])
    assert.equal(excluded(kept), false, kept);
  for (const dropped of [
    'node_modules/yaml/package.json',
    '.tools/bin/helm',
    'test/config.test.ts',
    'agent/src/privacy/privacy.test.ts',
    'agent/src/sources/x/testdata/a.log',
    'lakehouse/databricks.yml',
    '.git/HEAD',
  ])
    assert.equal(excluded(dropped), true, dropped);
});

test('the Dockerfile builds: the agent runs from the ENTRYPOINT with production dependencies only', async () => {
  const stages = await image();
  assert.equal(stages.length, 2, 'a build stage and a runtime stage');
  const [buildStage, final] = stages as [Stage, Stage];

  // The build stage's Node is the toolchain's (Makefile NODE_VERSION); the runtime is the same major.
  const makefile = readFileSync(join(ROOT, 'Makefile'), 'utf8');
  const nodeVersion = /^NODE_VERSION := (\S+)$/m.exec(makefile)?.[1];
  assert.equal(`v${nodeVersion}`, process.version, 'tests run on the toolchain Node');
  assert.match(buildStage.image, new RegExp(`^node:${nodeVersion!.replaceAll('.', '\\.')}-`));
  assert.match(final.image, new RegExp(`^gcr\\.io/distroless/nodejs${process.versions.node.split('.')[0]}-`));
  assert.match(final.user ?? '', /^[1-9][0-9]*(:[0-9]+)?$/, 'non-root by default');
  assert.equal(final.labels['org.opencontainers.image.version'], '0.1.0');
  assert.deepEqual(final.cmd, ['run', '--config', '/etc/hoptrace/config.yaml']);

  // Production dependencies only, no tests, the contract protos present.
  const app = join(final.root, final.workdir);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  for (const dep of Object.keys(pkg.dependencies)) assert.ok(existsSync(join(app, 'node_modules', dep)), dep);
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  const devOnly = Object.entries(lock.packages).filter(([path, p]) => path && p.dev);
  assert.ok(devOnly.length > 0);
  for (const [path] of devOnly) assert.ok(!existsSync(join(app, path)), `${path} is needed only for development`);
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
      d.isDirectory() ? files(join(dir, d.name)) : [relative(app, join(dir, d.name))],
    );
  const agentFiles = files(join(app, 'agent'));
  assert.ok(agentFiles.includes('agent/bin/hoptrace.ts'));
  assert.deepEqual(
    agentFiles.filter((f) => f.endsWith('.test.ts')),
    [],
  );
  assert.ok(existsSync(join(app, 'proto')));

  const v = await runImage(stages, ['version']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^hoptrace 0\.1\.0 \(contract v\d+ [0-9a-f]+, node v24\./);
});

test('the image tree runs the whole pipeline: drain lands Parquet from the demo input, with a push source', async () => {
  const stages = await image();
  const dir = join(work, 'demo');
  mkdirSync(dir, { recursive: true });
  cpSync(join(ROOT, 'examples/demo/records.ndjson'), join(dir, 'records.ndjson'));
  writeFileSync(
    join(dir, 'hoptrace.yaml'),
    stringify({
      spool: { dir: 'spool' },
      store: { type: 'local', dir: 'landing', prefix: 'hoptrace' },
      server: { enabled: false },
      log: { level: 'warn' },
      sources: [
        { type: 'replay', name: 'demo', paths: ['records.ndjson'] },
        // Started and stopped by drain: loads the OTLP protos the image ships under proto/.
        { type: 'otlp', grpc: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } },
      ],
    }),
  );
  const r = await runImage(stages, ['drain', '--config', join(dir, 'hoptrace.yaml'), '--summary-json'], {
    NODE_NAME: 'image-test-node',
  });
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { tables: { table: string; records: number; files: number }[] };
  assert.ok(
    summary.tables.some((t) => t.records > 0 && t.files > 0),
    r.stdout,
  );
  const landed = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? landed(join(d, e.name)) : e.name.endsWith('.parquet') ? [e.name] : [],
    );
  assert.ok(landed(join(dir, 'landing')).length > 0);
});
