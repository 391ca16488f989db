'use strict';
// Checks otlp_receiver.js against OpenTelemetry JS's own OTLP exporter, curl and a grpc-js client:
// the same request content must normalise to the same line whichever way it arrives.
// Run: node --test tests/js/   (loopback only, about two seconds)

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const grpc = require('@grpc/grpc-js');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { SpanKind, SpanStatusCode, context, trace } = require('@opentelemetry/api');
const { ExportTraceServiceRequest, ExportTraceServiceResponse } = require('./otlp_trace_decoder');

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'otlp-receiver-test-'));
const outFile = path.join(workDir, 'requests.jsonl');
const readyFile = path.join(workDir, 'ready.json');
let receiver;
let ports;
let linesRead = 0;

async function waitFor(condition, what) {
  const deadline = Date.now() + 10000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// The lines the receiver appended since the last call.
function newRecords() {
  const lines = fs.readFileSync(outFile, 'utf8').split('\n').filter(Boolean);
  const fresh = lines.slice(linesRead).map((line) => JSON.parse(line));
  linesRead = lines.length;
  return fresh;
}

function onlyNewRecord() {
  const records = newRecords();
  assert.equal(records.length, 1, `expected one new line, got ${JSON.stringify(records)}`);
  return records[0];
}

function curlPost(body, headers) {
  const bodyFile = path.join(workDir, 'body');
  fs.writeFileSync(bodyFile, body);
  const args = ['-sS', '-o', '-', '-w', '\n%{http_code}', '--data-binary', `@${bodyFile}`];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  args.push(`http://127.0.0.1:${ports.http_port}/v1/traces`);
  const output = execFileSync('curl', args).toString();
  const split = output.lastIndexOf('\n');
  return { body: output.slice(0, split), status: Number(output.slice(split + 1)) };
}

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

function grpcExport(requestBytes, compression) {
  const definition = {
    Export: {
      path: EXPORT_PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: (bytes) => bytes,
      requestDeserialize: (bytes) => bytes,
      responseSerialize: (response) => Buffer.from(ExportTraceServiceResponse.encode(response).finish()),
      responseDeserialize: (bytes) => ExportTraceServiceResponse.decode(bytes),
    },
  };
  const Client = grpc.makeGenericClientConstructor(definition, 'TraceService');
  const options = compression ? { 'grpc.default_compression_algorithm': grpc.compressionAlgorithms.gzip } : {};
  const client = new Client(`127.0.0.1:${ports.grpc_port}`, grpc.credentials.createInsecure(), options);
  const metadata = new grpc.Metadata();
  metadata.set('x-test', 'grpc');
  return new Promise((resolve) => {
    client.Export(requestBytes, metadata, (err, response) => {
      client.close();
      resolve({ err, response });
    });
  });
}

// One request's content in OTLP JSON, as an encoder following the OTLP spec writes it.
const JSON_REQUEST = {
  resourceSpans: [{
    resource: { attributes: [{ key: 'service.name', value: { stringValue: 'handmade' } }] },
    scopeSpans: [{
      scope: { name: 'zerotrace', version: '0.1.0' },
      spans: [{
        traceId: '5B8EFFF798038103D269B633813FC60C',
        spanId: 'EEE19B7EC3C1B174',
        parentSpanId: 'EEE19B7EC3C1B173',
        flags: 257,
        name: 'GET /items',
        kind: 2,
        startTimeUnixNano: '1700000000123456789',
        endTimeUnixNano: '1700000000223456789',
        attributes: [
          { key: 'http.request.method', value: { stringValue: 'GET' } },
          { key: 'http.response.status_code', value: { intValue: '200' } },
          { key: 'server.port', value: { intValue: 8080 } },
          { key: 'ratio', value: { doubleValue: 0.25 } },
          { key: 'sampled', value: { boolValue: true } },
          { key: 'raw', value: { bytesValue: 'AAEC' } },
          { key: 'list', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '-3' }] } } },
        ],
        events: [{ timeUnixNano: '1700000000150000000', name: 'first byte' }],
        droppedEventsCount: '1', // the protobuf JSON mapping allows 32-bit integers as strings
        links: [{
          traceId: '0AF7651916CD43DD8448EB211C80319C',
          spanId: 'B7AD6B7169203331',
          traceState: 'congo=t61rcWkgMzE',
          attributes: [{ key: 'zerotrace.link.source', value: { stringValue: 'kafka' } }],
          droppedAttributesCount: 1,
          flags: 769, // sampled, is-remote known, remote
        }, {
          traceId: '5B8EFFF798038103D269B633813FC60C',
          spanId: 'EEE19B7EC3C1B172',
          flags: 256,
        }],
        droppedLinksCount: 3,
        status: { code: 2, message: 'upstream reset' },
      }],
    }],
  }],
};

