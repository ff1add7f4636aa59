//! Kafka-compatible choice of partition for a key.

/// Kafka's `Utils.murmur2`: 32-bit MurmurHash2 over little-endian 4-byte blocks with seed
/// `0x9747b28c`.
pub fn kafka_murmur2(key: &[u8]) -> u32 {
    murmur2::murmur2(key, murmur2::KAFKA_SEED)
}

/// The partition Kafka's default partitioner gives a keyed record:
/// `toPositive(murmur2(key)) % partitions`, so that producers of both systems agree.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    (kafka_murmur2(key) & 0x7fff_ffff) % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of Kafka's `UtilsTest.testMurmur2` (Java `int` results).
    #[test]
    fn matches_kafka_utils_murmur2() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (key, expected) in cases {
            assert_eq!(
                kafka_murmur2(key) as i32,
                expected,
                "{}",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[test]
    fn partition_is_the_positive_hash_modulo_partitions() {
        // murmur2("foobar") = -790332482 = 0xd0e4_7bbe; & 0x7fff_ffff = 1357151166.
        assert_eq!(partition_for_key(b"foobar", 10), 6);
        assert_eq!(partition_for_key(b"foobar", 7), 0);
        assert_eq!(partition_for_key(b"21", 1), 0);
    }
}
