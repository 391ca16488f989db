// kafkajs 2.2.4 producer (tests/js/node_modules): sends COUNT keyed messages to TOPIC in one
// send() call (one Produce request per broker), or one send() per message with --separate.
//
//   node kafkajs_producer.js --bootstrap HOST:PORT --topic T [--count N] [--key-prefix key-]
//        [--value-size BYTES] [--header NAME=VALUE]... [--gzip] [--acks -1|0|1]
//        [--partition P | --partitions N] [--separate] [--wait-go]
//
// Message i has key KEY_PREFIX+i, a value of VALUE_SIZE bytes ("value-i" padded with '.') and
// goes to partition P, or to i % N (default N = 3, the mock's default partition count): explicit
// partitions, so that the test knows every message's partition and offset.
// --wait-go connects first (ApiVersions, Metadata), prints "READY" and waits for a line on stdin
// before producing, so that a tracer can attach in between.
// Prints one JSON line: {"client":"kafkajs","topic":..,"acks":..,"compression":..,
//   "messages":[{"key":..,"partition":..,"offset":..,"headers":{..}}]}; offsets are null for acks=0.
'use strict';
const path = require('node:path');
const readline = require('node:readline');
const { parseArgs } = require('node:util');

const { values } = parseArgs({
  options: {
    bootstrap: { type: 'string' },
    topic: { type: 'string' },
    count: { type: 'string', default: '3' },
    'key-prefix': { type: 'string', default: 'key-' },
    'value-size': { type: 'string', default: '0' },
    header: { type: 'string', multiple: true, default: [] },
    gzip: { type: 'boolean', default: false },
    acks: { type: 'string', default: '-1' },
    partition: { type: 'string' },
    partitions: { type: 'string', default: '3' },
    separate: { type: 'boolean', default: false },
    'wait-go': { type: 'boolean', default: false },
  },
});
for (const required of ['bootstrap', 'topic']) {
  if (!values[required]) throw new Error(`--${required} is required`);
}

const { Kafka, CompressionTypes, logLevel } = require(path.join(__dirname, '..', '..', 'js', 'node_modules', 'kafkajs'));
const { stderrLogger } = require('./kafkajs_common');

const count = Number(values.count);
const acks = Number(values.acks);
const headers = Object.fromEntries(values.header.map((h) => {
  const eq = h.indexOf('=');
  if (eq <= 0) throw new Error(`--header wants NAME=VALUE, got ${h}`);
  return [h.slice(0, eq), h.slice(eq + 1)];
}));

function makeMessage(i) {
  const value = `value-${i}`.padEnd(Number(values['value-size']), '.');
  const partition = values.partition !== undefined ? Number(values.partition) : i % Number(values.partitions);
  return { key: `${values['key-prefix']}${i}`, value, partition, headers: { ...headers } };
}

function waitForGo() {
  console.log('READY');
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin });
    rl.once('line', () => { rl.close(); resolve(); });
    rl.once('close', resolve);
  });
}

// Every message's offset: base offset of its partition's batch plus its index within that batch.
function offsetsOf(batchMessages, results, out) {
  const next = new Map();
  for (const r of results) next.set(r.partition, Number(r.baseOffset));
  for (const m of batchMessages) {
    const base = next.get(m.partition);
    out.push({ key: m.key, partition: m.partition, offset: acks === 0 || base === undefined ? null : base,
               headers: m.headers });
    if (base !== undefined) next.set(m.partition, base + 1);
  }
}

(async () => {
  const kafka = new Kafka({ clientId: 'zt-kafkajs-producer', brokers: values.bootstrap.split(','),
                            logLevel: logLevel.ERROR, logCreator: stderrLogger });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  if (values['wait-go']) await waitForGo();

  const messages = Array.from({ length: count }, (_, i) => makeMessage(i));
  const compression = values.gzip ? CompressionTypes.GZIP : CompressionTypes.None;
  const produced = [];
  const batches = values.separate ? messages.map((m) => [m]) : [messages];
  for (const batch of batches) {
    const results = await producer.send({ topic: values.topic, acks, compression, messages: batch });
    offsetsOf(batch, results, produced);
  }
  await producer.disconnect();
  console.log(JSON.stringify({ client: 'kafkajs', topic: values.topic, acks,
                               compression: values.gzip ? 'gzip' : 'none', messages: produced }));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
