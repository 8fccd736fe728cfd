// Privacy by construction, proven on the landed bytes: secrets placed where
// proxies and misconfigured formats put them — query strings, userinfo,
// Authorization and Cookie headers, request bodies, referers, basic-auth
// users, junk in X-Forwarded-For — are fed through every access-log format
// the agent reads, by a real agent process in drain mode. None of them may
// appear in the Parquet files it lands (written uncompressed, so a byte
// search is meaningful), nor in what pyarrow reads back; the requests
// themselves must land, and queries must leave only their keyed hash.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import {
  criLines,
  dockerLines,
  type PodFile,
  writePodLog,
} from '../agent/src/sources/container-logs/testdata/fixtures.ts';
import { runPython } from './support/python.ts';
import { tempDir } from './support/tmp.ts';

const C = {
  query: 'CANARYq7Xquery',
  query2: 'CANARYq8Xtoken',
  userinfo: 'CANARYu1Xuserinfo',
  auth: 'CANARYa1Xbearer',
  cookie: 'CANARYc1Xsession',
  body: 'CANARYb1Xbody',
  referer: 'CANARYr1Xreferer',
  user: 'CANARYn1Xuser',
  xff: 'CANARYx1Xforwarded',
  malformed: 'CANARYm1Xmalformed',
} as const;
const ALL = Object.values(C);

const NGINX_CUSTOM =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_authorization" "$http_cookie" "$request_body" $req_id';
const NGINX_TEMPLATE =
  '{"time": "$time_iso8601", "client": "$remote_addr", "rid": "$req_id", "status": $status, "request": "$request", "auth": "$http_authorization", "cookie": "$http_cookie", "body": "$request_body", "referer": "$http_referer"}';
const ENVOY_CUSTOM =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %DURATION% "%REQ(AUTHORIZATION)%" "%REQ(COOKIE)%" "%DYNAMIC_METADATA(envoy.lua:request_body)%" "%REQ(X-FORWARDED-FOR)%" "%REQ(X-REQUEST-ID)%"';

const pod = (namespace: string, container: string, n: number): PodFile => ({
  namespace,
  pod: `${namespace}-pod-${n}`,
  uid: `00000000-0000-4000-8000-00000000000${n}`,
  container,
});

const t = (s: number) => `25/Nov/2026:07:00:${String(s).padStart(2, '0')} +0000`;
const iso = (s: number) => `2026-11-25T07:00:${String(s).padStart(2, '0')}.000Z`;

