//! `spate bench collect`: nginx `combined` lines with Zipf-distributed client addresses and
//! user agents, read, parsed and enriched (GeoIP, user agent) by the collector, against a
//! baseline of plain line splitting over the same file in the same run.
//!
//! Phases, each over the whole file (in the page cache after it is written):
//!
//! 1. `split`: read in 256 KiB pieces and count newlines (memchr) — the floor; it passes
//!    over the file [`SPLIT_PASSES`] times, as one pass is too short to time in CPU ticks.
//! 2. `parse_ua`: split, parse and classify user agents, events encoded; one thread.
//! 3. `parse_geoip_ua`: the same plus GeoIP; one thread.
//! 4. `collect_discard`: the real collector (tailer, reading thread, bounded channel,
//!    shipping thread, checkpoint) into a sink that drops the events.
//! 5. `collect_log`: the same into the embedded log (appended, fsynced every commit).
//!
//! Each phase reports MiB/s of input over wall time and per CPU-second of the process (user
//! and system, all threads), and events per second. Opening the GeoIP databases (reading
//! them into memory) and starting a collector happen before a phase's clock starts: they are
//! a start-up cost, reported apart (`geoip_open_s`), not a cost per byte.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use memchr::memchr_iter;
use spate_collector::batch::{Batch, LineProcessor, LinesFrom, file_field};
use spate_collector::enrich::Enricher;
use spate_collector::enrich::city_db::{self, Layout, ipnet};
use spate_collector::enrich::geoip::{GeoIp, Location};
use spate_collector::fingerprint::Fingerprint;
use spate_collector::parse::{Format, Parser};
use spate_collector::sink::Sink;
use spate_collector::{Collector, Config, RunUntil};

use crate::bench::{cpu_seconds, round3};

/// Options of `spate bench collect`.
#[derive(Debug, Args)]
pub struct CollectBenchArgs {
    /// Lines to generate.
    #[arg(long, default_value_t = 2_000_000)]
    lines: usize,
    /// Distinct client addresses; each line's is drawn from them with a Zipf law.
    #[arg(long, default_value_t = 200_000)]
    distinct_ips: usize,
    /// The Zipf exponent of addresses (1.0: the classic web-traffic skew).
    #[arg(long, default_value_t = 1.0)]
    zipf_exponent: f64,
    /// MaxMind-format databases (such as those of `spate geoip fetch`); without, a synthetic
    /// City database of 228k /18 networks is written and used.
    #[arg(long)]
    geoip: Vec<PathBuf>,
    /// Addresses in the GeoIP cache (the collector's default).
    #[arg(long, default_value_t = 262_144)]
    geoip_cache: usize,
}

/// Counts what it is given and drops it.
struct DiscardSink;

impl Sink for DiscardSink {
    fn write(&mut self, batch: &Batch) -> spate_collector::Result<()> {
        std::hint::black_box(batch.events.as_bytes());
        Ok(())
    }

    fn flush(&mut self) -> spate_collector::Result<()> {
        Ok(())
    }

    fn describe(&self) -> String {
        "nothing (events dropped)".into()
    }
}

