"""A Kafka client Spate did not write (confluent-kafka), for the Kafka tests.

    kafka_client.py create BROKER TOPIC PARTITIONS
    kafka_client.py produce BROKER TOPIC [--key-field F]   # NDJSON values on stdin
    kafka_client.py upsert BROKER TOPIC                     # {"key": …, "value": …} lines on stdin
    kafka_client.py consume BROKER TOPIC                    # committed records, as JSON lines
    kafka_client.py committed BROKER GROUP TOPIC            # the group's offsets, as JSON

`produce` keys each record with the JSON of its `--key-field` value (no key where the line is
not such JSON) and lets the client's partitioner place it. `upsert` produces one record per line
with the JSON of its "key" as key and the JSON of its "value" as value, a tombstone (no value)
where "value" is null. `consume` reads every partition from its start to its end offset with
isolation.level=read_committed and prints one JSON object per record: partition, offset,
key, value (null for a tombstone) and timestamp.
"""

import json
import sys

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT = 30


def create(broker, topic, partitions):
    admin = AdminClient({"bootstrap.servers": broker})
    futures = admin.create_topics([NewTopic(topic, int(partitions), 1)])
    for future in futures.values():
        future.result(TIMEOUT)


def send(records, broker, topic):
    """Produces (key, value) pairs, in order, and waits until all are delivered."""
    producer = Producer({"bootstrap.servers": broker, "enable.idempotence": True})
    failures = []

    def report(err, _msg):
        if err is not None:
            failures.append(str(err))

    for key, value in records:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=report)
                break
            except BufferError:  # the client's queue is full: let it send
                producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(TIMEOUT)
    if left or failures:
        sys.exit(f"{left} record(s) undelivered: {failures[:3]}")


def lines():
    for line in sys.stdin:
        line = line.rstrip("\n")
        if line:
            yield line


def produce(broker, topic, key_field=None):
    def keyed(line):
        if key_field is None:
            return None
        try:
            return json.dumps(json.loads(line)[key_field])
        except (ValueError, KeyError, TypeError):
            return None  # a malformed record, sent as it is, without a key

    send(((keyed(line), line.encode()) for line in lines()), broker, topic)


def upsert(broker, topic):
    def record(line):
        change = json.loads(line)
        value = change["value"]
        return json.dumps(change["key"]), None if value is None else json.dumps(value)

    send((record(line) for line in lines()), broker, topic)


def partitions_of(client, topic):
    metadata = client.list_topics(topic, timeout=TIMEOUT)
    return sorted(metadata.topics[topic].partitions)


def consume(broker, topic):
    consumer = Consumer(
        {
            "bootstrap.servers": broker,
            "group.id": "kafka-client-py",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    ends = {}
    starts = []
    for p in partitions_of(consumer, topic):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT)
        if high > low:
            ends[p] = high
            starts.append(TopicPartition(topic, p, low))
    consumer.assign(starts)
    records = []
    while ends:
        msg = consumer.poll(1.0)
        if msg is None:
            # Transaction markers hold offsets no record has: the position tells the end.
            for tp in consumer.position([TopicPartition(topic, p) for p in list(ends)]):
                if tp.offset >= ends[tp.partition]:
                    del ends[tp.partition]
            continue
        if msg.error():
            raise KafkaException(msg.error())
        key, value = msg.key(), msg.value()
        records.append(
            {
                "partition": msg.partition(),
                "offset": msg.offset(),
                "key": key.decode() if key is not None else None,
                "value": value.decode() if value is not None else None,
                "timestamp": msg.timestamp()[1],
            }
        )
        if msg.offset() + 1 >= ends.get(msg.partition(), 0):
            ends.pop(msg.partition(), None)
    consumer.close()
    for r in records:
        print(json.dumps(r))


def committed(broker, group, topic):
    consumer = Consumer({"bootstrap.servers": broker, "group.id": group})
    offsets = consumer.committed(
        [TopicPartition(topic, p) for p in partitions_of(consumer, topic)], timeout=TIMEOUT
    )
    print(json.dumps({str(tp.partition): tp.offset for tp in offsets}))
    consumer.close()


def main(args):
    command = args[0]
    if command == "create":
        create(*args[1:4])
    elif command == "produce":
        key_field = args[4] if len(args) > 4 and args[3] == "--key-field" else None
        produce(args[1], args[2], key_field)
    elif command == "upsert":
        upsert(args[1], args[2])
    elif command == "consume":
        consume(args[1], args[2])
    elif command == "committed":
        committed(*args[1:4])
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
