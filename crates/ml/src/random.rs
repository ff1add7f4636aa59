//! Seeded, platform-independent randomness: a string hash for group splits and a small
//! pseudo-random generator for row subsampling.

/// SplitMix64's output mix: spreads every input bit over the whole word.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Maps a 64-bit word to a uniform number in [0, 1).
fn unit_interval(word: u64) -> f64 {
    (word >> 11) as f64 / (1u64 << 53) as f64
}

/// A number in [0, 1) fixed by `seed` and `key`: FNV-1a over the key, seeded, then mixed.
pub(crate) fn hash_to_unit(seed: u64, key: &str) -> f64 {
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = 0xcbf2_9ce4_8422_2325 ^ mix(seed);
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    unit_interval(mix(hash))
}

/// SplitMix64: a tiny, fast generator whose stream is fixed by its seed.
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose stream is fixed by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next number in [0, 1).
    pub(crate) fn next_unit(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        unit_interval(mix(self.state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_on_seed_and_key_only() {
        assert_eq!(hash_to_unit(7, "truck-1"), hash_to_unit(7, "truck-1"));
        assert_ne!(hash_to_unit(7, "truck-1"), hash_to_unit(8, "truck-1"));
        assert_ne!(hash_to_unit(7, "truck-1"), hash_to_unit(7, "truck-2"));
    }

    #[test]
    fn generator_follows_the_reference_splitmix64_stream() {
        // The first outputs of SplitMix64 seeded with 0, as published with the algorithm.
        let mut generator = SplitMix64::new(0);
        for expected in [
            0xe220_a839_7b1d_cdaf_u64,
            0x6e78_9e6a_a1b9_65f4,
            0x06c4_5d18_8009_454f,
        ] {
            assert_eq!(generator.next_unit(), unit_interval(expected));
        }
    }

    #[test]
    fn generator_is_uniform_enough() {
        let mut generator = SplitMix64::new(1);
        let draws: Vec<f64> = (0..10_000).map(|_| generator.next_unit()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        // Five standard deviations of the mean of 10,000 uniforms (0.0029 each).
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.015, "mean {mean}");
        let below_tenth = draws.iter().filter(|&&d| d < 0.1).count();
        assert!((850..1150).contains(&below_tenth), "{below_tenth}");
    }
}