/// Runs the benchmark, printing one JSON line.
pub fn run(args: CollectBenchArgs, data_dir: Option<&Path>) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.lines > 0 && args.distinct_ips > 0,
        "--lines and --distinct-ips must be positive"
    );
    let temp;
    let dir = match data_dir {
        Some(d) => d.to_path_buf(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let input_dir = dir.join("bench-collect");
    std::fs::create_dir_all(&input_dir)?;
    let input = input_dir.join("access.log");
    let generated = Instant::now();
    generate(&input, &args)?;
    let bytes = std::fs::metadata(&input)?.len();
    let generate_s = generated.elapsed().as_secs_f64();

    let (databases, geoip_kind) = if args.geoip.is_empty() {
        let path = dir.join("bench-collect-city.mmdb");
        std::fs::write(
            &path,
            city_db::write(Layout::GeoIp2, &synthetic_networks())?,
        )?;
        (
            vec![path],
            "synthetic (228k /18 networks, GeoIP2 layout)".to_string(),
        )
    } else {
        let names: Vec<String> = args.geoip.iter().map(|p| p.display().to_string()).collect();
        (args.geoip.clone(), names.join(", "))
    };

    let split = measure(bytes * SPLIT_PASSES, || {
        let mut lines = 0;
        for _ in 0..SPLIT_PASSES {
            lines += split_lines(&input)?;
        }
        Ok(lines)
    })?;
    let parse_ua = measure(bytes, || process(&input, None))?;
    let opened = Instant::now();
    let geoip = GeoIp::open(&databases, args.geoip_cache)?;
    let geoip_open_s = opened.elapsed().as_secs_f64();
    let mut geoip_stats = None;
    let parse_geoip_ua = measure(bytes, || {
        let (events, processor) = process_with(&input, Some(geoip))?;
        geoip_stats = processor.enricher().geoip().map(GeoIp::stats);
        Ok(events)
    })?;
    let config = |name: &str| -> anyhow::Result<Config> {
        let text = format!(
            "name = \"{name}\"\ncheckpoint = \"{dir}/{name}.checkpoint.json\"\n\
             [[source]]\ninclude = [\"{input}\"]\nformat = \"nginx-combined\"\n\
             [geoip]\ndatabases = [{dbs}]\ncache_entries = {cache}\n\
             [sink]\ntype = \"log\"\ntopic = \"bench-collect\"\n",
            dir = dir.display(),
            input = input.display(),
            dbs = databases
                .iter()
                .map(|d| format!("\"{}\"", d.display()))
                .collect::<Vec<_>>()
                .join(", "),
            cache = args.geoip_cache,
        );
        Ok(Config::parse(&text)?)
    };
    let collector = Collector::from_config(&config("bench-discard")?, &dir, Box::new(DiscardSink))?;
    let collect_discard = measure(bytes, || Ok(collector.run(RunUntil::CaughtUp)?.0.events))?;
    let log_dir = dir.join("bench-collect-data");
    let log_config = config("bench-log")?;
    let sink = spate_collector::sink::open(&log_config.sink, &log_dir)?;
    let collector = Collector::from_config(&log_config, &dir, sink)?;
    let collect_log = measure(bytes, || Ok(collector.run(RunUntil::CaughtUp)?.0.events))?;
    for phase in [&parse_ua, &parse_geoip_ua, &collect_discard, &collect_log] {
        anyhow::ensure!(
            phase.events == args.lines as u64,
            "a phase made {} events of {} lines",
            phase.events,
            args.lines
        );
    }
    let ratio = |phase: &Phase| round3(phase.mib_per_cpu_s / split.mib_per_cpu_s);
    let figures = serde_json::json!({
        "lines": args.lines,
        "input_mib": round3(bytes as f64 / MIB),
        "bytes_per_line": round3(bytes as f64 / args.lines as f64),
        "distinct_ips": args.distinct_ips,
        "zipf_exponent": args.zipf_exponent,
        "geoip": geoip_kind,
        "geoip_open_s": round3(geoip_open_s),
        "geoip_cache_hit_rate": geoip_stats.map(|s| round3(s.hit_rate())),
        "geoip_records_decoded": geoip_stats.map(|s| s.decoded),
        "geoip_unknown_addresses": geoip_stats.map(|s| s.unknown),
        "generate_s": round3(generate_s),
        "split": split.json(),
        "parse_ua": parse_ua.json(),
        "parse_geoip_ua": parse_geoip_ua.json(),
        "collect_discard": collect_discard.json(),
        "collect_log": collect_log.json(),
        "per_core_vs_split": {
            "parse_geoip_ua": ratio(&parse_geoip_ua),
            "collect_discard": ratio(&collect_discard),
            "collect_log": ratio(&collect_log),
        },
    });
    println!("{figures}");
    std::fs::remove_dir_all(&input_dir).ok();
    std::fs::remove_dir_all(&log_dir).ok();
    Ok(())
}

const MIB: f64 = 1024.0 * 1024.0;

/// Passes of the `split` phase over the file.
const SPLIT_PASSES: u64 = 16;

/// The figures of one phase.
struct Phase {
    seconds: f64,
    cpu_seconds: f64,
    events: u64,
    mib_per_s: f64,
    mib_per_cpu_s: f64,
}

impl Phase {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "seconds": round3(self.seconds),
            "cpu_seconds": round3(self.cpu_seconds),
            "mib_per_s": round3(self.mib_per_s),
            "mib_per_s_per_core": round3(self.mib_per_cpu_s),
            "events_per_s": (self.events as f64 / self.seconds).round(),
        })
    }
}

/// Runs `phase` (which returns its event count), timing wall and process CPU.
fn measure(bytes: u64, phase: impl FnOnce() -> anyhow::Result<u64>) -> anyhow::Result<Phase> {
    let cpu = cpu_seconds();
    let started = Instant::now();
    let events = phase()?;
    let seconds = started.elapsed().as_secs_f64().max(f64::EPSILON);
    // /proc ticks are 10 ms: never below one tick.
    let cpu_seconds = (cpu_seconds() - cpu).max(0.01);
    let mib = bytes as f64 / MIB;
    Ok(Phase {
        seconds,
        cpu_seconds,
        events,
        mib_per_s: mib / seconds,
        mib_per_cpu_s: mib / cpu_seconds,
    })
}

