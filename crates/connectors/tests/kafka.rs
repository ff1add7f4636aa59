//! The Kafka source and sink against a real Kafka-protocol broker at `SPATE_TEST_KAFKA`
//! (`host:port`); skipped, loudly, without it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema, SchemaRef, TimeUnit};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use spate_connectors::format::record::RecordFormat;
use spate_connectors::kafka::repartition::{RepartitionSink, RepartitionSource, RepartitionTopic};
use spate_connectors::kafka::sink::{BufferFlush, KafkaSink, KafkaSinkConfig};
use spate_connectors::kafka::source::{BoundedMode, KafkaSource, KafkaSourceConfig, StartupMode};
use spate_connectors::kafka::{MemberCommits, MetadataKey, OffsetCommits, Properties};
use spate_connectors::log_sink::Partitioner;
use spate_engine::changelog::{self, RowKind};
use spate_engine::operator::TaskInfo;
use spate_engine::side_output::{SideOutputSink, SideOutputs, SideRecord};
use spate_engine::sink::Sink;
use spate_engine::source::{Source, SourcePoll};

/// The broker's address, or `None` (with a notice) when the tests should skip.
fn broker(test: &str) -> Option<String> {
    match std::env::var("SPATE_TEST_KAFKA") {
        Ok(b) if !b.is_empty() => Some(b),
        _ => {
            eprintln!("SKIPPED: {test}: set SPATE_TEST_KAFKA=host:port of a Kafka broker");
            None
        }
    }
}

/// A topic name no other run has used.
fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

fn create_topic(broker: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .create()
        .unwrap();
    let results = futures::executor::block_on(admin.create_topics(
        &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
    ))
    .unwrap();
    for r in results {
        r.unwrap();
    }
}

fn properties(broker: &str, group: Option<&str>) -> Properties {
    let mut p = Properties::from([("bootstrap.servers".to_string(), broker.to_string())]);
    if let Some(g) = group {
        p.insert("group.id".into(), g.into());
    }
    p
}

/// Keeps the side records sent to it.
#[derive(Debug, Default)]
struct Collected(Mutex<Vec<SideRecord>>);

impl SideOutputSink for Collected {
    fn send(&self, record: SideRecord) {
        self.0.lock().unwrap().push(record);
    }
}

fn task(instance: usize, parallelism: usize, side: &Arc<Collected>) -> TaskInfo {
    TaskInfo {
        name: format!("kafka-test[{instance}]"),
        instance,
        parallelism,
        side_outputs: SideOutputs::new(side.clone()),
        metrics: Default::default(),
    }
}

fn rows_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]))
}

fn rows(ids: std::ops::Range<i64>) -> RecordBatch {
    let names: Vec<String> = ids.clone().map(|i| format!("n{i}")).collect();
    RecordBatch::try_new(
        rows_schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(ids)),
            Arc::new(StringArray::from(names)),
        ],
    )
    .unwrap()
}

fn sink_config(broker: &str, topic: &str) -> KafkaSinkConfig {
    KafkaSinkConfig {
        properties: properties(broker, None),
        topic: topic.into(),
        schema: rows_schema(),
        value_format: RecordFormat::Json,
        value_fields: vec!["id".into(), "name".into()],
        key: Some((RecordFormat::Json, vec!["id".into()])),
        timestamp_column: None,
        partitioner: Partitioner::Default,
        upsert: false,
        buffer: None,
    }
}

/// A source reading `id`, `name` and the metadata columns `part`, `off` and `ts`.
fn source_config(broker: &str, topic: &str, group: Option<&str>) -> KafkaSourceConfig {
    KafkaSourceConfig {
        properties: properties(broker, group),
        topic: topic.into(),
        schema: Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("part", DataType::Int32, true),
            Field::new("off", DataType::Int64, true),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
        ])),
        value_format: RecordFormat::Json,
        value_fields: vec!["id".into(), "name".into()],
        key: None,
        metadata: vec![
            ("part".into(), MetadataKey::Partition),
            ("off".into(), MetadataKey::Offset),
            ("ts".into(), MetadataKey::Timestamp),
        ],
        startup: StartupMode::Earliest,
        bound: BoundedMode::LatestOffset,
        commits: match group.is_some() {
            true => OffsetCommits::Source,
            false => OffsetCommits::None,
        },
        poll_records: 64,
        only_partitions: None,
        upsert: false,
    }
}