/** Each entry: where it goes, its lines, and how many are access lines that must land. */
const INPUTS: { pod: PodFile; lines: string[]; rows: number; docker?: boolean }[] = [
  {
    pod: pod('ingress-nginx', 'controller', 1),
    rows: 3,
    lines: [
      `203.0.113.1 - ${C.user} [${t(1)}] "GET /login?password=${C.query}&token=${C.query2} HTTP/1.1" 200 10 "https://shop.example.com/?sid=${C.referer}" "curl/8" 100 0.010 [shop-web-80] [] 10.244.0.5:80 10 0.009 200 rid-n1`,
      `203.0.113.1 - - [${t(2)}] "GET http://admin:${C.userinfo}@shop.example.com/a?q=${C.query} HTTP/1.1" 200 10 "-" "curl/8" 100 0.010 [shop-web-80] [] 10.244.0.5:80 10 0.009 200 rid-n2`,
      `203.0.113.1 - - [${t(3)}] "POST /api?${C.query2} HTTP/1.1" 201 10 "-" "curl/8" 100 0.010 [shop-web-80] [] 10.244.0.5:80 10 0.009 201 rid-n3`,
      `203.0.113.1 - - [${t(4)}] "GET /cut?secret=${C.malformed} HTTP/1.1" 200 10 "-" "cur`,
    ],
  },
  {
    pod: pod('nginx-custom', 'controller', 2),
    rows: 1,
    lines: [
      `203.0.113.2 - ${C.user} [${t(5)}] "GET /x?k=${C.query} HTTP/1.1" 200 5 "-" "curl/8" "Bearer ${C.auth}" "session=${C.cookie}; theme=dark" "{\\x22card\\x22:\\x22${C.body}\\x22}" rid-c1`,
    ],
  },
  {
    pod: pod('nginx-template', 'controller', 3),
    rows: 1,
    docker: true,
    lines: [
      `{"time": "2026-11-25T07:00:06+00:00", "client": "203.0.113.3", "rid": "rid-t1", "status": 200, "request": "GET /t?x=${C.query} HTTP/1.1", "auth": "Basic ${C.auth}", "cookie": "${C.cookie}", "body": "password=${C.body}", "referer": "${C.referer}"}`,
    ],
  },
  {
    pod: pod('nginx-json', 'controller', 4),
    rows: 3,
    lines: [
      // escape=json
      `{"time": "2026-11-25T07:00:07+00:00", "remote_addr": "203.0.113.4", "request_id": "rid-j1", "status": 200, "method": "GET", "request_uri": "/j?a=${C.query}", "authorization": "Bearer ${C.auth}", "http_cookie": "${C.cookie}", "request_body": "{\\"pin\\":\\"${C.body}\\"}", "http_referer": "${C.referer}", "x_forwarded_for": "${C.xff}, 198.51.100.4", "remote_user": "${C.user}"}`,
      // default escaping
      `{"time": "2026-11-25T07:00:08+00:00", "remote_addr": "203.0.113.4", "request_id": "rid-j2", "status": 200, "method": "GET", "path": "/j", "args": "a=${C.query2}", "authorization": "Bearer \\x22${C.auth}\\x22", "request_body": "\\x22${C.body}\\x22", "bytes_sent": -}`,
      // escape=none
      `{"time": "2026-11-25T07:00:09+00:00", "remote_addr": "203.0.113.4", "request_id": "rid-j3", "status": 200, "method": "GET", "request_uri": "/j?b=${C.query}", "cookie": "a="${C.cookie}"", "request_body": "say "${C.body}""}`,
    ],
  },
  {
    pod: pod('bookinfo', 'istio-proxy', 5),
    rows: 2,
    lines: [
      `[${iso(10)}] "GET /reviews?user=${C.query} HTTP/1.1" 200 - via_upstream - "-" 0 10 3 2 "${C.xff}, 198.51.100.5" "curl/8" "rid-e1" "reviews:9080" "10.244.1.1:9080" outbound|9080||reviews.bookinfo.svc.cluster.local 10.244.0.9:40000 10.96.0.9:9080 10.244.0.9:50000 - default`,
      `{"start_time":"${iso(11)}","method":"POST","path":"/pay?card=${C.query2}","protocol":"HTTP/1.1","response_code":200,"duration":4,"request_id":"rid-e2","authority":"pay:80","authorization":"Bearer ${C.auth}","cookie":"${C.cookie}","request_body":"${C.body}","upstream_cluster":"inbound|80||","x_forwarded_for":"${C.xff}"}`,
      `[${iso(12)}] "GET /cut?token=${C.malformed} HTTP/1.1" 200 - via_upstream - "-" 0 10`,
    ],
  },
  {
    pod: pod('envoy-custom', 'istio-proxy', 6),
    rows: 1,
    lines: [
      `[${iso(13)}] "GET /c?k=${C.query} HTTP/2" 200 7 "Bearer ${C.auth}" "id=${C.cookie}" "{\\"ssn\\":\\"${C.body}\\"}" "${C.xff}" "rid-ec1"`,
    ],
  },
];

function writeInputs(dir: string): number {
  let rows = 0;
  for (const input of INPUTS) {
    writePodLog(join(dir, 'pods'), input.pod, input.docker ? dockerLines(input.lines) : criLines(input.lines, 80));
    rows += input.rows;
  }
  return rows;
}