const READ_BYTES: usize = 256 * 1024;

/// Calls `each` with every piece of whole lines of `path`, read as the tailer reads.
fn for_each_chunk(path: &Path, mut each: impl FnMut(&[u8], u64)) -> anyhow::Result<()> {
    let file = File::open(path)?;
    let mut buf = vec![0; READ_BYTES];
    let mut offset = 0;
    loop {
        let n = file.read_at(&mut buf, offset)?;
        if n == 0 {
            return Ok(());
        }
        let end = memchr::memrchr(b'\n', &buf[..n]).context("a line longer than 256 KiB")? + 1;
        each(&buf[..end], offset);
        offset += end as u64;
    }
}

fn split_lines(path: &Path) -> anyhow::Result<u64> {
    let mut lines = 0;
    for_each_chunk(path, |chunk, _| {
        lines += memchr_iter(b'\n', chunk).count() as u64;
    })?;
    Ok(lines)
}

fn process(path: &Path, geoip: Option<GeoIp>) -> anyhow::Result<u64> {
    Ok(process_with(path, geoip)?.0)
}

fn process_with(path: &Path, geoip: Option<GeoIp>) -> anyhow::Result<(u64, LineProcessor)> {
    let mut processor = LineProcessor::new(
        vec![Parser::new(&Format::NginxCombined)?],
        Enricher::new(geoip, 16_384)?,
    );
    let name = path.to_string_lossy();
    let field = file_field(&name);
    let mut batch = Batch::default();
    let mut events = 0;
    let mut line = 1;
    for_each_chunk(path, |chunk, offset| {
        let from = LinesFrom {
            fingerprint: Fingerprint(1),
            file: &name,
            file_field: &field,
            offset,
            line,
        };
        processor.process(0, chunk, from, 0, &mut batch);
        line += batch.lines;
        events += batch.records.len() as u64;
        std::hint::black_box(batch.events.as_bytes());
        batch = Batch::default();
    })?;
    Ok((events, processor))
}

/// A deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Draws ranks 0..n with P(k) ∝ 1/(k+1)^s.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (0..n)
            .map(|k| {
                total += 1.0 / ((k + 1) as f64).powf(s);
                total
            })
            .collect();
        for p in &mut cdf {
            *p /= total;
        }
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|&p| p < u).min(self.cdf.len() - 1)
    }
}

/// The address of rank `k`: spread over public IPv4 space, one in 20 IPv6 (in 2a01::/20).
fn address(k: usize) -> String {
    let mut rng = Rng(k as u64 ^ 0x5eed);
    let h = rng.next();
    if k % 20 == 19 {
        format!(
            "2a01:{:x}:{:x}::{:x}",
            (h >> 16) & 0xfff,
            (h >> 32) & 0xffff,
            h & 0xffff
        )
    } else {
        let first = 1 + (h % 223) as u8;
        format!(
            "{first}.{}.{}.{}",
            (h >> 8) & 0xff,
            (h >> 16) & 0xff,
            1 + (h >> 24) % 254
        )
    }
}

const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
    "python-requests/2.31.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "okhttp/4.12.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.5.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
    "PrivacyCam/3.2.1 (iPhone; iOS 17.4; Scale/3.00)",
    "Go-http-client/1.1",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Dalvik/2.1.0 (Linux; U; Android 13; SM-S911B Build/TP1A.220624.014)",
    "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
    "sqlmap/1.8#stable (https://sqlmap.org)",
    "Wget/1.21.4",
];

const PATHS: &[&str] = &[
    "/v1/privacy/blur",
    "/v1/privacy/blur?boxes=json",
    "/v1/privacy/blur?background=blur",
    "/",
    "/static/app.js",
    "/static/style.css",
    "/favicon.ico",
    "/metrics",
    "/.env",
    "/wp-admin/setup-config.php",
];

