//! GeoIP lookups against databases written here, in both layouts the collector reads, and
//! the enrichment of parsed lines.

use std::path::PathBuf;

use mmdb_writer::ipnet::IpNet;
use spate_collector::batch::{Batch, LineProcessor, LinesFrom, file_field};
use spate_collector::enrich::Enricher;
use spate_collector::enrich::city_db::{self, Layout};
use spate_collector::enrich::geoip::{GeoIp, Location};
use spate_collector::fingerprint::Fingerprint;
use spate_collector::parse::{Format, Parser};

fn location(
    country: &str,
    region: &str,
    city: &str,
    lat: f64,
    lon: f64,
    radius: Option<u32>,
) -> Location {
    Location {
        country: Some(country.into()),
        region: Some(region.into()),
        city: Some(city.into()),
        latitude: Some(lat),
        longitude: Some(lon),
        accuracy_radius_km: radius,
    }
}

fn entries() -> Vec<(IpNet, Location)> {
    vec![
        (
            "81.2.69.0/24".parse().unwrap(),
            location("GB", "England", "London", 51.5142, -0.0931, Some(10)),
        ),
        (
            "2.125.160.0/19".parse().unwrap(),
            location("DE", "Bavaria", "Munich", 48.1374, 11.5755, Some(50)),
        ),
        (
            "2001:218::/32".parse().unwrap(),
            location("JP", "Tokyo", "Tokyo", 35.6895, 139.6917, Some(100)),
        ),
        (
            "89.160.20.0/24".parse().unwrap(),
            Location {
                country: Some("SE".into()),
                ..Location::default()
            },
        ),
    ]
}

fn database(dir: &std::path::Path, layout: Layout) -> PathBuf {
    let path = dir.join(format!("{layout:?}.mmdb"));
    std::fs::write(&path, city_db::write(layout, &entries()).unwrap()).unwrap();
    path
}

