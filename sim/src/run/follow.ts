// Runs the lakehouse locally alongside a cluster run (`lakehouse_follow.py`):
// streaming passes while the agents land, then the finalizer and the
// data-quality checks once told to stop. Reads back what it wrote.
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { type LakehouseOutput, type Row, readDumpedTable, readLakehouseOutput } from './score.ts';

const REPO = resolve(import.meta.dirname, '..', '..', '..');

export interface TableSize {
  readonly rows: number;
  readonly files: number;
  readonly bytes: number;
}

export interface FollowOutput extends LakehouseOutput {
  /** Per provisional path, the first pass that produced it (`computed_at`). */
  readonly firstSeen: Row[];
  readonly windows: Row[];
  readonly tableSizes: Record<string, TableSize>;
}

export interface PassEvent {
  readonly event: 'ready' | 'pass' | 'final';
  readonly pass?: number;
  readonly seconds?: number;
  readonly new_paths?: number;
  readonly paths?: number;
}

export interface Follower {
  /** Ends the passes, finalizes as of `asOf`, and resolves with what the lakehouse holds. */
  finish(asOf: string): Promise<FollowOutput>;
  /** Kills the process (on an error elsewhere). */
  kill(): void;
}

/**
 * Starts the local lakehouse over `landing` (the store's directory, holding `hoptrace/v1/…`).
 * The finalizer's as-of instant is only known at the end, so it is passed to the process then.
 */
export function followLakehouse(
  landing: string,
  warehouse: string,
  outDir: string,
  onEvent: (e: PassEvent) => void,
): Follower {
  mkdirSync(outDir, { recursive: true });
  const stop = join(outDir, 'STOP');
  const asOfFile = join(outDir, 'AS_OF');
  rmSync(stop, { force: true });
  const python = process.env.HOPTRACE_PYTHON ?? join(REPO, '.venv', 'bin', 'python');
  const child = spawn(
    python,
    [
      join(import.meta.dirname, 'lakehouse_follow.py'),
      join(landing, 'hoptrace'),
      warehouse,
      asOfFile,
      outDir,
      stop,
      // Where the cluster runner puts the load balancers' access logs, if it does.
      join(landing, 'alb'),
    ],
    {
      env: { ...process.env, PYTHONPATH: join(REPO, 'lakehouse', 'src') },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  // Spark's log and any Python traceback, whole: a failing query's plan runs to many kilobytes.
  const log = join(outDir, 'lakehouse.log');
  writeFileSync(log, '');
  child.stderr!.on('data', (d: Buffer) => appendFileSync(log, d));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      onEvent(JSON.parse(line) as PassEvent);
    } catch {
      // Spark or Python printed something else to stdout: not an event.
    }
  });
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    async finish(asOf) {
      writeFileSync(asOfFile, asOf);
      writeFileSync(stop, '');
      const code = await exit;
      if (code !== 0) {
        const errors = readFileSync(log, 'utf8')
          .split('\n')
          .filter((l) => /^\S*(Error|Exception)\b|^\S+\.(\w+Error|\w+Exception): /.test(l))
          .slice(-5);
        throw new Error(`the local lakehouse failed (exit ${code}); its log is ${log}:\n${errors.join('\n')}`);
      }
      const sizes = join(outDir, 'table_sizes.json');
      return {
        ...readLakehouseOutput(outDir),
        firstSeen: readDumpedTable(outDir, 'provisional_first_seen'),
        windows: readDumpedTable(outDir, 'ops.finalized_windows'),
        tableSizes: existsSync(sizes) ? (JSON.parse(readFileSync(sizes, 'utf8')) as Record<string, TableSize>) : {},
      };
    },
    kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
