//! Measures append and fetch throughput of the embedded log (page cache, no fsync).
//!
//! `cargo run --release -p spate-log --example throughput -- [RECORDS] [VALUE_BYTES]`
//! (defaults: 1,000,000 records of 246 bytes, in batches of 1000, in a temporary directory).

use std::time::Instant;

use spate_log::{FetchedRecords, Log, LogOptions, Producer, Record, TopicConfig};

fn main() -> spate_log::Result<()> {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("a number"));
    let records = args.next().unwrap_or(1_000_000);
    let value_bytes = args.next().unwrap_or(246);
    let dir = tempfile::tempdir().expect("temporary directory");
    let log = Log::open(dir.path(), LogOptions::default())?;
    let topic = log.create_topic("bench", TopicConfig::new(1))?;

    let values: Vec<Vec<u8>> = (0..1000)
        .map(|i| {
            (0..value_bytes)
                .map(|j| b'a' + ((i + j) % 26) as u8)
                .collect()
        })
        .collect();
    let keys: Vec<String> = (0..1000).map(|i| format!("key-{i}")).collect();
    let mut batch = Vec::with_capacity(1000);
    let now = spate_log::now_ms();
    let started = Instant::now();
    let mut sent = 0;
    while sent < records {
        batch.clear();
        let n = (records - sent).min(1000);
        batch.extend(
            (0..n).map(|i| Record::new(now + i as i64, &values[i]).with_key(keys[i].as_bytes())),
        );
        topic.append(0, &batch)?;
        sent += n;
    }
    let append = started.elapsed();
    let bytes = topic.partition_info(0)?.bytes;
    report(
        "append (Topic::append, 1000/batch)",
        records,
        bytes,
        append.as_secs_f64(),
    );

    let started = Instant::now();
    let mut fetched = FetchedRecords::new();
    let (mut next, mut count, mut payload) = (0, 0, 0usize);
    while next < topic.end_offset(0)? {
        topic.fetch_into(0, next, 1 << 20, &mut fetched)?;
        for record in &fetched {
            payload += record.value.len() + record.key.map_or(0, <[u8]>::len);
            count += 1;
        }
        next = fetched.next_offset();
    }
    let fetch = started.elapsed();
    assert_eq!(count, records);
    assert!(payload >= records * value_bytes);
    report(
        "fetch  (fetch_into, 1 MiB)",
        records,
        bytes,
        fetch.as_secs_f64(),
    );

    log.create_topic("bench2", TopicConfig::new(4))?;
    let started = Instant::now();
    let mut producer = Producer::new(log.clone());
    for i in 0..records {
        producer.send(
            "bench2",
            Some(keys[i % 1000].as_bytes()),
            &values[i % 1000],
            now,
        )?;
    }
    producer.flush()?;
    let produce = started.elapsed();
    let topic2 = log.topic("bench2")?;
    let bytes2: u64 = (0..4)
        .map(|p| topic2.partition_info(p).map(|i| i.bytes))
        .sum::<spate_log::Result<_>>()?;
    report(
        "produce (Producer, 4 partitions)",
        records,
        bytes2,
        produce.as_secs_f64(),
    );
    Ok(())
}

fn report(what: &str, records: usize, bytes: u64, secs: f64) {
    println!(
        "{what:38} {records} records, {:.0} MB in {secs:.3} s: {:.0} MB/s, {:.2} M records/s",
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs,
        records as f64 / 1e6 / secs
    );
}
