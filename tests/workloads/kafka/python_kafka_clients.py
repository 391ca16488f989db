#!/usr/bin/python3
"""Kafka producer and group consumer with Debian's Python clients, for the Kafka tests.

    /usr/bin/python3 python_kafka_clients.py {kafka-python|confluent} produce --bootstrap HOST:PORT
        --topic T [--count N] [--key-prefix key-] [--value-size BYTES] [--header NAME=VALUE]...
        [--compression none|gzip|snappy|lz4|zstd] [--partitions N] [--wait-go]
    /usr/bin/python3 python_kafka_clients.py {kafka-python|confluent} consume --bootstrap HOST:PORT
        --topic T [--group G] [--count N]

kafka-python is python3-kafka 2.0.2 (pure Python: Fetch v4, Metadata v1, pipelined requests; gzip
only here, its other codecs need modules Debian does not ship); confluent is python3-confluent-kafka
1.7.0 on Debian's librdkafka 2.0.2. Run them with /usr/bin/python3: another python3 first on PATH
may not see Debian's dist-packages.

produce: message i has key KEY_PREFIX+i, value "value-i" padded to VALUE_SIZE with '.', the
given headers, and goes to partition i % N (default 3); prints one JSON line
{"client":..,"topic":..,"compression":..,"messages":[{"key":..,"partition":..,"offset":..}]}.
--wait-go: connect (bootstrap Metadata), print "READY", wait for a line on stdin, then produce.
consume: joins GROUP, reads TOPIC from the beginning, prints one JSON line per message
{"topic":..,"partition":..,"offset":..,"key":..,"headers":{..},"value_size":..} and then
{"done":true,"count":N}; exits after COUNT messages (leaving the group), or fails after 30 s.
"""

import argparse
import json
import sys
import time

CONSUME_TIMEOUT_S = 30.0


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("library", choices=["kafka-python", "confluent"])
    parser.add_argument("action", choices=["produce", "consume"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--key-prefix", default="key-")
    parser.add_argument("--value-size", type=int, default=0)
    parser.add_argument("--header", action="append", default=[], help="NAME=VALUE, repeatable")
    parser.add_argument("--compression", default="none", choices=["none", "gzip", "snappy", "lz4", "zstd"])
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--group", default=None, help="default: zt-<library>-group")
    parser.add_argument("--wait-go", action="store_true")
    args = parser.parse_args()
    args.headers = []
    for h in args.header:
        name, eq, value = h.partition("=")
        if not eq or not name:
            parser.error(f"--header wants NAME=VALUE, got {h}")
        args.headers.append((name, value.encode()))
    args.group = args.group or f"zt-{args.library}-group"
    if args.library == "kafka-python" and args.compression not in ("none", "gzip"):
        parser.error("kafka-python: only --compression none or gzip")
    return args


def messages(args):
    for i in range(args.count):
        yield f"{args.key_prefix}{i}", f"value-{i}".ljust(args.value_size, "."), i % args.partitions


def wait_for_go(args):
    if args.wait_go:
        print("READY", flush=True)
        sys.stdin.readline()


def print_message(topic, partition, offset, key, headers, value):
    print(json.dumps({"topic": topic, "partition": partition, "offset": offset,
                      "key": None if key is None else key.decode(),
                      "headers": {k: (v.decode() if v is not None else None) for k, v in headers or []},
                      "value_size": len(value or b"")}), flush=True)


def produce_kafka_python(args):
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=args.bootstrap.split(","), client_id="zt-kafka-python-producer",
                             compression_type=None if args.compression == "none" else args.compression)
    producer.partitions_for(args.topic)  # Metadata now, not on the first send
    wait_for_go(args)
    futures = [(key, producer.send(args.topic, key=key.encode(), value=value.encode(), partition=partition,
                                   headers=args.headers))
               for key, value, partition in messages(args)]
    producer.flush()
    produced = []
    for key, future in futures:
        meta = future.get(timeout=10)
        produced.append({"key": key, "partition": meta.partition, "offset": meta.offset})
    producer.close()
    return produced


def consume_kafka_python(args):
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(args.topic, bootstrap_servers=args.bootstrap.split(","), group_id=args.group,
                             client_id="zt-kafka-python-consumer", auto_offset_reset="earliest")
    seen = 0
    deadline = time.monotonic() + CONSUME_TIMEOUT_S
    while seen < args.count and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            for r in records:
                if seen < args.count:
                    print_message(r.topic, r.partition, r.offset, r.key, r.headers, r.value)
                    seen += 1
    consumer.close()
    return seen


def produce_confluent(args):
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": args.bootstrap, "client.id": "zt-confluent-producer",
                         "compression.type": args.compression})
    producer.list_topics(args.topic, timeout=10)  # connect and fetch Metadata before the go
    wait_for_go(args)
    produced = []
    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            produced.append({"key": msg.key().decode(), "partition": msg.partition(), "offset": msg.offset()})

    for key, value, partition in messages(args):
        producer.produce(args.topic, key=key.encode(), value=value.encode(), partition=partition,
                         headers=args.headers, on_delivery=delivered)
    producer.flush(10)
    if errors or len(produced) != args.count:
        raise RuntimeError(f"delivered {len(produced)} of {args.count}: {errors}")
    produced.sort(key=lambda m: int(m["key"][len(args.key_prefix):]))
    return produced


def consume_confluent(args):
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.group,
                         "client.id": "zt-confluent-consumer", "auto.offset.reset": "earliest"})
    consumer.subscribe([args.topic])
    seen = 0
    deadline = time.monotonic() + CONSUME_TIMEOUT_S
    while seen < args.count and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            print(f"consume: {msg.error()}", file=sys.stderr)
            continue
        print_message(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.headers(), msg.value())
        seen += 1
    consumer.close()
    return seen


def main():
    args = parse_args()
    if args.action == "produce":
        produce = produce_kafka_python if args.library == "kafka-python" else produce_confluent
        produced = produce(args)
        print(json.dumps({"client": args.library, "topic": args.topic, "compression": args.compression,
                          "messages": produced}), flush=True)
        return 0
    consume = consume_kafka_python if args.library == "kafka-python" else consume_confluent
    seen = consume(args)
    print(json.dumps({"done": seen == args.count, "count": seen}), flush=True)
    return 0 if seen == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