function config(dir: string, queryHashKey: string | undefined): string {
  const path = join(dir, 'hoptrace.yaml');
  writeFileSync(
    path,
    stringify({
      node_name: 'node-privacy',
      spool: { dir: 'spool' },
      store: { type: 'local', dir: 'landing', prefix: 'hoptrace' },
      encode: { compression: 'none' },
      server: { enabled: false },
      log: { level: 'info' },
      heartbeat: { interval: '1h' },
      ...(queryHashKey ? { privacy: { query_hash_key: queryHashKey } } : {}),
      sources: [
        {
          type: 'container-logs',
          include: ['pods/*/*/*.log'],
          start_at: 'beginning',
          parsers: [
            {
              parser: 'ingress-nginx',
              containers: ['controller'],
              namespaces: ['nginx-custom'],
              log_format: NGINX_CUSTOM,
            },
            {
              parser: 'ingress-nginx',
              containers: ['controller'],
              namespaces: ['nginx-template'],
              log_format: NGINX_TEMPLATE,
            },
            { parser: 'ingress-nginx', containers: ['controller'] },
            { parser: 'envoy', containers: ['istio-proxy'], namespaces: ['envoy-custom'], log_format: ENVOY_CUSTOM },
            { parser: 'envoy', containers: ['istio-proxy'] },
          ],
        },
      ],
    }),
  );
  return path;
}

function drain(configPath: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['agent/bin/hoptrace.ts', 'drain', '--config', configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, output }));
  });
}

function parquetFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.parquet')) out.push(p);
    }
  };
  walk(root);
  return out;
}

interface ReadBack {
  rows: number;
  text: string;
  query_hashes: number;
  request_ids: string[];
}

function readBack(root: string): Promise<ReadBack> {
  return runPython<ReadBack>(
    `
import json, os, sys
import pyarrow.parquet as pq
rows, parts, hashes, ids = 0, [], 0, []
for d, _, files in os.walk(sys.argv[1]):
    for f in files:
        if not f.endswith('.parquet'):
            continue
        t = pq.read_table(os.path.join(d, f))
        parts.append(json.dumps(t.to_pylist(), default=str))
        if '/http_requests/' in os.path.join(d, f):
            rows += t.num_rows
            hashes += sum(1 for h in t.column('query_hash').to_pylist() if h)
            ids += t.column('request_id').to_pylist()
print(json.dumps({'rows': rows, 'text': '\\n'.join(parts), 'query_hashes': hashes, 'request_ids': ids}))
`,
    [root],
  );
}

for (const hashing of [false, true]) {
  test(`no secret from any access-log format reaches the landed Parquet (query hashing ${hashing ? 'on' : 'off'})`, async () => {
    const dir = tempDir();
    const expectedRows = writeInputs(dir);
    const run = await drain(config(dir, hashing ? 'privacy-test-key-0123456789' : undefined));
    assert.equal(run.code, 0, run.output);
    const files = parquetFiles(join(dir, 'landing'));
    assert.ok(
      files.some((f) => f.includes('/http_requests/')),
      'requests landed',
    );
    for (const file of files) {
      const bytes = readFileSync(file);
      for (const canary of ALL)
        assert.equal(bytes.indexOf(Buffer.from(canary)), -1, `${canary} found in the bytes of ${file}`);
    }
    const back = await readBack(join(dir, 'landing'));
    for (const canary of ALL) assert.ok(!back.text.includes(canary), `${canary} read back from the Parquet`);
    assert.equal(back.rows, expectedRows, 'every access line landed (nothing passed by being dropped)');
    assert.deepEqual(back.request_ids.sort(), [
      'rid-c1',
      'rid-e1',
      'rid-e2',
      'rid-ec1',
      'rid-j1',
      'rid-j2',
      'rid-j3',
      'rid-n1',
      'rid-n2',
      'rid-n3',
      'rid-t1',
    ]);
    // Every request here had a query: with a key it leaves a hash, without one nothing.
    assert.equal(back.query_hashes, hashing ? expectedRows : 0);
    // Malformed lines are counted and sampled in the log, without their query strings.
    assert.match(run.output, /malformed access line dropped/);
    assert.ok(!run.output.includes(C.malformed), 'the logged sample has no query string');
  });
}
