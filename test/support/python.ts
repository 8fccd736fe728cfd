// Runs a Python snippet in the project's environment (.venv) and returns what
// it printed as JSON: how tests let pyarrow (and later Spark) judge the files
// the agent wrote.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const python = process.env.HOPTRACE_PYTHON ?? resolve('.venv/bin/python');

export function runPython<T = unknown>(code: string, args: readonly string[] = []): Promise<T> {
  if (!existsSync(python)) throw new Error(`no Python environment at ${python}: run 'make pyenv'`);
  return new Promise((resolvePromise, reject) => {
    execFile(python, ['-c', code, ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`python failed: ${err.message}\n${stderr}`));
      else resolvePromise(JSON.parse(stdout) as T);
    });
  });
}