// The same content as protobuf, built with the generated code's fromObject from binary ids.
function protobufRequestBytes() {
  const span = JSON_REQUEST.resourceSpans[0].scopeSpans[0].spans[0];
  const object = structuredClone(JSON_REQUEST);
  const pbSpan = object.resourceSpans[0].scopeSpans[0].spans[0];
  pbSpan.traceId = Buffer.from(span.traceId, 'hex');
  pbSpan.spanId = Buffer.from(span.spanId, 'hex');
  pbSpan.parentSpanId = Buffer.from(span.parentSpanId, 'hex');
  for (const link of pbSpan.links) {
    link.traceId = Buffer.from(link.traceId, 'hex');
    link.spanId = Buffer.from(link.spanId, 'hex');
  }
  pbSpan.attributes[5].value.bytesValue = Buffer.from('AAEC', 'base64');
  return Buffer.from(ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(object)).finish());
}

before(async () => {
  fs.writeFileSync(outFile, '');
  receiver = spawn(process.execPath, [path.join(__dirname, 'otlp_receiver.js'),
    '--http-port', '0', '--grpc-port', '0', '--out', outFile, '--ready', readyFile],
  { stdio: ['ignore', 'inherit', 'pipe'] });
  receiver.stderr.on('data', () => {}); // errors the tests provoke are logged there on purpose
  await waitFor(() => fs.existsSync(readyFile), 'the ready file');
  ports = JSON.parse(fs.readFileSync(readyFile, 'utf8'));
});

after(() => {
  if (receiver.exitCode === null) receiver.kill('SIGKILL');
  fs.rmSync(workDir, { recursive: true, force: true });
});

test('ready file names both ports', () => {
  assert.deepEqual(Object.keys(ports).sort(), ['grpc_port', 'http_port']);
  assert.ok(ports.http_port > 0 && ports.grpc_port > 0);
});

