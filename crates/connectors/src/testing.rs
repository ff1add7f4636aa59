//! Helpers shared by the unit tests.

use spate_engine::operator::TaskInfo;

/// The task of instance `instance` of `parallelism`, with no side outputs connected.
pub fn task(instance: usize, parallelism: usize) -> TaskInfo {
    TaskInfo {
        name: format!("test[{instance}]"),
        instance,
        parallelism,
        side_outputs: Default::default(),
        metrics: Default::default(),
    }
}

/// Everything a single-partition source emits until it finishes; its partition 0 must finish.
pub fn drain(source: &mut dyn spate_engine::source::Source) -> Vec<arrow::array::RecordBatch> {
    use spate_engine::source::SourcePoll;
    let mut batches = Vec::new();
    let mut partition_finished = false;
    loop {
        match source.poll().unwrap() {
            SourcePoll::Batch { batch, .. } => batches.push(batch),
            SourcePoll::Idle | SourcePoll::Watermark(_) => {
                std::thread::sleep(std::time::Duration::from_millis(1))
            }
            SourcePoll::PartitionFinished(0) => partition_finished = true,
            SourcePoll::PartitionFinished(p) => panic!("no partition {p}"),
            SourcePoll::Finished => break,
        }
    }
    assert!(partition_finished);
    batches
}