/// Writes `args.lines` nginx combined lines to `path`.
fn generate(path: &Path, args: &CollectBenchArgs) -> anyhow::Result<()> {
    let ips: Vec<String> = (0..args.distinct_ips).map(address).collect();
    let ip_law = Zipf::new(ips.len(), args.zipf_exponent);
    let agent_law = Zipf::new(AGENTS.len(), 1.2);
    let path_law = Zipf::new(PATHS.len(), 1.5);
    let mut rng = Rng(42);
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let start = 1_714_521_600i64; // 2024-05-01T00:00:00Z
    for i in 0..args.lines {
        let second = start + (i / 2_000) as i64; // 2,000 requests a second
        let t = chrono::DateTime::from_timestamp(second, 0).context("time")?;
        let status = match rng.below(100) {
            0..=84 => 200,
            85..=89 => 404,
            90..=93 => 401,
            94..=96 => 429,
            97..=98 => 304,
            _ => 500,
        };
        let method = if rng.below(4) == 0 { "GET" } else { "POST" };
        let referer = if rng.below(3) == 0 {
            "https://privacy.example.com/"
        } else {
            "-"
        };
        writeln!(
            out,
            "{} - - [{}] \"{method} {} HTTP/1.1\" {status} {} \"{referer}\" \"{}\"",
            ips[ip_law.sample(&mut rng)],
            t.format("%d/%b/%Y:%H:%M:%S +0000"),
            PATHS[path_law.sample(&mut rng)],
            200 + rng.below(400_000),
            AGENTS[agent_law.sample(&mut rng)],
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Real cities, for the synthetic database.
const CITIES: &[(&str, &str, &str, f64, f64)] = &[
    ("US", "California", "Los Angeles", 34.0522, -118.2437),
    ("US", "New York", "New York", 40.7128, -74.006),
    ("US", "Texas", "Dallas", 32.7767, -96.797),
    ("US", "Virginia", "Ashburn", 39.0438, -77.4874),
    ("DE", "Bavaria", "Munich", 48.1374, 11.5755),
    ("DE", "Land Berlin", "Berlin", 52.52, 13.405),
    ("GB", "England", "London", 51.5072, -0.1276),
    ("FR", "Île-de-France", "Paris", 48.8566, 2.3522),
    ("NL", "North Holland", "Amsterdam", 52.3676, 4.9041),
    ("IN", "Maharashtra", "Mumbai", 19.076, 72.8777),
    ("IN", "Karnataka", "Bengaluru", 12.9716, 77.5946),
    ("CN", "Beijing", "Beijing", 39.9042, 116.4074),
    ("CN", "Shanghai", "Shanghai", 31.2304, 121.4737),
    ("JP", "Tokyo", "Tokyo", 35.6762, 139.6503),
    ("BR", "São Paulo", "São Paulo", -23.5558, -46.6396),
    ("AU", "New South Wales", "Sydney", -33.8688, 151.2093),
    ("SG", "Central Singapore", "Singapore", 1.3521, 103.8198),
    ("RU", "Moscow", "Moscow", 55.7558, 37.6173),
    ("ZA", "Gauteng", "Johannesburg", -26.2041, 28.0473),
    ("CA", "Ontario", "Toronto", 43.6532, -79.3832),
    ("MX", "Mexico City", "Mexico City", 19.4326, -99.1332),
    ("KR", "Seoul", "Seoul", 37.5665, 126.978),
    ("NG", "Lagos", "Lagos", 6.5244, 3.3792),
    ("SE", "Stockholm County", "Stockholm", 59.3293, 18.0686),
];

/// Every /18 network of 1.0.0.0–223.255.255.255 with a city, and 2a01::/20 by /32 (not
/// 2001::/32 or 2002::/16, which an IPv6 database aliases to IPv4 space).
fn synthetic_networks() -> Vec<(ipnet::IpNet, Location)> {
    let location = |i: usize| {
        let (country, region, city, lat, lon) = CITIES[i % CITIES.len()];
        Location {
            country: Some(country.into()),
            region: Some(region.into()),
            city: Some(city.into()),
            latitude: Some(lat),
            longitude: Some(lon),
            accuracy_radius_km: Some(20 + (i % 5) as u32 * 50),
        }
    };
    let mut networks = Vec::new();
    for first in 1..=223u32 {
        for block in 0..1024u32 {
            let base = std::net::Ipv4Addr::from((first << 24) | (block << 14));
            let net = ipnet::Ipv4Net::new(base, 18).expect("valid prefix");
            networks.push((net.into(), location((first * 1024 + block) as usize * 7919)));
        }
    }
    for block in 0..4096u32 {
        let base = std::net::Ipv6Addr::new(0x2a01, block as u16, 0, 0, 0, 0, 0, 0);
        let net = ipnet::Ipv6Net::new(base, 32).expect("valid prefix");
        networks.push((net.into(), location(block as usize * 104_729)));
    }
    networks
}
