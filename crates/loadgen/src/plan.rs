//! Who calls and when, drawn from a seed before the run: the normal users (country, address,
//! key, user agent) and each attack (its window, rate and clients).

use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spate_privacy::api::keys::KeyEntry;

use crate::LoadgenError;
use crate::agents::{NORMAL_AGENTS, SCANNER_AGENTS, SCRAPER_AGENT, STUFFING_AGENTS};
use crate::geo::{COUNTRIES, Country, random_ip};
use crate::images::{Photo, photos};

/// The kinds of attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttackKind {
    /// Bursts of requests with many different, unknown API keys (401s).
    CredentialStuffing,
    /// Requests over many distinct paths that do not exist (404s).
    Scanning,
    /// A high, steady rate of real requests from one client with one valid key (429s once
    /// its limit is reached).
    Scraping,
    /// A short flood from a botnet of many addresses.
    Dos,
}

impl AttackKind {
    /// Every kind, in the order they run.
    pub const ALL: [AttackKind; 4] = [
        AttackKind::CredentialStuffing,
        AttackKind::Scanning,
        AttackKind::Scraping,
        AttackKind::Dos,
    ];

    /// The name used in labels and options.
    pub fn name(self) -> &'static str {
        match self {
            AttackKind::CredentialStuffing => "credential_stuffing",
            AttackKind::Scanning => "scanning",
            AttackKind::Scraping => "scraping",
            AttackKind::Dos => "dos",
        }
    }

    /// The part of the run it takes, as fractions of the duration (before jitter).
    fn window(self) -> (f64, f64) {
        match self {
            AttackKind::CredentialStuffing => (0.12, 0.27),
            AttackKind::Scanning => (0.32, 0.42),
            AttackKind::Scraping => (0.48, 0.66),
            AttackKind::Dos => (0.74, 0.84),
        }
    }
}

impl FromStr for AttackKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AttackKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!("attack {s:?}: expected credential_stuffing, scanning, scraping or dos")
            })
    }
}

/// What the plan is drawn from.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Normal requests per second, averaged over a simulated day.
    pub rate: f64,
    /// How long the run lasts.
    pub duration: Duration,
    /// How long a simulated day lasts (the daily cycle of each country's users).
    pub day_length: Duration,
    /// The seed of every random choice.
    pub seed: u64,
    /// The attacks to run.
    pub attacks: Vec<AttackKind>,
    /// The server's API keys (from its keys file).
    pub keys: Vec<KeyEntry>,
}

/// A normal user.
#[derive(Debug, Clone)]
pub struct User {
    /// Where the user calls from.
    pub ip: Ipv4Addr,
    /// The user's API key (secret).
    pub key: String,
    /// The user agent the user sends.
    pub agent: &'static str,
}

/// One attacking client.
#[derive(Debug, Clone)]
pub struct Attacker {
    /// Where it calls from.
    pub ip: Ipv4Addr,
    /// The user agent it sends.
    pub agent: &'static str,
    /// The valid key it uses (secret, id), for scraping.
    pub key: Option<(String, String)>,
}

/// One attack.
#[derive(Debug, Clone)]
pub struct Attack {
    /// What kind.
    pub kind: AttackKind,
    /// When it starts, from the start of the run.
    pub start: Duration,
    /// When it ends, from the start of the run.
    pub end: Duration,
    /// Requests per second from all its clients together (while bursting, for stuffing).
    pub rate: f64,
    /// Its clients.
    pub clients: Vec<Attacker>,
}

/// Everything a run does, drawn from [`Settings`].
#[derive(Debug, Clone)]
pub struct Plan {
    /// The settings it was drawn from.
    pub settings: Settings,
    /// Normal users, grouped by country: `users[i]` are the users of `COUNTRIES[i]`.
    pub users: Vec<Vec<User>>,
    /// The attacks, in the order they start.
    pub attacks: Vec<Attack>,
    /// The photos normal users and scrapers upload.
    pub photos: Vec<Photo>,
}

/// How many bots the DoS botnet has.
pub const BOTNET_SIZE: usize = 120;

