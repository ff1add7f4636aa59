//! Retention: which of a partition's oldest segments to delete, by size and by age.

use crate::config::TopicConfig;

/// What retention needs to know about a closed segment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SegmentStats {
    /// Bytes of the segment file.
    pub bytes: u64,
    /// Largest record timestamp in it.
    pub max_timestamp: i64,
}

/// How many of the oldest `closed` segments (oldest first, the active segment excluded) to
/// delete, so that the log start offset moves forward without gaps.
///
/// As in Kafka, a segment goes by size when the partition (`total_bytes`, active segment
/// included) stays at least `retention_bytes` large without it, and by age when its newest
/// record is older than `now_ms - retention_ms`.
pub(crate) fn segments_to_delete(
    closed: &[SegmentStats],
    total_bytes: u64,
    config: &TopicConfig,
    now_ms: i64,
) -> usize {
    let mut remaining = total_bytes;
    closed
        .iter()
        .take_while(|segment| {
            let left = remaining.saturating_sub(segment.bytes);
            let by_size = config.retention_bytes.is_some_and(|limit| left >= limit);
            let by_age = config
                .retention_ms
                .is_some_and(|ms| segment.max_timestamp < now_ms.saturating_sub(ms));
            if by_size || by_age {
                remaining = left;
            }
            by_size || by_age
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(bytes: u64, max_timestamp: i64) -> SegmentStats {
        SegmentStats {
            bytes,
            max_timestamp,
        }
    }

    #[test]
    fn size_retention_keeps_at_least_the_limit() {
        let config = TopicConfig {
            retention_bytes: Some(250),
            ..TopicConfig::new(1)
        };
        let closed = [stats(100, 0), stats(100, 0), stats(100, 0)];
        // 300 closed + 50 active = 350: dropping one leaves 250 >= 250, dropping two leaves 150.
        assert_eq!(segments_to_delete(&closed, 350, &config, 0), 1);
        assert_eq!(segments_to_delete(&closed, 349, &config, 0), 0);
        assert_eq!(segments_to_delete(&closed, 1000, &config, 0), 3);
    }

    #[test]
    fn age_retention_deletes_only_an_expired_prefix() {
        let config = TopicConfig {
            retention_ms: Some(1000),
            ..TopicConfig::new(1)
        };
        let closed = [stats(1, 100), stats(1, 5000), stats(1, 200)];
        assert_eq!(segments_to_delete(&closed, 10, &config, 6000), 1);
        assert_eq!(segments_to_delete(&closed, 10, &config, 6001), 3);
        assert_eq!(
            segments_to_delete(&closed, 10, &TopicConfig::new(1), i64::MAX),
            0
        );
    }
}
