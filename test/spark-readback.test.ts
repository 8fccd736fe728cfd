// The agent's Parquet read by real Spark (PySpark, local): Spark's own schema
// inference over the landed files must equal the contract's generated Spark
// schema, type for type — a TIMESTAMP_NTZ, an unsigned int or a mis-shaped
// list or map would show here before it reaches Databricks.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { runPython } from './support/python.ts';
import { tempDir } from './support/tmp.ts';

const SPARK_CHECK = `
import json, os, sys
from pyspark.sql import SparkSession
from pyspark.sql.types import StructType
landing, contract_dir = sys.argv[1], sys.argv[2]
spark = (SparkSession.builder.master("local[1]").appName("hoptrace-agent-readback")
         .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
         .config("spark.sql.shuffle.partitions", "1").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")

def shape(dt):
    # Types only: Parquet cannot carry Spark's nullability of nested fields or comments.
    j = dt.jsonValue()
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in ("nullable", "metadata", "containsNull", "valueContainsNull")}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x
    return strip(j)

out = {}
for table in sorted(os.listdir(os.path.join(landing, "hoptrace", "v1"))):
    path = os.path.join(landing, "hoptrace", "v1", table)
    contract = StructType.fromJson(json.load(open(os.path.join(contract_dir, table + ".json"))))
    inferred = spark.read.option("recursiveFileLookup", "true").parquet(path).schema
    with_contract = spark.read.schema(contract).option("recursiveFileLookup", "true").parquet(path)
    first = with_contract.orderBy("event_time").first().asDict(recursive=True)
    out[table] = {
        "same_types": shape(inferred) == shape(contract),
        "inferred": [f.name + ":" + f.dataType.simpleString() for f in inferred.fields],
        "contract": [f.name + ":" + f.dataType.simpleString() for f in contract.fields],
        "rows": with_contract.count(),
        "first": {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in first.items()},
    }
spark.stop()
print(json.dumps(out, default=str))
`;

interface TableCheck {
  same_types: boolean;
  inferred: string[];
  contract: string[];
  rows: number;
  first: Record<string, unknown>;
}

test('Spark infers exactly the contract schema from the agent Parquet of every table', {
  timeout: 240_000,
}, async () => {
  const out = tempDir();
  execFileSync(process.execPath, ['scripts/demo-replay.ts'], {
    env: { ...process.env, HOPTRACE_DEMO_OUT: out },
    stdio: 'ignore',
  });
  const result = await runPython<Record<string, TableCheck>>(SPARK_CHECK, [
    join(out, 'landing'),
    'lakehouse/src/hoptrace_lakehouse/contract',
  ]);
  assert.deepEqual(Object.keys(result).sort(), [
    'agent_heartbeats',
    'flows',
    'http_requests',
    'k8s_events',
    'k8s_objects',
    'spans',
  ]);
  for (const [table, check] of Object.entries(result)) {
    assert.deepEqual(check.inferred, check.contract, `${table}: Spark's inferred types differ from the contract`);
    assert.equal(check.same_types, true, `${table}: nested types differ`);
  }
  assert.equal(result.http_requests!.rows, 6);
  assert.equal(result.k8s_objects!.rows, 4);
  // Timestamps are instants (TIMESTAMP, not TIMESTAMP_NTZ) with their microseconds.
  assert.equal(result.flows!.first.event_time, '2026-11-25T07:00:01.103412'); // session time zone UTC
  assert.equal(result.k8s_objects!.first.kind, 'Pod');
});