/// Draws the plan. Needs one key for normal users, and one more when scraping runs.
pub fn plan(settings: Settings) -> Result<Plan, LoadgenError> {
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let mut keys = settings.keys.clone();
    keys.sort_by(|a, b| a.id.cmp(&b.id));
    let scraper_key = if settings.attacks.contains(&AttackKind::Scraping) {
        if keys.len() < 2 {
            return Err(LoadgenError::Plan(
                "scraping needs two keys in the keys file: one for normal users, one for the scraper"
                    .into(),
            ));
        }
        let k = keys.remove(rng.random_range(0..keys.len()));
        Some((k.key, k.id))
    } else {
        None
    };
    if keys.is_empty() {
        return Err(LoadgenError::Plan("the keys file has no key".into()));
    }
    let rate = settings.rate;
    let population = ((rate * 10.0) as usize).clamp(50, 5000);
    let total_weight: f64 = COUNTRIES.iter().map(|c| c.weight).sum();
    let users: Vec<Vec<User>> = COUNTRIES
        .iter()
        .map(|c| {
            let n = ((population as f64 * c.weight / total_weight).ceil() as usize).max(2);
            (0..n)
                .map(|_| User {
                    ip: random_ip(&mut rng, c),
                    key: keys.choose(&mut rng).expect("keys").key.clone(),
                    agent: NORMAL_AGENTS.choose(&mut rng).expect("agents"),
                })
                .collect()
        })
        .collect();
    let mut kinds = settings.attacks.clone();
    kinds.sort();
    kinds.dedup();
    let secs = settings.duration.as_secs_f64();
    let any_country =
        |rng: &mut ChaCha8Rng| -> &'static Country { COUNTRIES.choose(rng).expect("countries") };
    let attacks = kinds
        .into_iter()
        .map(|kind| {
            let (a, b) = kind.window();
            let jitter = rng.random_range(-0.02..0.02);
            let (start, end) = ((a + jitter) * secs, (b + jitter) * secs);
            let (rate, clients) = match kind {
                AttackKind::CredentialStuffing => {
                    let country = any_country(&mut rng);
                    let clients = (0..3)
                        .map(|_| Attacker {
                            ip: random_ip(&mut rng, country),
                            agent: STUFFING_AGENTS.choose(&mut rng).expect("agents"),
                            key: None,
                        })
                        .collect();
                    ((rate * 1.5).max(10.0), clients)
                }
                AttackKind::Scanning => {
                    let country = any_country(&mut rng);
                    let clients = vec![Attacker {
                        ip: random_ip(&mut rng, country),
                        agent: SCANNER_AGENTS.choose(&mut rng).expect("agents"),
                        key: None,
                    }];
                    ((rate * 1.0).max(10.0), clients)
                }
                AttackKind::Scraping => {
                    let country = any_country(&mut rng);
                    let clients = vec![Attacker {
                        ip: random_ip(&mut rng, country),
                        agent: SCRAPER_AGENT,
                        key: scraper_key.clone(),
                    }];
                    ((rate * 1.0).max(8.0), clients)
                }
                AttackKind::Dos => {
                    let clients = (0..BOTNET_SIZE)
                        .map(|_| {
                            let country = any_country(&mut rng);
                            Attacker {
                                ip: random_ip(&mut rng, country),
                                agent: NORMAL_AGENTS.choose(&mut rng).expect("agents"),
                                key: None,
                            }
                        })
                        .collect();
                    // A flood: every bot at 4 requests/s or more, far above any user's rate.
                    ((rate * 5.0).max(BOTNET_SIZE as f64 * 4.0), clients)
                }
            };
            Attack {
                kind,
                start: Duration::from_secs_f64(start.max(0.0)),
                end: Duration::from_secs_f64(end.min(secs)),
                rate,
                clients,
            }
        })
        .collect();
    let photos = photos(&mut rng, 12);
    Ok(Plan {
        settings,
        users,
        attacks,
        photos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> KeyEntry {
        KeyEntry {
            key: k.into(),
            id: format!("id-{k}"),
            customer: "c".into(),
            plan: "pro".into(),
            rate_per_second: 20.0,
            burst: 60.0,
        }
    }

    fn settings(seed: u64) -> Settings {
        Settings {
            rate: 20.0,
            duration: Duration::from_secs(100),
            day_length: Duration::from_secs(100),
            seed,
            attacks: AttackKind::ALL.to_vec(),
            keys: vec![key("a"), key("b"), key("c")],
        }
    }

    #[test]
    fn same_seed_same_plan() {
        let (a, b) = (plan(settings(5)).unwrap(), plan(settings(5)).unwrap());
        assert_eq!(a.users[0][0].ip, b.users[0][0].ip);
        assert_eq!(a.attacks[3].clients[7].ip, b.attacks[3].clients[7].ip);
        let c = plan(settings(6)).unwrap();
        assert_ne!(a.users[0][0].ip, c.users[0][0].ip);
    }

    #[test]
    fn attacks_do_not_overlap_and_scraper_key_is_reserved() {
        let p = plan(settings(1)).unwrap();
        for pair in p.attacks.windows(2) {
            assert!(pair[0].end <= pair[1].start, "{pair:?}");
        }
        let scraper = p.attacks[2].clients[0].key.clone().unwrap();
        assert!(p.users.iter().flatten().all(|u| u.key != scraper.0));
        assert_eq!(p.attacks[3].clients.len(), BOTNET_SIZE);
    }

    #[test]
    fn scraping_needs_a_spare_key() {
        let mut s = settings(1);
        s.keys.truncate(1);
        assert!(plan(s).unwrap_err().to_string().contains("two keys"));
        let mut s = settings(1);
        s.keys.truncate(1);
        s.attacks = vec![AttackKind::Scanning];
        assert!(plan(s).is_ok());
    }

    #[test]
    fn attack_names_parse() {
        for k in AttackKind::ALL {
            assert_eq!(k.name().parse::<AttackKind>(), Ok(k));
        }
        assert!("ddos".parse::<AttackKind>().is_err());
    }
}
