//! Consumer group offsets and the batching producer.

use std::collections::BTreeMap;

use spate_log::{
    Log, LogError, LogOptions, PartitionLag, Producer, TopicConfig, partition_for_key,
};

#[test]
fn committed_offsets_survive_reopen_and_show_lag() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        let topic = log.create_topic("t", TopicConfig::new(2)).unwrap();
        let mut producer = Producer::new(log.clone());
        for i in 0..10u32 {
            producer.send_to("t", i % 2, None, b"v", 0).unwrap();
        }
        producer.flush().unwrap();
        assert_eq!(topic.end_offset(1).unwrap(), 5);
        assert_eq!(log.committed("g", "t", 0).unwrap(), None);
        log.commit("g", "t", 0, 3).unwrap();
        log.commit("g", "t", 0, 4).unwrap();
        log.commit_offsets("other", "t", &[(0, 1), (1, 5)]).unwrap();
        assert!(matches!(
            log.commit("bad/group", "t", 0, 1),
            Err(LogError::InvalidArgument(_))
        ));
    }
    let log = Log::open(dir.path(), LogOptions { read_only: true }).unwrap();
    assert_eq!(log.committed("g", "t", 0).unwrap(), Some(4));
    assert_eq!(log.committed("g", "t", 1).unwrap(), None);
    assert_eq!(log.consumer_groups().unwrap(), ["g", "other"]);
    // Commits work from read-only handles and merge with what is there.
    log.commit("g", "t", 1, 2).unwrap();
    let expected: BTreeMap<u32, u64> = [(0, 4), (1, 2)].into();
    assert_eq!(log.group_offsets("g").unwrap()["t"], expected);
    let lag = log.group_lag("g", "t").unwrap();
    assert_eq!(
        lag,
        [
            PartitionLag {
                partition: 0,
                committed: Some(4),
                end_offset: 5,
                lag: Some(1)
            },
            PartitionLag {
                partition: 1,
                committed: Some(2),
                end_offset: 5,
                lag: Some(3)
            },
        ]
    );
    assert_eq!(log.group_lag("nobody", "t").unwrap()[0].lag, None);
}

#[test]
fn producer_partitions_like_kafka_and_batches_keyless_records() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let topic = log.create_topic("t", TopicConfig::new(10)).unwrap();
    assert_eq!(topic.partition_for(Some(b"foobar")), 6);
    {
        let mut producer = Producer::new(log.clone()).with_batch_bytes(1000);
        for i in 0..100 {
            let key = format!("user-{i}");
            let partition = producer
                .send("t", Some(key.as_bytes()), b"keyed", i)
                .unwrap();
            assert_eq!(partition, partition_for_key(key.as_bytes(), 10));
        }
        for i in 0..1000 {
            producer.send("t", None, &[b'x'; 100], i).unwrap();
        }
        assert!(matches!(
            producer.send("nope", None, b"", 0),
            Err(LogError::UnknownTopic(_))
        ));
        assert!(matches!(
            producer.send_to("t", 10, None, b"", 0),
            Err(LogError::UnknownPartition { .. })
        ));
        // Dropping the producer appends what is still buffered.
    }
    let mut keyless_partitions = 0;
    let mut total = 0;
    for p in 0..10 {
        let fetched = topic.fetch(p, 0, usize::MAX).unwrap();
        let mut keyless = 0;
        for record in fetched.iter() {
            match record.key {
                Some(key) => assert_eq!(partition_for_key(key, 10), p),
                None => keyless += 1,
            }
            total += 1;
        }
        let end = topic.end_offset(p).unwrap();
        let mut next = fetched.next_offset();
        while next < end {
            let more = topic.fetch(p, next, usize::MAX).unwrap();
            keyless += more.iter().filter(|r| r.key.is_none()).count();
            total += more.len();
            next = more.next_offset();
        }
        keyless_partitions += usize::from(keyless > 0);
    }
    assert_eq!(total, 1100);
    assert!(
        keyless_partitions >= 5,
        "keyless records should spread: {keyless_partitions}"
    );
}