/// Polls `source` until it finishes (bounded) or `limit` rows were read; the batches, each
/// with the index of its partition.
fn read(source: &mut KafkaSource, limit: usize) -> Vec<(usize, RecordBatch)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    let mut total = 0;
    while total < limit {
        assert!(Instant::now() < deadline, "the source did not finish");
        match source.poll().unwrap() {
            SourcePoll::Batch { partition, batch } => {
                total += batch.num_rows();
                out.push((partition, batch));
            }
            SourcePoll::Idle | SourcePoll::Watermark(_) => {
                std::thread::sleep(Duration::from_millis(5))
            }
            SourcePoll::PartitionFinished(_) => {}
            SourcePoll::Finished => break,
        }
    }
    out
}

/// Every id read from `topic` from the start, sorted, with a bounded source.
fn ids_in(broker: &str, topic: &str) -> Vec<i64> {
    let side = Arc::new(Collected::default());
    let mut source =
        KafkaSource::new(source_config(broker, topic, None), &task(0, 1, &side)).unwrap();
    source.restore(None).unwrap();
    let mut ids: Vec<i64> = read(&mut source, usize::MAX)
        .iter()
        .flat_map(|(_, b)| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    ids.sort();
    ids
}

#[test]
fn the_sink_flushes_on_checkpoints_and_keys_pick_partitions_with_murmur2() {
    let Some(broker) =
        broker("the_sink_flushes_on_checkpoints_and_keys_pick_partitions_with_murmur2")
    else {
        return;
    };
    let topic = unique("keyed");
    create_topic(&broker, &topic, 3);
    let mut sink = KafkaSink::new(sink_config(&broker, &topic), 0).unwrap();
    sink.restore(None).unwrap();
    sink.write(&rows(0..100)).unwrap();
    sink.write(&rows(100..150)).unwrap();
    // After the barrier every row is in Kafka.
    sink.prepare_commit(1).unwrap();
    sink.commit(1).unwrap();
    assert_eq!(ids_in(&broker, &topic), (0..150).collect::<Vec<_>>());
    // Keys pick partitions with Kafka's murmur2; the source's metadata columns tell them.
    let side = Arc::new(Collected::default());
    let mut source =
        KafkaSource::new(source_config(&broker, &topic, None), &task(0, 1, &side)).unwrap();
    source.restore(None).unwrap();
    let batches = read(&mut source, usize::MAX);
    let mut per_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for (index, batch) in &batches {
        let ids = batch.column(0).as_primitive::<Int64Type>();
        let parts = batch.column(2).as_primitive::<Int32Type>();
        let offsets = batch.column(3).as_primitive::<Int64Type>();
        assert_eq!(batch.column(4).null_count(), 0, "records have timestamps");
        for row in 0..batch.num_rows() {
            let p = parts.value(row);
            assert_eq!(*index as i32, p, "a batch holds one partition");
            let key = format!("{{\"id\":{}}}", ids.value(row));
            assert_eq!(p as u32, spate_log::partition_for_key(key.as_bytes(), 3));
            let seen = per_partition.entry(p).or_default();
            // Offsets count up within a partition.
            assert_eq!(offsets.value(row), seen.len() as i64);
            seen.push(offsets.value(row));
        }
    }
    assert_eq!(per_partition.values().map(Vec::len).sum::<usize>(), 150);
    assert_eq!(per_partition.len(), 3, "keys spread over the partitions");
    assert!(side.0.lock().unwrap().is_empty());
}

#[test]
fn source_resumes_from_checkpointed_offsets_and_commits_them_to_the_group() {
    let Some(broker) =
        broker("source_resumes_from_checkpointed_offsets_and_commits_them_to_the_group")
    else {
        return;
    };
    let topic = unique("resume");
    create_topic(&broker, &topic, 2);
    let mut sink = KafkaSink::new(sink_config(&broker, &topic), 0).unwrap();
    sink.restore(None).unwrap();
    sink.write(&rows(0..1000)).unwrap();
    sink.prepare_commit(1).unwrap();

    let group = unique("group");
    let side = Arc::new(Collected::default());
    let mut config = source_config(&broker, &topic, Some(&group));
    config.bound = BoundedMode::Unbounded;
    let mut first = KafkaSource::new(config.clone(), &task(0, 1, &side)).unwrap();
    first.restore(None).unwrap();
    let before: Vec<i64> = read(&mut first, 300)
        .iter()
        .flat_map(|(_, b)| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    let state = first.snapshot(1).unwrap();
    // Checkpoint 2 was taken before 1 completed: completing 1 commits 1's offsets, not 2's.
    read(&mut first, 50);
    first.snapshot(2).unwrap();
    first.checkpoint_complete(1).unwrap();
    // Rows read after the checkpoint are read again after a restore.
    read(&mut first, 100);
    drop(first);

    let offsets: Vec<(i32, i64)> = serde_json::from_slice(&state).unwrap();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker)
        .set("group.id", &group)
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..2 {
        list.add_partition(&topic, p);
    }
    // The commit is asynchronous: wait for it to land.
    let expected: Vec<Offset> = offsets.iter().map(|(_, o)| Offset::Offset(*o)).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let committed = consumer
            .committed_offsets(list.clone(), Duration::from_secs(30))
            .unwrap();
        let got: Vec<Offset> = offsets
            .iter()
            .map(|(p, _)| committed.find_partition(&topic, *p).unwrap().offset())
            .collect();
        if got == expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "committed {got:?}, not {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut second = KafkaSource::new(config.clone(), &task(0, 1, &side)).unwrap();
    second.restore(Some(&state)).unwrap();
    let after: Vec<i64> = read(&mut second, 1000 - before.len())
        .iter()
        .flat_map(|(_, b)| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    let mut all: Vec<i64> = before.iter().chain(&after).copied().collect();
    all.sort();
    assert_eq!(
        all,
        (0..1000).collect::<Vec<_>>(),
        "no row lost or repeated"
    );

    // A fresh start from the group's offsets begins where the checkpoint was.
    config.startup = StartupMode::GroupOffsets {
        reset_to_latest: false,
    };
    config.bound = BoundedMode::LatestOffset;
    let mut from_group = KafkaSource::new(config.clone(), &task(0, 1, &side)).unwrap();
    from_group.restore(None).unwrap();
    let from_group_rows: usize = read(&mut from_group, usize::MAX)
        .iter()
        .map(|(_, b)| b.num_rows())
        .sum();
    assert_eq!(from_group_rows, after.len());

    // Latest starts at the end; specific offsets where told.
    config.startup = StartupMode::Latest;
    let mut latest = KafkaSource::new(config.clone(), &task(0, 1, &side)).unwrap();
    latest.restore(None).unwrap();
    assert!(read(&mut latest, usize::MAX).is_empty());
    config.startup = StartupMode::SpecificOffsets(BTreeMap::from([(0, 10)]));
    let mut specific = KafkaSource::new(config, &task(0, 1, &side)).unwrap();
    specific.restore(None).unwrap();
    let n: usize = read(&mut specific, usize::MAX)
        .iter()
        .map(|(_, b)| b.num_rows())
        .sum();
    assert_eq!(n, 1000 - 10);
}

#[test]
fn instances_share_partitions_and_malformed_records_are_dead_lettered() {
    let Some(broker) = broker("instances_share_partitions_and_malformed_records_are_dead_lettered")
    else {
        return;
    };
    let topic = unique("raw");
    create_topic(&broker, &topic, 4);
    let line = Arc::new(Schema::new(vec![Field::new("line", DataType::Utf8, true)]));
    let mut sink = KafkaSink::new(
        KafkaSinkConfig {
            schema: line.clone(),
            value_format: RecordFormat::Raw,
            value_fields: vec!["line".into()],
            key: None,
            partitioner: Partitioner::RoundRobin,
            ..sink_config(&broker, &topic)
        },
        0,
    )
    .unwrap();
    sink.restore(None).unwrap();
    let lines: Vec<String> = (0..40)
        .map(|i| match i % 10 {
            3 => format!("{{\"id\":{i},\"name\":"),
            7 => format!("{{\"id\":\"x{i}\"}}"),
            _ => format!("{{\"id\":{i},\"name\":\"n{i}\"}}"),
        })
        .collect();
    let batch =
        RecordBatch::try_new(line, vec![Arc::new(StringArray::from(lines.clone()))]).unwrap();
    sink.write(&batch).unwrap();
    sink.prepare_commit(1).unwrap();

    let side = Arc::new(Collected::default());
    let mut ids = Vec::new();
    for instance in 0..2 {
        let mut source = KafkaSource::new(
            source_config(&broker, &topic, None),
            &task(instance, 2, &side),
        )
        .unwrap();
        assert_eq!(
            source.partitions(),
            vec![
                format!("{topic}/{instance}"),
                format!("{topic}/{}", instance + 2)
            ]
        );
        source.restore(None).unwrap();
        for (_, b) in read(&mut source, usize::MAX) {
            ids.extend(
                b.column(0)
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .copied(),
            );
        }
    }
    ids.sort();
    let good: Vec<i64> = (0..40).filter(|i| i % 10 != 3 && i % 10 != 7).collect();
    assert_eq!(ids, good);
    let dead = side.0.lock().unwrap();
    assert_eq!(dead.len(), 8);
    for d in dead.iter() {
        assert!(
            d.origin.starts_with(&format!("topic {topic} partition ")),
            "{}",
            d.origin
        );
        assert!(lines.contains(&String::from_utf8(d.payload.clone()).unwrap()));
        assert!(!d.reason.is_empty());
    }
}

/// A changelog batch of `rows_schema()` rows: (kind, id, name).
fn changes(rows: &[(RowKind, i64, &str)]) -> RecordBatch {
    RecordBatch::try_new(
        changelog::with_row_kind(&rows_schema()),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
            changelog::row_kind_array(rows.iter().map(|r| r.0)),
        ],
    )
    .unwrap()
}

/// An upsert table of `rows_schema()` keyed by `id`, its name only in the value.
fn upsert_config(broker: &str, topic: &str) -> (KafkaSinkConfig, KafkaSourceConfig) {
    let sink = KafkaSinkConfig {
        value_fields: vec!["name".into()],
        upsert: true,
        ..sink_config(broker, topic)
    };
    let source = KafkaSourceConfig {
        schema: rows_schema(),
        value_fields: vec!["name".into()],
        key: Some((RecordFormat::Json, vec!["id".into()])),
        metadata: Vec::new(),
        upsert: true,
        ..source_config(broker, topic, None)
    };
    (sink, source)
}

/// What a bounded upsert source reads from `topic`: (kind, id, name or None), in order per
/// id.
fn upserts_in(config: &KafkaSourceConfig) -> Vec<(RowKind, i64, Option<String>)> {
    let side = Arc::new(Collected::default());
    let mut source = KafkaSource::new(config.clone(), &task(0, 1, &side)).unwrap();
    source.restore(None).unwrap();
    let mut read_back = Vec::new();
    for (_, batch) in read(&mut source, usize::MAX) {
        assert_eq!(batch.schema(), source.schema());
        let kinds = changelog::row_kinds(&batch).unwrap().unwrap();
        let ids = batch.column(0).as_primitive::<Int64Type>();
        let names = batch.column(1).as_string::<i32>();
        for (row, kind) in kinds.into_iter().enumerate() {
            let name = names.is_valid(row).then(|| names.value(row).to_string());
            read_back.push((kind, ids.value(row), name));
        }
    }
    // Keys keep their order within their partition; sort by id, stably.
    read_back.sort_by_key(|r| r.1);
    read_back
}

#[test]
fn an_upsert_sink_writes_changes_by_key_and_the_upsert_source_reads_them_as_upserts() {
    let Some(broker) =
        broker("an_upsert_sink_writes_changes_by_key_and_the_upsert_source_reads_them_as_upserts")
    else {
        return;
    };
    let topic = unique("upserts");
    create_topic(&broker, &topic, 3);
    let (sink_config, source_config) = upsert_config(&broker, &topic);
    assert!(source_config.output_schema().field(1).is_nullable());
    assert!(
        !source_config.output_schema().field(0).is_nullable(),
        "the key is never NULL"
    );
    let mut sink = KafkaSink::new(sink_config.clone(), 0).unwrap();
    sink.restore(None).unwrap();
    use RowKind::*;
    sink.write(&changes(&[
        (Insert, 1, "a"),
        (Insert, 2, "b"),
        (Insert, 3, "c"),
        // An update in place: only the new row is written.
        (UpdateBefore, 1, "a"),
        (UpdateAfter, 1, "a2"),
        (Delete, 2, "b"),
        // A retraction not followed by its key's new row is a tombstone.
        (UpdateBefore, 3, "c"),
        (UpdateAfter, 4, "d"),
    ]))
    .unwrap();
    sink.prepare_commit(1).unwrap();
    let expected = vec![
        (UpdateAfter, 1, Some("a".to_string())),
        (UpdateAfter, 1, Some("a2".to_string())),
        (UpdateAfter, 2, Some("b".to_string())),
        (Delete, 2, None),
        (UpdateAfter, 3, Some("c".to_string())),
        (Delete, 3, None),
        (UpdateAfter, 4, Some("d".to_string())),
    ];
    assert_eq!(upserts_in(&source_config), expected);

    // Buffered, only each key's last change is written, once the checkpoint comes (or the
    // buffer fills up).
    let topic = unique("buffered");
    create_topic(&broker, &topic, 3);
    let (sink_config, source_config) = upsert_config(&broker, &topic);
    let buffered = KafkaSinkConfig {
        buffer: Some(BufferFlush {
            max_rows: 3,
            interval: Duration::from_secs(3600),
        }),
        ..sink_config
    };
    let mut sink = KafkaSink::new(buffered, 0).unwrap();
    sink.restore(None).unwrap();
    sink.write(&changes(&[
        (Insert, 1, "a"),
        (UpdateBefore, 1, "a"),
        (UpdateAfter, 1, "a2"),
        (Insert, 2, "b"),
        (Delete, 2, "b"),
    ]))
    .unwrap();
    sink.prepare_commit(1).unwrap();
    assert_eq!(
        upserts_in(&source_config),
        vec![(UpdateAfter, 1, Some("a2".into())), (Delete, 2, None)]
    );
    // A third key fills the buffer: it is produced without a checkpoint.
    sink.write(&changes(&[
        (Insert, 3, "c"),
        (Insert, 4, "d"),
        (Insert, 5, "e"),
    ]))
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while upserts_in(&source_config).len() < 5 {
        assert!(
            Instant::now() < deadline,
            "the full buffer was not produced"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A repartition writer's commit marker carries the watermark it had at that checkpoint's
/// snapshot: rows written after the snapshot are held back until the next commit, so a later
/// watermark would make them late at the reader.
#[test]
fn a_repartition_commit_carries_the_watermark_of_its_checkpoint() {
    let Some(broker) = broker("a_repartition_commit_carries_the_watermark_of_its_checkpoint")
    else {
        return;
    };
    let topic = RepartitionTopic {
        properties: properties(&broker, None),
        topic: unique("wm-repartition"),
        partitions: 1,
        writers: 1,
    };
    create_topic(&broker, &topic.topic, 1);
    let key: Arc<dyn PhysicalExpr> = Arc::new(Column::new("id", 0));
    let mut writer = RepartitionSink::new(topic.clone(), vec![key], 0).unwrap();
    writer.restore(None).unwrap();
    writer.write(&rows(0..10)).unwrap();
    writer.watermark(9).unwrap();
    writer.prepare_commit(1).unwrap();
    // After checkpoint 1's snapshot: rows and a watermark that checkpoint 2 covers.
    writer.write(&rows(10..20)).unwrap();
    writer.watermark(19).unwrap();
    writer.commit(1).unwrap();

    let mut reader =
        RepartitionSource::new(topic, 0, rows_schema(), MemberCommits::default()).unwrap();
    reader.restore(None).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut released, mut watermark) = (Vec::new(), None);
    while watermark.is_none() {
        assert!(Instant::now() < deadline, "no watermark from the reader");
        match reader.poll().unwrap() {
            SourcePoll::Batch { batch, .. } => released.extend(
                batch
                    .column(0)
                    .as_primitive::<Int64Type>()
                    .values()
                    .to_vec(),
            ),
            SourcePoll::Watermark(w) => watermark = Some(w),
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    assert_eq!(released, (0..10).collect::<Vec<_>>());
    assert_eq!(
        watermark,
        Some(9),
        "the watermark ran ahead of the rows held back"
    );
}
