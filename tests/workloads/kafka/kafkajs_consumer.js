// kafkajs 2.2.4 group consumer (tests/js/node_modules): joins GROUP, reads TOPIC from the
// beginning and exits after COUNT messages (leaving the group).
//
//   node kafkajs_consumer.js --bootstrap HOST:PORT --topic T [--group G] [--count N]
//        [--http-per-message URL] [--wait-go]
//
// Prints "JOINED" once the group is joined, then one JSON line per message:
//   {"topic":..,"partition":..,"offset":..,"key":..,"headers":{..},"value_size":..
//    [,"http_status":..|null,"http_error":..]}
// and a last line {"done":true,"count":N}.
// --http-per-message URL: the message handler GETs URL before returning, so that the HTTP request
// is work done for that message, in the same handler (and on node's one thread) as the fetch.
// --wait-go: print "READY" and wait for a line on stdin before connecting, so that a tracer can
// attach first and see the group join (where the group name is).
'use strict';
const http = require('node:http');
const path = require('node:path');
const readline = require('node:readline');
const { parseArgs } = require('node:util');

const { values } = parseArgs({
  options: {
    bootstrap: { type: 'string' },
    topic: { type: 'string' },
    group: { type: 'string', default: 'zt-kafkajs-group' },
    count: { type: 'string', default: '1' },
    'http-per-message': { type: 'string' },
    'wait-go': { type: 'boolean', default: false },
  },
});
for (const required of ['bootstrap', 'topic']) {
  if (!values[required]) throw new Error(`--${required} is required`);
}

const { Kafka, logLevel } = require(path.join(__dirname, '..', '..', 'js', 'node_modules', 'kafkajs'));
const { stderrLogger } = require('./kafkajs_common');

const count = Number(values.count);

function httpGet(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    }).on('error', reject);
  });
}

function waitForGo() {
  return new Promise((resolve) => {
    console.log('READY');
    const rl = readline.createInterface({ input: process.stdin });
    rl.once('line', () => {
      rl.close();
      resolve();
    });
  });
}

(async () => {
  if (values['wait-go']) await waitForGo();
  const kafka = new Kafka({ clientId: 'zt-kafkajs-consumer', brokers: values.bootstrap.split(','),
                            logLevel: logLevel.ERROR, logCreator: stderrLogger });
  const consumer = kafka.consumer({ groupId: values.group, allowAutoTopicCreation: false });
  consumer.on(consumer.events.GROUP_JOIN, () => console.log('JOINED'));
  await consumer.connect();
  await consumer.subscribe({ topics: [values.topic], fromBeginning: true });

  let seen = 0;
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      if (seen >= count) return;
      const line = {
        topic, partition, offset: Number(message.offset),
        key: message.key === null ? null : message.key.toString(),
        headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, v?.toString()])),
        value_size: message.value === null ? 0 : message.value.length,
      };
      if (values['http-per-message']) {
        // A failed GET is reported, not thrown: kafkajs would retry the message forever.
        line.http_status = await httpGet(values['http-per-message']).catch((err) => {
          line.http_error = err.message;
          return null;
        });
      }
      console.log(JSON.stringify(line));
      if (++seen === count) finish();
    },
  });
  await finished;
  await consumer.disconnect();
  console.log(JSON.stringify({ done: true, count: seen }));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
