// kafkajs 2.2.4 instrumented with the OpenTelemetry JS SDK (tests/js/node_modules):
// @opentelemetry/instrumentation-kafkajs 0.25.0 makes one `send <topic>` PRODUCER span per
// message and injects that span's W3C traceparent into the message's headers. The SDK's finished
// spans go, one JSON line each, to --spans FILE, so that a test can compare the links zerotrace
// reads from the wire with the SDK's own send span ids.
//
//   node otel_kafkajs_producer.js --bootstrap HOST:PORT --topic T --spans FILE [--count N]
//        [--key-prefix key-] [--partitions N] [--parent] [--wait-go]
//
// Message i has key KEY_PREFIX+i and goes to partition i % N (default 3). Without --parent each
// send span is a root (every message its own trace id); with --parent all of them are children
// of one INTERNAL span "produce-batch". --wait-go: connect, print "READY", wait for a stdin line.
// Span lines: {"trace_id":..,"span_id":..,"parent_span_id":..|null,"name":..,"kind":"PRODUCER",
//   "attributes":{..}}. Stdout: one JSON line {"client":"kafkajs+otel","topic":..,"messages":[
//   {"key":..,"partition":..,"offset":..,"traceparent":..}]}.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { parseArgs } = require('node:util');

const { values } = parseArgs({
  options: {
    bootstrap: { type: 'string' },
    topic: { type: 'string' },
    spans: { type: 'string' },
    count: { type: 'string', default: '3' },
    'key-prefix': { type: 'string', default: 'key-' },
    partitions: { type: 'string', default: '3' },
    parent: { type: 'boolean', default: false },
    'wait-go': { type: 'boolean', default: false },
  },
});
for (const required of ['bootstrap', 'topic', 'spans']) {
  if (!values[required]) throw new Error(`--${required} is required`);
}

const modules = path.join(__dirname, '..', '..', 'js', 'node_modules');
const sdk = (name) => require(path.join(modules, '@opentelemetry', name));
const api = sdk('api');
const { ExportResultCode } = sdk('core');
const { NodeTracerProvider, SimpleSpanProcessor } = sdk('sdk-trace-node');
const { registerInstrumentations } = sdk('instrumentation');
const { KafkaJsInstrumentation } = sdk('instrumentation-kafkajs');

// Appends each finished span to the --spans file as it ends (SimpleSpanProcessor: one by one).
class JsonLinesSpanExporter {
  constructor(file) { this.fd = fs.openSync(file, 'a'); }
  export(spans, done) {
    for (const s of spans) {
      const ctx = s.spanContext();
      fs.writeSync(this.fd, `${JSON.stringify({
        trace_id: ctx.traceId, span_id: ctx.spanId, parent_span_id: s.parentSpanContext?.spanId ?? null,
        name: s.name, kind: api.SpanKind[s.kind], attributes: s.attributes,
      })}\n`);
    }
    done({ code: ExportResultCode.SUCCESS });
  }
  shutdown() { fs.closeSync(this.fd); return Promise.resolve(); }
  forceFlush() { return Promise.resolve(); }
}

const provider = new NodeTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(new JsonLinesSpanExporter(values.spans))],
});
provider.register();  // the AsyncLocalStorage context manager and the W3C propagator
registerInstrumentations({ instrumentations: [new KafkaJsInstrumentation()] });

// Required after the instrumentation is registered, so that it is the patched module.
const { Kafka, logLevel } = require(path.join(modules, 'kafkajs'));
const { stderrLogger } = require('./kafkajs_common');

function waitForGo() {
  console.log('READY');
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin });
    rl.once('line', () => { rl.close(); resolve(); });
    rl.once('close', resolve);
  });
}

async function send(producer, messages) {
  const results = await producer.send({ topic: values.topic, messages });
  const next = new Map(results.map((r) => [r.partition, Number(r.baseOffset)]));
  return messages.map((m) => {
    const offset = next.get(m.partition);
    next.set(m.partition, offset + 1);
    return { key: m.key, partition: m.partition, offset, traceparent: m.headers?.traceparent?.toString() ?? null };
  });
}

(async () => {
  const kafka = new Kafka({ clientId: 'zt-otel-kafkajs-producer', brokers: values.bootstrap.split(','),
                            logLevel: logLevel.ERROR, logCreator: stderrLogger });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  if (values['wait-go']) await waitForGo();

  const messages = Array.from({ length: Number(values.count) }, (_, i) => (
    { key: `${values['key-prefix']}${i}`, value: `value-${i}`, partition: i % Number(values.partitions) }));
  let produced;
  if (values.parent) {
    const tracer = api.trace.getTracer('zt-otel-kafkajs-producer');
    produced = await tracer.startActiveSpan('produce-batch', async (span) => {
      try { return await send(producer, messages); } finally { span.end(); }
    });
  } else {
    produced = await send(producer, messages);
  }
  await producer.disconnect();
  await provider.shutdown();
  console.log(JSON.stringify({ client: 'kafkajs+otel', topic: values.topic, messages: produced }));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