test('the OTel JS OTLP/protobuf exporter, gzip, normalises as expected', async () => {
  const exporter = new OTLPTraceExporter({
    url: `http://127.0.0.1:${ports.http_port}/v1/traces`,
    compression: 'gzip',
    headers: { 'x-test': 'sdk' },
  });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'sdk-peer' }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('selftest', '1.2.3');
  const parent = tracer.startSpan('parent');
  const linked = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1,
                   isRemote: true };
  const span = tracer.startSpan('child', {
    kind: SpanKind.CLIENT,
    links: [{ context: linked, attributes: { 'zerotrace.link.source': 'kafka' } }],
    attributes: { 'http.response.status_code': 503, 'peer.name': 'db', retry: false, load: 0.5 },
    startTime: [1700000000, 123456789],
  }, trace.setSpan(context.active(), parent));
  span.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
  span.end([1700000001, 5]);
  await provider.forceFlush();
  await provider.shutdown();

  const record = onlyNewRecord();
  assert.equal(record.transport, 'http');
  assert.equal(record.path, '/v1/traces');
  assert.equal(record.content_type, 'application/x-protobuf');
  assert.equal(record.content_encoding, 'gzip');
  assert.equal(record.headers['x-test'], 'sdk');
  assert.deepEqual(record.unknown_fields, []);
  const resourceSpans = record.request.resourceSpans[0];
  assert.deepEqual(resourceSpans.resource.attributes.find((a) => a.key === 'service.name'),
                   { key: 'service.name', value: { stringValue: 'sdk-peer' } });
  const scopeSpans = resourceSpans.scopeSpans[0];
  assert.equal(scopeSpans.scope.name, 'selftest');
  assert.equal(scopeSpans.scope.version, '1.2.3');
  const got = scopeSpans.spans[0];
  assert.equal(got.traceId, span.spanContext().traceId);
  assert.equal(got.spanId, span.spanContext().spanId);
  assert.equal(got.parentSpanId, parent.spanContext().spanId);
  assert.equal(got.name, 'child');
  assert.equal(got.kind, 3); // SPAN_KIND_CLIENT in the proto enum (the JS SpanKind is off by one)
  assert.equal(got.flags & 0xff, 1);
  assert.equal(got.startTimeUnixNano, '1700000000123456789');
  assert.equal(got.endTimeUnixNano, '1700000001000000005');
  assert.deepEqual(got.attributes, [
    { key: 'http.response.status_code', value: { intValue: '503' } },
    { key: 'peer.name', value: { stringValue: 'db' } },
    { key: 'retry', value: { boolValue: false } },
    { key: 'load', value: { doubleValue: 0.5 } },
  ]);
  assert.deepEqual(got.status, { code: 2, message: 'boom' });
  assert.deepEqual(got.events, []);
  assert.equal(got.links.length, 1);
  assert.equal(got.links[0].traceId, linked.traceId);
  assert.equal(got.links[0].spanId, linked.spanId);
  assert.equal(got.links[0].flags & 0xff, 1);
  assert.deepEqual(got.links[0].attributes, [{ key: 'zerotrace.link.source', value: { stringValue: 'kafka' } }]);
  assert.equal(got.droppedLinksCount, 0);
});

