// What the kafkajs workloads share: a kafkajs logCreator that writes to stderr (kafkajs's own
// writes to stdout, where the workloads print their machine-readable lines).
'use strict';

function stderrLogger() {
  return ({ namespace, level, log }) => {
    const { message, ...extra } = log;
    process.stderr.write(`kafkajs ${level} ${namespace}: ${message} ${JSON.stringify(extra)}\n`);
  };
}

module.exports = { stderrLogger };
