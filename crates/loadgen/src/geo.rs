//! Where simulated clients come from: countries with their UTC offset, a share of the users,
//! and public IPv4 blocks that regional registries allocated to large access providers there,
//! so a GeoIP database places the generated addresses in that country.

use std::net::Ipv4Addr;

use rand::Rng;

/// A country users come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Country {
    /// ISO 3166-1 alpha-2 code.
    pub code: &'static str,
    /// Hours from UTC of most of its users (daily activity follows local time).
    pub utc_offset_hours: i32,
    /// Relative share of the user population.
    pub weight: f64,
    /// Public IPv4 blocks `(first address, prefix length)` of access providers there.
    pub blocks: &'static [(Ipv4Addr, u8)],
}

/// The countries of the simulated users.
pub const COUNTRIES: &[Country] = &[
    Country {
        code: "US",
        utc_offset_hours: -5,
        weight: 20.0,
        // AT&T; Comcast.
        blocks: &[
            (Ipv4Addr::new(12, 0, 0, 0), 8),
            (Ipv4Addr::new(24, 0, 0, 0), 12),
        ],
    },
    Country {
        code: "DE",
        utc_offset_hours: 1,
        weight: 9.0,
        // Deutsche Telekom.
        blocks: &[
            (Ipv4Addr::new(91, 0, 0, 0), 10),
            (Ipv4Addr::new(84, 128, 0, 0), 10),
        ],
    },
    Country {
        code: "FR",
        utc_offset_hours: 1,
        weight: 7.0,
        // Orange.
        blocks: &[(Ipv4Addr::new(90, 0, 0, 0), 9)],
    },
    Country {
        code: "GB",
        utc_offset_hours: 0,
        weight: 7.0,
        // BT.
        blocks: &[
            (Ipv4Addr::new(86, 128, 0, 0), 10),
            (Ipv4Addr::new(81, 128, 0, 0), 11),
        ],
    },
    Country {
        code: "ES",
        utc_offset_hours: 1,
        weight: 4.0,
        // Telefónica de España.
        blocks: &[(Ipv4Addr::new(83, 32, 0, 0), 11)],
    },
    Country {
        code: "RU",
        utc_offset_hours: 3,
        weight: 4.0,
        // Beeline.
        blocks: &[(Ipv4Addr::new(95, 24, 0, 0), 13)],
    },
    Country {
        code: "IN",
        utc_offset_hours: 5,
        weight: 8.0,
        // BSNL.
        blocks: &[(Ipv4Addr::new(117, 192, 0, 0), 10)],
    },
    Country {
        code: "CN",
        utc_offset_hours: 8,
        weight: 10.0,
        // China Telecom.
        blocks: &[
            (Ipv4Addr::new(36, 96, 0, 0), 11),
            (Ipv4Addr::new(114, 80, 0, 0), 12),
        ],
    },
    Country {
        code: "VN",
        utc_offset_hours: 7,
        weight: 3.0,
        // VNPT.
        blocks: &[(Ipv4Addr::new(113, 160, 0, 0), 11)],
    },
    Country {
        code: "KR",
        utc_offset_hours: 9,
        weight: 4.0,
        // KT.
        blocks: &[(Ipv4Addr::new(121, 128, 0, 0), 10)],
    },
    Country {
        code: "JP",
        utc_offset_hours: 9,
        weight: 8.0,
        // SoftBank.
        blocks: &[(Ipv4Addr::new(126, 0, 0, 0), 8)],
    },
    Country {
        code: "AU",
        utc_offset_hours: 10,
        weight: 3.0,
        // Telstra.
        blocks: &[(Ipv4Addr::new(101, 160, 0, 0), 11)],
    },
    Country {
        code: "BR",
        utc_offset_hours: -3,
        weight: 6.0,
        // Brazilian access providers (LACNIC allocations).
        blocks: &[(Ipv4Addr::new(187, 0, 0, 0), 11)],
    },
    Country {
        code: "CA",
        utc_offset_hours: -5,
        weight: 4.0,
        // Bell Canada.
        blocks: &[(Ipv4Addr::new(70, 24, 0, 0), 13)],
    },
];

/// A random address in one of `country`'s blocks, avoiding each block's first and last
/// address.
pub fn random_ip(rng: &mut impl Rng, country: &Country) -> Ipv4Addr {
    let (base, prefix) = country.blocks[rng.random_range(0..country.blocks.len())];
    let size = 1u32 << (32 - prefix as u32);
    Ipv4Addr::from(u32::from(base) + rng.random_range(1..size - 1))
}

/// The country owning `ip` among [`COUNTRIES`], if any.
pub fn country_of(ip: Ipv4Addr) -> Option<&'static Country> {
    COUNTRIES.iter().find(|c| {
        c.blocks.iter().any(|&(base, prefix)| {
            let mask = u32::MAX << (32 - prefix as u32);
            u32::from(ip) & mask == u32::from(base)
        })
    })
}

/// How active users are at a local hour of day (0–24): lowest at 4:00, highest at 16:00,
/// between 0.1 and 1.
pub fn activity(local_hour: f64) -> f64 {
    let phase = (local_hour - 4.0) / 24.0 * std::f64::consts::TAU;
    0.1 + 0.9 * (0.5 - 0.5 * phase.cos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn addresses_fall_in_their_country_blocks() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for c in COUNTRIES {
            for _ in 0..50 {
                let ip = random_ip(&mut rng, c);
                assert_eq!(country_of(ip).map(|c| c.code), Some(c.code), "{ip}");
                assert!(!ip.is_private() && !ip.is_loopback(), "{ip}");
            }
        }
    }

    #[test]
    fn blocks_are_aligned_and_disjoint() {
        for c in COUNTRIES {
            for &(base, prefix) in c.blocks {
                let mask = u32::MAX << (32 - prefix as u32);
                assert_eq!(u32::from(base) & !mask, 0, "{base}/{prefix}");
                assert_eq!(country_of(base).map(|x| x.code), Some(c.code));
            }
        }
    }

    #[test]
    fn activity_peaks_in_the_afternoon() {
        assert!((activity(16.0) - 1.0).abs() < 1e-9);
        assert!((activity(4.0) - 0.1).abs() < 1e-9);
        assert!(activity(10.0) > activity(2.0));
    }
}