#[test]
fn both_layouts_answer_the_same() {
    let dir = tempfile::tempdir().unwrap();
    for layout in [Layout::Flat, Layout::GeoIp2] {
        let geoip = GeoIp::open(&[database(dir.path(), layout)], 16).unwrap();
        let london = geoip
            .locate("81.2.69.142".parse().unwrap())
            .unwrap()
            .unwrap();
        let radius = match layout {
            // The flat layout has no accuracy radius.
            Layout::Flat => None,
            Layout::GeoIp2 => Some(10),
        };
        assert_eq!(
            london,
            location("GB", "England", "London", 51.5142, -0.0931, radius),
            "{layout:?}"
        );
        let munich = geoip
            .locate("2.125.191.1".parse().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(munich.city.as_deref(), Some("Munich"));
        let tokyo = geoip
            .locate("2001:218:1::1".parse().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(tokyo.country.as_deref(), Some("JP"));
        // IPv4-mapped IPv6 is looked up as IPv4.
        let mapped = geoip
            .locate("::ffff:81.2.69.1".parse().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(mapped.city.as_deref(), Some("London"));
        // Only a country.
        let sweden = geoip
            .locate("89.160.20.1".parse().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!((sweden.country.as_deref(), sweden.city), (Some("SE"), None));
        assert_eq!(geoip.locate("192.0.2.1".parse().unwrap()).unwrap(), None);
    }
}

#[test]
fn ipv4_and_ipv6_databases_are_searched_in_order() {
    let dir = tempfile::tempdir().unwrap();
    // DB-IP's npm package ships an IPv4-only file and an IPv6 file.
    let v4 = {
        let mut writer = mmdb_writer::Writer::builder("v4-only")
            .ip_version(mmdb_writer::IpVersion::V4)
            .build();
        writer
            .insert(
                "81.2.69.0/24".parse::<IpNet>().unwrap(),
                &serde_json::json!({"country_code": "GB", "city": "London"}),
            )
            .unwrap();
        let path = dir.path().join("v4.mmdb");
        std::fs::write(&path, writer.to_bytes().unwrap()).unwrap();
        path
    };
    let v6 = database(dir.path(), Layout::Flat);
    let geoip = GeoIp::open(&[v4, v6], 16).unwrap();
    let london = geoip.locate("81.2.69.1".parse().unwrap()).unwrap().unwrap();
    assert_eq!(london.latitude, None, "the IPv4 file answers first");
    let tokyo = geoip
        .locate("2001:218::5".parse().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(tokyo.city.as_deref(), Some("Tokyo"));
    let munich = geoip
        .locate("2.125.160.9".parse().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        munich.city.as_deref(),
        Some("Munich"),
        "not in the IPv4 file"
    );
}

#[test]
fn the_caches_answer_repeated_addresses_and_shared_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut geoip = GeoIp::open(&[database(dir.path(), Layout::GeoIp2)], 16).unwrap();
    let london = r#""geo_country":"GB","geo_region":"England","geo_city":"London","geo_lat":51.5142,"geo_lon":-0.0931,"geo_accuracy_km":10"#;
    let fields =
        |geoip: &mut GeoIp, ip: &str| String::from_utf8(geoip.fields(ip).to_vec()).unwrap();
    assert_eq!(fields(&mut geoip, "81.2.69.142"), london);
    assert_eq!(fields(&mut geoip, "81.2.69.142"), london);
    // Another address of the same network: a miss of the address cache, but its record is
    // the one already decoded.
    assert_eq!(fields(&mut geoip, "81.2.69.7"), london);
    assert_eq!(
        fields(&mut geoip, "::ffff:81.2.69.7"),
        london,
        "IPv4-mapped"
    );
    assert!(fields(&mut geoip, "192.0.2.1").is_empty(), "in no network");
    assert!(geoip.fields("not an address").is_empty());
    assert!(fields(&mut geoip, "2.125.160.1").contains("Munich"));
    let stats = geoip.stats();
    assert_eq!(
        (
            stats.hits,
            stats.misses,
            stats.decoded,
            stats.unknown,
            stats.errors
        ),
        (2, 4, 2, 1, 0)
    );
    assert!(GeoIp::open(&[dir.path().join("missing.mmdb")], 2).is_err());
    assert!(GeoIp::open(&[database(dir.path(), Layout::Flat)], 0).is_err());
}

#[test]
fn a_small_cache_still_answers_every_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut geoip = GeoIp::open(&[database(dir.path(), Layout::Flat)], 1).unwrap();
    for _ in 0..3 {
        for (ip, city) in [
            ("81.2.69.1", "London"),
            ("2.125.160.1", "Munich"),
            ("2001:218::1", "Tokyo"),
        ] {
            let fields = String::from_utf8(geoip.fields(ip).to_vec()).unwrap();
            assert!(fields.contains(city), "{ip}: {fields}");
        }
    }
    let stats = geoip.stats();
    assert_eq!(stats.hits + stats.misses, 9);
}

#[test]
fn an_empty_or_corrupt_database_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("empty.mmdb", &b""[..]),
        ("corrupt.mmdb", &b"not a database"[..]),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let error = GeoIp::open(&[path], 16).unwrap_err().to_string();
        assert!(error.contains(name), "{error}");
    }
}

#[test]
fn parsed_lines_are_enriched() {
    let dir = tempfile::tempdir().unwrap();
    let geoip = GeoIp::open(&[database(dir.path(), Layout::Flat)], 16).unwrap();
    let mut processor = LineProcessor::new(
        vec![Parser::new(&Format::Json).unwrap()],
        Enricher::new(Some(geoip), 16).unwrap(),
    );
    let data = concat!(
        r#"{"ts":"2024-05-01T12:00:00Z","client_ip":"2.125.160.216","user_agent":"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)","status":200}"#,
        "\n",
        r#"{"ts":"2024-05-01T12:00:01Z","client_ip":"192.0.2.7","user_agent":null}"#,
        "\n",
    );
    let field = file_field("/logs/a.log");
    let mut batch = Batch::default();
    let from = LinesFrom {
        fingerprint: Fingerprint(0xabc),
        file: "/logs/a.log",
        file_field: &field,
        offset: 100,
        line: 7,
    };
    processor.process(0, data.as_bytes(), from, 0, &mut batch);
    let events: Vec<serde_json::Value> = batch
        .records
        .iter()
        .map(|r| serde_json::from_slice(batch.value(r)).unwrap())
        .collect();
    assert_eq!(
        events[0],
        serde_json::json!({
            "ts": "2024-05-01T12:00:00Z", "client_ip": "2.125.160.216",
            "user_agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "status": 200,
            "geo_country": "DE", "geo_region": "Bavaria", "geo_city": "Munich",
            "geo_lat": 48.1374, "geo_lon": 11.5755,
            "ua_class": "bot", "ua_name": "Googlebot",
            "log_file": "/logs/a.log", "log_offset": 100,
            "event_id": "0000000000000abc-100"
        })
    );
    assert_eq!(batch.records[0].timestamp_ms, 1_714_564_800_000);
    assert_eq!(events[1]["ua_class"], "none");
    assert!(events[1].get("geo_country").is_none());
    assert_eq!(
        events[1]["log_offset"],
        100 + data.find('\n').unwrap() as u64 + 1
    );
}