test('OTLP JSON (plain and gzip), protobuf and gRPC (plain and gzip) normalise identically', async () => {
  const jsonBody = Buffer.from(JSON.stringify(JSON_REQUEST));
  const plain = curlPost(jsonBody, { 'Content-Type': 'application/json' });
  assert.equal(plain.status, 200);
  assert.equal(plain.body, '{}');
  const gzipped = curlPost(zlib.gzipSync(jsonBody),
                           { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
  assert.equal(gzipped.status, 200);
  const protobuf = curlPost(protobufRequestBytes(), { 'Content-Type': 'application/x-protobuf' });
  assert.equal(protobuf.status, 200);
  assert.equal(protobuf.body, '');
  for (const compression of [false, true]) {
    const { err } = await grpcExport(protobufRequestBytes(), compression);
    assert.equal(err, null);
  }

  const records = newRecords();
  assert.deepEqual(records.map((r) => [r.transport, r.content_type, r.content_encoding]), [
    ['http', 'application/json', 'identity'],
    ['http', 'application/json', 'gzip'],
    ['http', 'application/x-protobuf', 'identity'],
    ['grpc', 'application/grpc', 'identity'],
    ['grpc', 'application/grpc', 'gzip'],
  ]);
  assert.equal(records[3].headers['x-test'], 'grpc');
  const span = records[0].request.resourceSpans[0].scopeSpans[0].spans[0];
  assert.equal(span.traceId, '5b8efff798038103d269b633813fc60c');
  assert.equal(span.traceState, '');
  assert.equal(span.droppedLinksCount, 3);
  assert.deepEqual(span.links, [{
    traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceState: 'congo=t61rcWkgMzE',
    attributes: [{ key: 'zerotrace.link.source', value: { stringValue: 'kafka' } }],
    droppedAttributesCount: 1, flags: 769,
  }, {
    traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b172', traceState: '',
    attributes: [], droppedAttributesCount: 0, flags: 256,
  }]);
  assert.equal(span.droppedEventsCount, 1);
  assert.deepEqual(span.attributes[2], { key: 'server.port', value: { intValue: '8080' } });
  assert.deepEqual(span.attributes[6].value.arrayValue.values, [{ stringValue: 'a' }, { intValue: '-3' }]);
  assert.deepEqual(span.events, [{ timeUnixNano: '1700000000150000000', name: 'first byte',
                                   attributes: [], droppedAttributesCount: 0 }]);
  for (const record of records.slice(1)) {
    assert.deepEqual(record.request, records[0].request, `${record.transport} ${record.content_type}`);
    assert.deepEqual(record.unknown_fields, []);
  }
});

test('unknown fields are accepted and reported, for JSON and protobuf', () => {
  const json = structuredClone(JSON_REQUEST);
  json.resourceSpans[0].scopeSpans[0].spans[0].spanKind = 2;
  assert.equal(curlPost(JSON.stringify(json), { 'Content-Type': 'application/json' }).status, 200);
  // Field 99, varint 5, appended to the top-level message.
  const bytes = Buffer.concat([protobufRequestBytes(), Buffer.from([0x98, 0x06, 0x05])]);
  assert.equal(curlPost(bytes, { 'Content-Type': 'application/x-protobuf' }).status, 200);
  const [jsonRecord, protobufRecord] = newRecords();
  assert.deepEqual(jsonRecord.unknown_fields, [{
    message: 'opentelemetry.proto.trace.v1.Span', field: 'spanKind',
    path: 'resourceSpans[0].scopeSpans[0].spans[0]',
  }]);
  assert.deepEqual(protobufRecord.unknown_fields, [{
    message: 'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest', field: 99, wire_type: 0,
  }]);
});

test('bad bodies are answered 400 / INVALID_ARGUMENT and recorded with the error', async () => {
  const badJson = curlPost('{"resourceSpans": [', { 'Content-Type': 'application/json' });
  assert.equal(badJson.status, 400);
  assert.match(JSON.parse(badJson.body).message, /JSON parse failed/);
  const enumByName = structuredClone(JSON_REQUEST);
  enumByName.resourceSpans[0].scopeSpans[0].spans[0].kind = 'SPAN_KIND_SERVER';
  assert.equal(curlPost(JSON.stringify(enumByName), { 'Content-Type': 'application/json' }).status, 400);
  // A span whose start time (field 7, fixed64) arrives as a varint.
  const wrongWireType = Buffer.from([0x0a, 0x06, 0x12, 0x04, 0x12, 0x02, 0x38, 0x01]);
  assert.equal(curlPost(wrongWireType, { 'Content-Type': 'application/x-protobuf' }).status, 400);
  assert.equal(curlPost('x', { 'Content-Type': 'text/plain' }).status, 415);
  assert.equal(curlPost('x', { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }).status, 400);
  const { err } = await grpcExport(wrongWireType, false);
  assert.equal(err.code, grpc.status.INVALID_ARGUMENT);

  const records = newRecords();
  assert.equal(records.length, 6);
  for (const record of records) {
    assert.equal(record.request, null);
    assert.equal(typeof record.error, 'string');
  }
  assert.match(records[1].error, /spans\[0\]\.kind: expected an integer/);
  assert.match(records[2].error, /field 7 of opentelemetry\.proto\.trace\.v1\.Span has wire type 0, expected 1/);
  assert.equal(records[5].transport, 'grpc');
});

test('SIGTERM ends the receiver with status 0', async () => {
  receiver.kill('SIGTERM');
  await waitFor(() => receiver.exitCode !== null, 'the receiver to exit');
  assert.equal(receiver.exitCode, 0);
});
