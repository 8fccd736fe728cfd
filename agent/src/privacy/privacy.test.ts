import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAmznTraceId, parseB3, parseTraceparent, traceIdsFromHeaders } from './trace-context.ts';
import { QueryHasher, splitTarget } from './url.ts';

test('splitTarget keeps the path only', () => {
  assert.deepEqual(splitTarget('/a/b?token=s3cr3t#frag'), { path: '/a/b', hadQuery: true, query: 'token=s3cr3t' });
  assert.deepEqual(splitTarget('/plain'), { path: '/plain', hadQuery: false, query: undefined });
  assert.equal(splitTarget('https://user:pw@shop.example.com:8443/cart?x=1').path, '/cart');
  assert.equal(splitTarget('http://host?x=1').path, '/');
  assert.equal(splitTarget('http://host').path, '/');
  assert.equal(splitTarget('*').path, '*');
});

test('query hashing is keyed, stable and off without a key', () => {
  const h = new QueryHasher('k1');
  assert.equal(h.hash('a=1'), h.hash('a=1'));
  assert.notEqual(h.hash('a=1'), new QueryHasher('k2').hash('a=1'));
  assert.match(h.hash('a=1')!, /^[0-9a-f]{32}$/);
  assert.equal(h.hash(''), undefined);
  assert.equal(new QueryHasher(undefined).hash('a=1'), undefined);
});

test('trace context parsing validates and normalises ids', () => {
  assert.deepEqual(parseTraceparent('00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01'), {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
  });
  assert.deepEqual(parseTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01'), {});
  assert.deepEqual(parseTraceparent('garbage'), {});
  assert.deepEqual(parseB3('80f198ee56343ba8-e457b5a2e4d86bd1-1'), {
    traceId: '000000000000000080f198ee56343ba8',
    spanId: 'e457b5a2e4d86bd1',
  });
  assert.equal(
    parseAmznTraceId('Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1'),
    '1-5759e988-bd862e3fe1be46a994272793',
  );
  assert.equal(parseAmznTraceId('Self=1-x;Root=bogus'), undefined);
  const headers: Record<string, string> = {
    'x-b3-traceid': '463ac35c9f6413ad48485a3953bb6124',
    'x-b3-spanid': 'a2fb4a1d1a96d312',
  };
  assert.deepEqual(
    traceIdsFromHeaders((n) => headers[n]),
    { traceId: '463ac35c9f6413ad48485a3953bb6124', spanId: 'a2fb4a1d1a96d312' },
  );
});
