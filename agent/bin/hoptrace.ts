#!/usr/bin/env node
// hoptrace — the node agent's command line.
//   hoptrace run --config FILE          run until SIGTERM/SIGINT, then drain within the grace period
//   hoptrace drain --config FILE        process bounded inputs to their end, land everything, exit 0
//   hoptrace schema [--table T] [--format md|json]   print the record contract
//   hoptrace check-config FILE          validate a configuration file
//   hoptrace backfill --from T --to T   re-finalize a past range through the lakehouse backfill job
//   hoptrace status [--url URL]         an agent's state from its metrics endpoint
import { parseArgs } from 'node:util';
import { UsageError } from '../src/cli/usage.ts';
import { ConfigError, loadConfig } from '../src/config/load.ts';
import { CONTRACT_FINGERPRINT, SCHEMA_VERSION, TABLES, type TableName } from '../src/contract/generated.ts';
import { AGENT_VERSION } from '../src/ops/metrics.ts';

const USAGE = `usage:
  hoptrace run --config FILE
  hoptrace drain --config FILE [--summary-json]
  hoptrace schema [--table NAME] [--format md|json]
  hoptrace check-config FILE
  hoptrace backfill --from TIME --to TIME [--source silver|bronze] [--job-name NAME] [--dry-run] [--json]
  hoptrace status [--url http://127.0.0.1:9464] [--json]
  hoptrace version`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  // Operations commands take their own options (agent/src/cli/, loaded only when used).
  if (command === 'backfill') return (await import('../src/cli/backfill.ts')).backfill(rest);
  if (command === 'status') return (await import('../src/cli/status.ts')).status(rest);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      table: { type: 'string' },
      format: { type: 'string', default: 'md' },
      'summary-json': { type: 'boolean', default: false },
    },
  });
  switch (command) {
    case 'run':
    case 'drain': {
      if (!values.config) throw new UsageError(`${command} needs --config FILE`);
      // Loaded here, not at the top: status, backfill and schema need none of the agent.
      const { Agent } = await import('../src/agent.ts');
      const agent = new Agent(loadConfig(values.config));
      await agent.start(command === 'run' ? 'follow' : 'drain');
      if (command === 'drain') {
        const summary = await agent.drain();
        if (values['summary-json']) process.stdout.write(`${JSON.stringify(summary)}\n`);
        return 0;
      }
      await new Promise<void>((resolve) => {
        const onSignal = (signal: string) => {
          agent.logger.info({ signal }, 'shutting down');
          resolve();
        };
        process.once('SIGTERM', onSignal);
        process.once('SIGINT', onSignal);
      });
      await agent.stop();
      return 0;
    }
    case 'schema': {
      const names = values.table ? [values.table] : Object.keys(TABLES);
      for (const name of names) if (!(name in TABLES)) throw new UsageError(`unknown table '${name}'`);
      if (values.format === 'json') {
        const out = {
          schema_version: SCHEMA_VERSION,
          fingerprint: CONTRACT_FINGERPRINT,
          tables: names.map((n) => TABLES[n as TableName]),
        };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      } else {
        for (const name of names) {
          const t = TABLES[name as TableName];
          process.stdout.write(`${t.name} (schema v${SCHEMA_VERSION}) — ${t.doc}\n`);
          for (const c of t.columns)
            process.stdout.write(
              `  ${c.name.padEnd(28)} ${c.type.kind.padEnd(9)} ${c.nullable ? 'null' : '    '}  ${c.doc}\n`,
            );
          process.stdout.write('\n');
        }
      }
      return 0;
    }
    case 'check-config': {
      const file = positionals[0] ?? values.config;
      if (!file) throw new UsageError('check-config needs a FILE');
      const config = loadConfig(file);
      process.stdout.write(
        `${file}: ok (node ${config.node_name}, store ${config.store.type}, ${config.sources.length} source(s))\n`,
      );
      return 0;
    }
    case 'version':
      process.stdout.write(
        `hoptrace ${AGENT_VERSION} (contract v${SCHEMA_VERSION} ${CONTRACT_FINGERPRINT}, node ${process.version})\n`,
      );
      return 0;
    default:
      throw new UsageError(command ? `unknown command '${command}'` : 'no command given');
  }
}

// `hoptrace schema | head` closes the pipe early; that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`hoptrace: ${(err as Error).message}\n${USAGE}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`hoptrace: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
  },
);
