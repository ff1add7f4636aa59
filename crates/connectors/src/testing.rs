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
