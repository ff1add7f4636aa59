//! `spate loadgen api` against a real `spate api serve` (started `--without-models`, so CI
//! needs no weights: keys, limits, routes and upload checks answer as usual, and valid uploads
//! get 503), checked through the server's access log and the labels file.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::process::Command;

use serde_json::Value;

mod api_server;

use api_server::ndjson;

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

#[test]
fn loadgen_traffic_and_labels_match_the_access_log() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.csv");
    std::fs::write(
        &keys,
        "key,customer,plan,rate_per_second,burst\n\
         key-a,Alpha Fleet,pro,3,6\n\
         key-b,Beta Cars,standard,3,6\n\
         key-c,Gamma Rental,free,3,6\n\
         key-d,Delta Taxi,free,3,6\n",
    )
    .unwrap();
    let log = dir.path().join("access.log");
    let (server, target) = api_server::serve(&keys, &log);

    let labels = dir.path().join("labels.ndjson");
    let out = Command::new(SPATE)
        .args(["loadgen", "api", "--target", &target, "--rate", "4"])
        .args(["--duration", "20s", "--day-length", "20s", "--seed", "7"])
        .arg("--keys")
        .arg(&keys)
        .arg("--labels")
        .arg(&labels)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(server);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for source in [
        "normal",
        "credential_stuffing",
        "scanning",
        "scraping",
        "dos",
    ] {
        assert!(
            report["sent"][source].as_u64().unwrap_or(0) > 0,
            "{source}: {report}"
        );
    }

    let lines = ndjson(&log);
    let labels = ndjson(&labels);
    let mut attackers: HashMap<String, &str> = HashMap::new();
    for l in &labels {
        assert!(l["requests"].as_u64().unwrap() > 0, "{l}");
        attackers.insert(
            l["client_ip"].as_str().unwrap().to_string(),
            l["attack"].as_str().unwrap(),
        );
    }
    let of = |attack: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| attackers.get(l["client_ip"].as_str().unwrap()) == Some(&attack))
            .collect()
    };
    // Every client is named through X-Forwarded-For.
    assert!(lines.iter().all(|l| l["client_ip"] != "127.0.0.1"));

    let stuffing = of("credential_stuffing");
    let unauthorised = stuffing.iter().filter(|l| l["status"] == 401).count();
    assert!(unauthorised >= 10, "{unauthorised} 401s from stuffing");
    assert_eq!(unauthorised, stuffing.len());

    let scanning = of("scanning");
    let paths: BTreeSet<&str> = scanning
        .iter()
        .filter(|l| l["status"] == 404)
        .map(|l| l["path"].as_str().unwrap())
        .collect();
    assert!(paths.len() >= 8, "{paths:?}");
    assert!(paths.contains("/.env"), "{paths:?}");

    let scraping = of("scraping");
    let scraper_label = labels.iter().find(|l| l["attack"] == "scraping").unwrap();
    assert!(scraper_label["api_key"].is_string());
    assert!(
        scraping
            .iter()
            .all(|l| l["api_key"] == scraper_label["api_key"])
    );
    assert!(
        scraping.iter().any(|l| l["status"] == 429),
        "no 429 for the scraper"
    );
    assert!(scraping.iter().any(|l| l["status"] == 503));

    let bots: BTreeSet<&str> = of("dos")
        .iter()
        .map(|l| l["client_ip"].as_str().unwrap())
        .collect();
    assert!(bots.len() >= 20, "{} bots", bots.len());

    // Attackers' requests fall inside their labelled windows (with slack for a busy machine).
    let time = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    for l in &labels {
        let (start, end) = (time(&l["start"]), time(&l["end"]));
        for line in lines.iter().filter(|x| x["client_ip"] == l["client_ip"]) {
            let ts = time(&line["ts"]);
            assert!(
                ts >= start - chrono::Duration::seconds(1)
                    && ts <= end + chrono::Duration::seconds(1),
                "{line} outside {l}"
            );
        }
    }

    // Normal users come from many countries, with real keys, and get the answers of a
    // server without detectors.
    let normal: Vec<&Value> = lines
        .iter()
        .filter(|l| !attackers.contains_key(l["client_ip"].as_str().unwrap()))
        .collect();
    let countries: BTreeSet<&str> = normal
        .iter()
        .filter_map(|l| {
            let ip: Ipv4Addr = l["client_ip"].as_str().unwrap().parse().unwrap();
            spate_loadgen::geo::country_of(ip).map(|c| c.code)
        })
        .collect();
    assert!(countries.len() >= 5, "{countries:?}");
    assert!(
        normal
            .iter()
            .any(|l| l["status"] == 503 && l["api_key"].is_string())
    );
    assert!(
        normal
            .iter()
            .any(|l| l["path"] == "/" && l["status"] == 200)
    );
    let agents: BTreeSet<&str> = normal
        .iter()
        .filter_map(|l| l["user_agent"].as_str())
        .collect();
    assert!(agents.len() >= 4, "{agents:?}");
}
