//! Where filesystem tables keep their files: a local directory, or a prefix of a bucket of S3
//! (`s3://bucket/prefix`) or of Alibaba OSS through its S3-compatible endpoint
//! (`oss://bucket/prefix`), reached through `object_store`.
//!
//! A part file is staged under the hidden `.staging/` until its checkpoint completes, and only
//! then made visible under its own name; readers skip names starting with `.` or `_`, as
//! Flink and Hadoop do. A local file is fsynced and renamed into place. S3 has no rename: an
//! object is written as a multipart upload to its staging key (parts going up while it is
//! written, and nothing listed until the upload is completed at the checkpoint barrier), and
//! the commit copies it to its final key (a copy inside the store) and deletes the staging
//! object. The staging object stays until its final copy exists, so a commit interrupted
//! anywhere is done again after a failure; a staging object already gone means its copy was
//! made.
//!
//! Object storage is asynchronous and the sinks and sources are not: requests run on a small
//! runtime of their own while the caller waits, which works from any thread, also from a task
//! of another runtime.

use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::client::{HttpError, HttpErrorKind};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};
use serde::{Deserialize, Serialize};
use spate_engine::EngineError;
use tokio::task::JoinHandle;

/// The size of each part of an upload but the last (S3 wants 5 MiB at least).
const PART_BYTES: usize = 8 << 20;
/// Parts one writer uploads at once.
const PARTS_IN_FLIGHT: usize = 2;
/// The bytes a reader fetches per request.
const READ_BYTES: u64 = 8 << 20;
/// The hidden directory of local files not yet committed.
pub const STAGING_DIR: &str = ".staging";

/// How to reach object storage: a table's `s3.*` options (Flink's names for its S3 file
/// systems), which take precedence over the `AWS_*` environment variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Options {
    /// `s3.access-key`.
    pub access_key: Option<String>,
    /// `s3.secret-key`.
    pub secret_key: Option<String>,
    /// `s3.endpoint`, e.g. `http://127.0.0.1:9000` or `https://oss-cn-hangzhou.aliyuncs.com`.
    pub endpoint: Option<String>,
    /// `s3.path.style.access`: `bucket` in the path rather than in the host name.
    pub path_style: Option<bool>,
}

/// Why a location cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The path is none of a local path, `s3://bucket/…` or `oss://bucket/…`.
    #[error("path '{path}': {reason}")]
    BadPath {
        /// The path.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The object store did not answer.
    #[error(
        "{url}: the object store at {endpoint} does not answer (is it running, and is the \
         endpoint right?): {message}"
    )]
    Unreachable {
        /// The location.
        url: String,
        /// The endpoint tried.
        endpoint: String,
        /// The client's error.
        message: String,
    },
    /// The object store refused the credentials.
    #[error(
        "{url}: the object store at {endpoint} refuses the credentials (access key \
         '{access_key}'): {message}"
    )]
    Credentials {
        /// The location.
        url: String,
        /// The endpoint.
        endpoint: String,
        /// The access key used.
        access_key: String,
        /// The store's answer.
        message: String,
    },
    /// The bucket does not exist.
    #[error("{url}: the object store at {endpoint} has no bucket '{bucket}'")]
    NoBucket {
        /// The location.
        url: String,
        /// The endpoint.
        endpoint: String,
        /// The bucket.
        bucket: String,
    },
    /// Another object store error.
    #[error("{url}: {source}")]
    Store {
        /// The object or location.
        url: String,
        /// The store's error.
        source: object_store::Error,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl StorageError {
    /// The error as a sink's (`sink`) or a source's error, for the connector `name`.
    pub fn engine(self, name: String, sink: bool) -> EngineError {
        match self {
            StorageError::Io { path, source } => EngineError::Io { path, source },
            other => match sink {
                true => EngineError::Sink {
                    name,
                    message: other.to_string(),
                },
                false => EngineError::Source {
                    name,
                    message: other.to_string(),
                },
            },
        }
    }
}

fn io_err(path: &Path, source: std::io::Error) -> StorageError {
    StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The runtime that object storage requests run on.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("spate-object-io")
            .enable_all()
            .build()
            .expect("the object storage runtime starts")
    })
}

/// Runs `future` on the object storage runtime and waits for it.
fn wait<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    join(runtime().spawn(future))
}

/// Waits for a task of the object storage runtime. The wait is outside tokio's cooperative
/// budget: a caller on a task of another runtime that has used up its budget would otherwise
/// be told to yield, and parked for good, since it never yields.
fn join<T>(task: JoinHandle<T>) -> T {
    match futures::executor::block_on(tokio::task::unconstrained(task)) {
        Ok(out) => out,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// A prefix of a bucket.
pub struct Bucket {
    store: Arc<AmazonS3>,
    /// `s3://bucket/prefix`.
    url: String,
    bucket: String,
    endpoint: String,
    access_key: String,
    prefix: ObjectPath,
}

/// Where a filesystem table's files are.
#[derive(Clone)]
pub enum Location {
    /// A local directory, or a file.
    Local(PathBuf),
    /// A prefix of a bucket, or an object.
    Bucket(Arc<Bucket>),
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

/// A file below a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Its path relative to the location (`""` when the location is the file).
    pub rel: String,
    /// Its size in bytes.
    pub size: u64,
}

impl FileEntry {
    /// Whether it is data: no part of its path starts with `.` or `_`, as in Flink and Hadoop
    /// (staging files, `_SUCCESS` markers).
    pub fn is_data(&self) -> bool {
        !self
            .rel
            .split('/')
            .any(|part| part.starts_with('.') || part.starts_with('_'))
    }
}

impl Location {
    /// The location `path` names: `s3://bucket/prefix`, `oss://bucket/prefix`, a `file://`
    /// URI or a local path. Object storage is configured by `options` over the `AWS_*`
    /// environment variables; nothing is contacted yet.
    pub fn parse(path: &str, options: &S3Options) -> Result<Self, StorageError> {
        let bad = |reason: &str| StorageError::BadPath {
            path: path.to_string(),
            reason: reason.to_string(),
        };
        let (scheme, rest) = match path.split_once("://") {
            None => return Ok(Location::Local(PathBuf::from(path))),
            Some(("file", rest)) => return Ok(Location::Local(PathBuf::from(rest))),
            Some((scheme @ ("s3" | "s3a" | "oss"), rest)) => (scheme, rest),
            Some(_) => return Err(bad("the schemes are s3://, oss:// and file://")),
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket: write s3://bucket/prefix"));
        }
        let prefix = ObjectPath::parse(prefix.trim_end_matches('/'))
            .map_err(|e| bad(&format!("not an object key: {e}")))?;
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 4,
                retry_timeout: std::time::Duration::from_secs(30),
            })
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                "5s",
            );
        if let Some(key) = &options.access_key {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &options.secret_key {
            builder = builder.with_secret_access_key(secret);
        }
        let endpoint = options
            .endpoint
            .clone()
            .or_else(|| builder.get_config_value(&AmazonS3ConfigKey::Endpoint));
        let oss = scheme == "oss";
        if oss && endpoint.is_none() {
            return Err(bad(
                "oss:// needs the bucket's region endpoint, e.g. 's3.endpoint' = \
                 'https://oss-cn-hangzhou.aliyuncs.com' (or AWS_ENDPOINT)",
            ));
        }
        // OSS serves virtual-hosted requests only; S3-compatible servers mostly path-style.
        let virtual_hosted = !options.path_style.unwrap_or(!oss);
        let shown_endpoint = match &endpoint {
            Some(endpoint) => {
                let endpoint = endpoint.trim_end_matches('/');
                let bucket_endpoint = match (virtual_hosted, endpoint.split_once("://")) {
                    (true, Some((scheme, host))) => format!("{scheme}://{bucket}.{host}"),
                    _ => endpoint.to_string(),
                };
                if endpoint.starts_with("http://") {
                    builder = builder.with_allow_http(true);
                }
                builder = builder
                    .with_endpoint(&bucket_endpoint)
                    .with_virtual_hosted_style_request(virtual_hosted);
                bucket_endpoint
            }
            None => {
                builder = builder.with_virtual_hosted_style_request(virtual_hosted);
                let region = builder
                    .get_config_value(&AmazonS3ConfigKey::Region)
                    .unwrap_or_else(|| "us-east-1".into());
                format!("https://s3.{region}.amazonaws.com")
            }
        };
        let access_key = builder
            .get_config_value(&AmazonS3ConfigKey::AccessKeyId)
            .unwrap_or_else(|| "(none)".into());
        let store = builder
            .build()
            .map_err(|e| bad(&format!("cannot configure the client: {e}")))?;
        Ok(Location::Bucket(Arc::new(Bucket {
            store: Arc::new(store),
            url: format!("{scheme}://{bucket}/{prefix}"),
            bucket: bucket.to_string(),
            endpoint: shown_endpoint,
            access_key,
            prefix,
        })))
    }

    /// The path or URL, for messages.
    pub fn display(&self) -> String {
        match self {
            Location::Local(path) => path.display().to_string(),
            Location::Bucket(bucket) => bucket.url.clone(),
        }
    }

    /// The path or URL of `rel` below this location, for messages.
    pub fn display_file(&self, rel: &str) -> String {
        match (self, rel) {
            (Location::Local(path), rel) => local_file(path, rel).display().to_string(),
            (_, "") => self.display(),
            (Location::Bucket(bucket), rel) => {
                format!("{}/{rel}", bucket.url.trim_end_matches('/'))
            }
        }
    }

    /// Readies the location for writing: creates a local directory (and its staging
    /// directory), or checks that the bucket answers to the credentials.
    pub fn prepare_for_writing(&self) -> Result<(), StorageError> {
        match self {
            Location::Local(dir) => {
                let staging = dir.join(STAGING_DIR);
                std::fs::create_dir_all(&staging).map_err(|e| io_err(&staging, e))
            }
            Location::Bucket(bucket) => bucket.check(),
        }
    }

    /// Every file below the location (the location itself when it is a file), hidden ones
    /// too, sorted by path.
    pub fn files(&self) -> Result<Vec<FileEntry>, StorageError> {
        let mut files = match self {
            Location::Local(path) => local_files(path)?,
            Location::Bucket(bucket) => bucket.files()?,
        };
        files.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(files)
    }

    /// The data files below the location ([`FileEntry::is_data`]), sorted by path.
    pub fn data_files(&self) -> Result<Vec<FileEntry>, StorageError> {
        Ok(self
            .files()?
            .into_iter()
            .filter(FileEntry::is_data)
            .collect())
    }

    /// Starts a part file, staged as `.staging/<name>`.
    pub fn create(&self, name: &str) -> Result<PartOutput, StorageError> {
        let staging = format!("{STAGING_DIR}/{name}");
        match self {
            Location::Local(dir) => {
                let path = dir.join(&staging);
                let file = File::create(&path).map_err(|e| io_err(&path, e))?;
                Ok(PartOutput {
                    written: 0,
                    sink: OutputSink::File {
                        file: BufWriter::with_capacity(1 << 20, file),
                        path,
                        staging,
                    },
                })
            }
            Location::Bucket(bucket) => Ok(PartOutput {
                written: 0,
                sink: OutputSink::Upload(Upload::start(bucket, &staging)?),
            }),
        }
    }

    /// Makes the file staged as `staged` visible as `rel`; a file committed already (before
    /// a failure) is left as it is.
    pub fn commit(&self, staged: &Staged, rel: &str) -> Result<(), StorageError> {
        match (self, staged) {
            (Location::Local(dir), Staged { staging }) => {
                let (from, to) = (dir.join(staging), dir.join(rel));
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
                }
                match std::fs::rename(&from, &to) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && to.exists() => Ok(()),
                    Err(e) => Err(io_err(&from, e)),
                }
            }
            (Location::Bucket(bucket), Staged { staging }) => bucket.commit(staging, rel),
        }
    }

    /// Flushes the directory entries of committed local files to disk (nothing to do on
    /// object storage).
    pub fn sync(&self) {
        if let Location::Local(dir) = self
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
    }

    /// Deletes the staged files whose names start with `prefix` (a failed run's; uploads
    /// never completed leave no object behind).
    pub fn discard_staged(&self, prefix: &str) -> Result<(), StorageError> {
        let dir = match self {
            Location::Local(dir) => dir,
            Location::Bucket(bucket) => return bucket.discard_staged(prefix),
        };
        let staging = dir.join(STAGING_DIR);
        let entries = std::fs::read_dir(&staging).map_err(|e| io_err(&staging, e))?;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(prefix) {
                std::fs::remove_file(entry.path()).map_err(|e| io_err(&entry.path(), e))?;
            }
        }
        Ok(())
    }

    /// Writes the small file `rel` (a `_SUCCESS` marker) at once.
    pub fn put(&self, rel: &str, data: Vec<u8>) -> Result<(), StorageError> {
        match self {
            Location::Local(dir) => {
                let path = dir.join(rel);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
                }
                File::create(&path)
                    .and_then(|mut f| f.write_all(&data).and_then(|()| f.sync_all()))
                    .map_err(|e| io_err(&path, e))
            }
            Location::Bucket(bucket) => {
                let key = bucket.key(rel)?;
                let store = bucket.store.clone();
                wait(async move { store.put(&key, PutPayload::from(data)).await.map(|_| ()) })
                    .map_err(|e| bucket.error(rel, e))
            }
        }
    }

    /// Opens the file `entry` for reading from byte `offset` on.
    pub fn open_read(
        &self,
        entry: &FileEntry,
        offset: u64,
    ) -> Result<Box<dyn Read + Send>, StorageError> {
        match self {
            Location::Local(path) => {
                let path = local_file(path, &entry.rel);
                let mut file = File::open(&path).map_err(|e| io_err(&path, e))?;
                file.seek(SeekFrom::Start(offset))
                    .map_err(|e| io_err(&path, e))?;
                Ok(Box::new(file))
            }
            Location::Bucket(bucket) => Ok(Box::new(ObjectReader {
                object: ObjectFile::new(bucket, entry)?,
                pos: offset,
                chunk: Bytes::new(),
            })),
        }
    }
}

/// The local file `rel` below `path` (`path` itself when `rel` is empty).
fn local_file(path: &Path, rel: &str) -> PathBuf {
    match rel {
        "" => path.to_path_buf(),
        rel => path.join(rel),
    }
}

/// The files below the local `path`, or `path` itself when it is a file.
fn local_files(path: &Path) -> Result<Vec<FileEntry>, StorageError> {
    let meta = std::fs::metadata(path).map_err(|e| io_err(path, e))?;
    if meta.is_file() {
        return Ok(vec![FileEntry {
            rel: String::new(),
            size: meta.len(),
        }]);
    }
    let mut files = Vec::new();
    let mut dirs = vec![String::new()];
    while let Some(rel) = dirs.pop() {
        let dir = path.join(&rel);
        for entry in std::fs::read_dir(&dir)
            .map_err(|e| io_err(&dir, e))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = match rel.is_empty() {
                true => name,
                false => format!("{rel}/{name}"),
            };
            match entry.metadata() {
                Ok(m) if m.is_dir() => dirs.push(child),
                Ok(m) if m.is_file() => files.push(FileEntry {
                    rel: child,
                    size: m.len(),
                }),
                _ => {}
            }
        }
    }
    Ok(files)
}

impl Bucket {
    /// The key of `rel` below the prefix.
    fn key(&self, rel: &str) -> Result<ObjectPath, StorageError> {
        let key = match (self.prefix.as_ref(), rel) {
            (prefix, "") => prefix.to_string(),
            ("", rel) => rel.to_string(),
            (prefix, rel) => format!("{prefix}/{rel}"),
        };
        ObjectPath::parse(&key).map_err(|e| StorageError::BadPath {
            path: format!("{}/{rel}", self.url),
            reason: e.to_string(),
        })
    }

    /// `e`, met on `rel`, said plainly: the endpoint does not answer, the credentials are
    /// refused or the bucket is missing.
    fn error(&self, rel: &str, e: object_store::Error) -> StorageError {
        let mut unreachable = false;
        let mut text = String::new();
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = cause {
            if let Some(http) = err.downcast_ref::<HttpError>() {
                unreachable |= matches!(
                    http.kind(),
                    HttpErrorKind::Connect | HttpErrorKind::Timeout | HttpErrorKind::Interrupted
                );
            }
            text.push_str(&err.to_string());
            text.push('\n');
            cause = err.source();
        }
        let (url, endpoint) = (self.url.clone(), self.endpoint.clone());
        if unreachable {
            return StorageError::Unreachable {
                url,
                endpoint,
                message: e.to_string(),
            };
        }
        if text.contains("NoSuchBucket") {
            return StorageError::NoBucket {
                url,
                endpoint,
                bucket: self.bucket.clone(),
            };
        }
        let refused = matches!(
            e,
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        ) || [
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "AccessDenied",
            "403 Forbidden",
        ]
        .iter()
        .any(|code| text.contains(code));
        if refused {
            let message = text
                .lines()
                .last()
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            return StorageError::Credentials {
                url,
                endpoint,
                access_key: self.access_key.clone(),
                message,
            };
        }
        StorageError::Store {
            url: match rel {
                "" => url,
                rel => format!("{}/{rel}", url.trim_end_matches('/')),
            },
            source: e,
        }
    }

    /// Checks that the bucket exists and answers to the credentials.
    fn check(&self) -> Result<(), StorageError> {
        let (store, prefix) = (self.store.clone(), self.prefix.clone());
        wait(async move { store.list_with_delimiter(Some(&prefix)).await.map(|_| ()) })
            .map_err(|e| self.error("", e))
    }

    /// The objects below the prefix, or the object the prefix names.
    fn files(&self) -> Result<Vec<FileEntry>, StorageError> {
        let (store, prefix) = (self.store.clone(), self.prefix.clone());
        let listed = wait(async move {
            let listed: Vec<_> = store.list(Some(&prefix)).try_collect().await?;
            if !listed.is_empty() || prefix.as_ref().is_empty() {
                return Ok(listed);
            }
            // The prefix may name one object: look for it beside its siblings (a HEAD of
            // a key that is a directory on s3s-fs fails rather than saying 404).
            let parts: Vec<_> = prefix.parts().collect();
            let parent = ObjectPath::from_iter(parts[..parts.len() - 1].iter().cloned());
            let siblings = store.list_with_delimiter(Some(&parent)).await?;
            Ok(siblings
                .objects
                .into_iter()
                .filter(|meta| meta.location == prefix)
                .collect())
        })
        .map_err(|e| self.error("", e))?;
        Ok(listed
            .into_iter()
            .map(|meta| FileEntry {
                rel: match meta.location.prefix_match(&self.prefix) {
                    Some(parts) => parts
                        .map(|p| p.as_ref().to_string())
                        .collect::<Vec<_>>()
                        .join("/"),
                    None => String::new(),
                },
                size: meta.size,
            })
            .collect())
    }

    /// Copies the staging object `staging` to `rel` and deletes it. A staging object that is
    /// gone was copied before (the copy is made before the delete).
    fn commit(&self, staging: &str, rel: &str) -> Result<(), StorageError> {
        let (from, to) = (self.key(staging)?, self.key(rel)?);
        let store = self.store.clone();
        wait(async move {
            match store.copy(&from, &to).await {
                Ok(()) => store.delete(&from).await,
                Err(e @ object_store::Error::NotFound { .. }) => match store.head(&to).await {
                    Ok(_) => Ok(()),
                    Err(_) => Err(e),
                },
                Err(e) => Err(e),
            }
        })
        .map_err(|e| self.error(rel, e))
    }

    /// Deletes the staging objects whose names start with `prefix`.
    fn discard_staged(&self, prefix: &str) -> Result<(), StorageError> {
        let staging = self.key(STAGING_DIR)?;
        let store = self.store.clone();
        let prefix = prefix.to_string();
        wait(async move {
            let listed: Vec<_> = store.list(Some(&staging)).try_collect().await?;
            for meta in listed {
                if meta
                    .location
                    .filename()
                    .is_some_and(|n| n.starts_with(&prefix))
                {
                    store.delete(&meta.location).await?;
                }
            }
            Ok(())
        })
        .map_err(|e| self.error(STAGING_DIR, e))
    }
}

/// A closed part file not yet committed: what a checkpoint stores of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staged {
    /// Its path relative to the location, `.staging/<name>`.
    pub staging: String,
}

/// A part file being written.
pub struct PartOutput {
    written: u64,
    sink: OutputSink,
}

enum OutputSink {
    File {
        file: BufWriter<File>,
        path: PathBuf,
        staging: String,
    },
    Upload(Upload),
}

impl PartOutput {
    /// The bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Closes the file: a local one is fsynced; an upload's last part goes up and the upload
    /// is completed.
    pub fn finish(self) -> Result<Staged, StorageError> {
        match self.sink {
            OutputSink::File {
                file,
                path,
                staging,
            } => {
                let file = file
                    .into_inner()
                    .map_err(|e| io_err(&path, e.into_error()))?;
                file.sync_all().map_err(|e| io_err(&path, e))?;
                Ok(Staged { staging })
            }
            OutputSink::Upload(upload) => upload.finish(),
        }
    }
}

impl Write for PartOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = match &mut self.sink {
            OutputSink::File { file, .. } => file.write(buf)?,
            OutputSink::Upload(upload) => upload.write(buf)?,
        };
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.sink {
            OutputSink::File { file, .. } => file.flush(),
            // Parts go up when full; the rest on `finish`.
            OutputSink::Upload(_) => Ok(()),
        }
    }
}

/// A multipart upload being written, its parts going up in the background as they fill.
struct Upload {
    bucket: Arc<Bucket>,
    rel: String,
    key: ObjectPath,
    id: String,
    buffer: Vec<u8>,
    /// The entity tags of the parts uploaded: the first ones, as parts are awaited in order.
    done: Vec<String>,
    /// The parts going up after them, in order.
    running: VecDeque<JoinHandle<object_store::Result<PartId>>>,
    /// Set once finished: nothing to abort.
    finished: bool,
}

impl Upload {
    fn start(bucket: &Arc<Bucket>, rel: &str) -> Result<Self, StorageError> {
        let key = bucket.key(rel)?;
        let (store, k) = (bucket.store.clone(), key.clone());
        let id = wait(async move { store.create_multipart(&k).await })
            .map_err(|e| bucket.error(rel, e))?;
        Ok(Upload {
            bucket: bucket.clone(),
            rel: rel.to_string(),
            key,
            id,
            buffer: Vec::with_capacity(PART_BYTES),
            done: Vec::new(),
            running: VecDeque::new(),
            finished: false,
        })
    }

    /// Starts uploading the buffer as the next part, waiting for the oldest part when
    /// [`PARTS_IN_FLIGHT`] are going up.
    fn send(&mut self) -> Result<(), StorageError> {
        let data = std::mem::replace(&mut self.buffer, Vec::with_capacity(PART_BYTES));
        let (store, key, id) = (self.bucket.store.clone(), self.key.clone(), self.id.clone());
        let index = self.done.len() + self.running.len();
        self.running.push_back(runtime().spawn(async move {
            store
                .put_part(&key, &id, index, PutPayload::from(data))
                .await
        }));
        self.settle(PARTS_IN_FLIGHT)
    }

    /// Waits for the oldest parts until at most `in_flight` are going up.
    fn settle(&mut self, in_flight: usize) -> Result<(), StorageError> {
        while self.running.len() > in_flight {
            let task = self.running.pop_front().expect("more than in_flight");
            let part = join(task).map_err(|e| self.bucket.error(&self.rel, e))?;
            self.done.push(part.content_id);
        }
        Ok(())
    }

    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= PART_BYTES {
            self.send().map_err(std::io::Error::other)?;
        }
        Ok(buf.len())
    }

    /// Uploads the last part, waits for all of them and completes the upload.
    fn finish(mut self) -> Result<Staged, StorageError> {
        if !self.buffer.is_empty() || self.done.len() + self.running.len() == 0 {
            self.send()?;
        }
        self.settle(0)?;
        let (store, key, id) = (self.bucket.store.clone(), self.key.clone(), self.id.clone());
        let parts = std::mem::take(&mut self.done)
            .into_iter()
            .map(|content_id| PartId { content_id })
            .collect();
        wait(async move { store.complete_multipart(&key, &id, parts).await })
            .map_err(|e| self.bucket.error(&self.rel, e))?;
        self.finished = true;
        Ok(Staged {
            staging: self.rel.clone(),
        })
    }
}

impl Drop for Upload {
    /// An upload given up (the job failed before its checkpoint barrier) is aborted in the
    /// background, so that its parts do not linger.
    fn drop(&mut self) {
        if !self.finished {
            let (store, key, id) = (self.bucket.store.clone(), self.key.clone(), self.id.clone());
            runtime().spawn(async move { store.abort_multipart(&key, &id).await });
        }
    }
}

/// An object read in ranges; Parquet reads it as a [`parquet::file::reader::ChunkReader`].
#[derive(Clone)]
pub struct ObjectFile {
    bucket: Arc<Bucket>,
    rel: String,
    key: ObjectPath,
    size: u64,
}

impl ObjectFile {
    fn new(bucket: &Arc<Bucket>, entry: &FileEntry) -> Result<Self, StorageError> {
        Ok(ObjectFile {
            bucket: bucket.clone(),
            rel: entry.rel.clone(),
            key: bucket.key(&entry.rel)?,
            size: entry.size,
        })
    }

    /// The object `entry` of `location`, when it is in a bucket.
    pub fn open(location: &Location, entry: &FileEntry) -> Result<Option<Self>, StorageError> {
        match location {
            Location::Local(_) => Ok(None),
            Location::Bucket(bucket) => Self::new(bucket, entry).map(Some),
        }
    }

    fn range(&self, range: Range<u64>) -> Result<Bytes, StorageError> {
        let (store, key) = (self.bucket.store.clone(), self.key.clone());
        wait(async move { store.get_range(&key, range).await })
            .map_err(|e| self.bucket.error(&self.rel, e))
    }
}

impl parquet::file::reader::Length for ObjectFile {
    fn len(&self) -> u64 {
        self.size
    }
}

impl parquet::file::reader::ChunkReader for ObjectFile {
    type T = ObjectReader;

    fn get_read(&self, start: u64) -> parquet::errors::Result<ObjectReader> {
        Ok(ObjectReader {
            object: self.clone(),
            pos: start,
            chunk: Bytes::new(),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.range(start..start + length as u64)
            .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
    }
}

/// An object read from a position on, [`READ_BYTES`] per request.
pub struct ObjectReader {
    object: ObjectFile,
    pos: u64,
    chunk: Bytes,
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.chunk.is_empty() {
            if self.pos >= self.object.size {
                return Ok(0);
            }
            let end = (self.pos + READ_BYTES).min(self.object.size);
            self.chunk = self
                .object
                .range(self.pos..end)
                .map_err(std::io::Error::other)?;
            self.pos = end;
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_local_directories_or_buckets() {
        let none = S3Options::default();
        assert!(matches!(
            Location::parse("out/dir", &none).unwrap(),
            Location::Local(p) if p == Path::new("out/dir")
        ));
        assert!(matches!(
            Location::parse("file:///tmp/x", &none).unwrap(),
            Location::Local(p) if p == Path::new("/tmp/x")
        ));
        let options = S3Options {
            endpoint: Some("http://127.0.0.1:9/".into()),
            access_key: Some("k".into()),
            secret_key: Some("s".into()),
            path_style: None,
        };
        let s3 = Location::parse("s3://b/a/dt=1/", &options).unwrap();
        assert_eq!(s3.display(), "s3://b/a/dt=1");
        assert_eq!(s3.display_file("x/y"), "s3://b/a/dt=1/x/y");
        let Location::Bucket(bucket) = &s3 else {
            panic!("a bucket")
        };
        assert_eq!(bucket.endpoint, "http://127.0.0.1:9");
        assert_eq!(bucket.key("p%3A/f").unwrap().as_ref(), "a/dt=1/p%3A/f");
        // OSS is virtual-hosted: the bucket goes into the host name.
        let oss = Location::parse("oss://logs/x", &options).unwrap();
        let Location::Bucket(bucket) = &oss else {
            panic!("a bucket")
        };
        assert_eq!(bucket.endpoint, "http://logs.127.0.0.1:9");
        for (path, says) in [
            ("s3:///x", "no bucket"),
            ("gs://b/x", "schemes are"),
            ("s3://b/a//c", "not an object key"),
        ] {
            let err = Location::parse(path, &options).unwrap_err().to_string();
            assert!(err.contains(says), "{path}: {err}");
        }
    }

    #[test]
    fn an_endpoint_that_does_not_answer_is_named() {
        // A port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let options = S3Options {
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            access_key: Some("k".into()),
            secret_key: Some("s".into()),
            path_style: Some(true),
        };
        let location = Location::parse("s3://b/t", &options).unwrap();
        let err = location.prepare_for_writing().unwrap_err();
        assert!(
            matches!(&err, StorageError::Unreachable { endpoint, .. } if endpoint.ends_with(&port.to_string())),
            "{err}"
        );
    }

    #[test]
    fn many_waits_inside_a_task_of_another_runtime_finish() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let engine = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            engine.block_on(async {
                let sum: u64 = (0..1000u64).map(|i| wait(async move { i })).sum();
                tx.send(sum).unwrap();
            });
        });
        let sum = rx.recv_timeout(std::time::Duration::from_secs(30));
        assert_eq!(sum, Ok((0..1000).sum()));
    }

    #[test]
    fn hidden_and_underscored_files_are_not_data() {
        let entry = |rel: &str| FileEntry {
            rel: rel.into(),
            size: 1,
        };
        assert!(entry("dt=1/part-0-1.csv").is_data());
        assert!(entry("").is_data());
        assert!(!entry("dt=1/_SUCCESS").is_data());
        assert!(!entry(".staging/part-0-1.inprogress").is_data());
        assert!(!entry("_temporary/x").is_data());
    }

    /// The test server's options (`SPATE_TEST_S3_*`, which `.ci/run` sets), and its bucket;
    /// `None`, said SKIPPED, without one.
    fn server(test: &str) -> Option<(S3Options, String)> {
        let Ok(endpoint) = std::env::var("SPATE_TEST_S3_ENDPOINT") else {
            eprintln!(
                "==== SKIPPED: {test}: set SPATE_TEST_S3_ENDPOINT (e.g. http://127.0.0.1:19900), SPATE_TEST_S3_ACCESS_KEY, SPATE_TEST_S3_SECRET_KEY and SPATE_TEST_S3_BUCKET ===="
            );
            return None;
        };
        let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
        let options = S3Options {
            access_key: Some(var("SPATE_TEST_S3_ACCESS_KEY")),
            secret_key: Some(var("SPATE_TEST_S3_SECRET_KEY")),
            endpoint: Some(endpoint),
            path_style: Some(true),
        };
        Some((options, var("SPATE_TEST_S3_BUCKET")))
    }

    /// A prefix of the test bucket of its own.
    fn fresh(bucket: &str, options: &S3Options, name: &str) -> Location {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let url = format!("s3://{bucket}/unit-{}-{nanos}/{name}", std::process::id());
        Location::parse(&url, options).unwrap()
    }

    fn lines(from: u64, n: u64) -> arrow::array::RecordBatch {
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Int64, false),
            arrow::datatypes::Field::new("pad", arrow::datatypes::DataType::Utf8, false),
        ]));
        let ids: Vec<i64> = (from as i64..(from + n) as i64).collect();
        let pad: Vec<String> = ids.iter().map(|i| format!("{i:0>200}")).collect();
        arrow::array::RecordBatch::try_new(
            schema,
            vec![
                Arc::new(arrow::array::Int64Array::from(ids)),
                Arc::new(arrow::array::StringArray::from(pad)),
            ],
        )
        .unwrap()
    }

    #[test]
    fn uploads_are_invisible_until_committed_and_commit_idempotently() {
        use crate::file_sink::{FileFormat, FileSink};
        use spate_engine::sink::Sink;
        let Some((options, bucket)) = server("uploads_are_invisible_until_committed") else {
            return;
        };
        let location = fresh(&bucket, &options, "t");
        let mut sink = FileSink::new(location.clone(), FileFormat::Json, 0).unwrap();
        sink.restore(None).unwrap();
        // 100,000 lines of 230 bytes: 23 MB, so parts go up before the checkpoint barrier,
        // and no object is listed while the upload is not completed.
        for k in 0..10 {
            sink.write(&lines(k * 10_000, 10_000)).unwrap();
        }
        assert!(
            location.files().unwrap().is_empty(),
            "an upload is no object"
        );
        let state = sink.prepare_commit(1).unwrap();
        let staged: Vec<String> = location
            .files()
            .unwrap()
            .into_iter()
            .map(|f| f.rel)
            .collect();
        assert_eq!(staged, [".staging/part-0-1.inprogress"]);
        assert!(
            location.data_files().unwrap().is_empty(),
            "staged files are no data"
        );
        // The job dies after the checkpoint, before its commit: the restored sink commits.
        let mut restored = FileSink::new(location.clone(), FileFormat::Json, 0).unwrap();
        restored.restore(Some(&state)).unwrap();
        let files = location.files().unwrap();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0].rel, "part-0-1.json");
        // The first instance's commit, and another restore, find it committed.
        sink.commit(1).unwrap();
        let mut again = FileSink::new(location.clone(), FileFormat::Json, 0).unwrap();
        again.restore(Some(&state)).unwrap();
        assert_eq!(location.files().unwrap(), files);
        // Rows written after the checkpoint by a job that dies are never seen; the next
        // file goes on numbering.
        again.write(&lines(100_000, 10)).unwrap();
        drop(again);
        let mut last = FileSink::new(location.clone(), FileFormat::Json, 0).unwrap();
        last.restore(Some(&state)).unwrap();
        assert_eq!(location.files().unwrap(), files);
        last.write(&lines(100_000, 10)).unwrap();
        last.prepare_commit(2).unwrap();
        last.commit(2).unwrap();
        let names: Vec<String> = location
            .files()
            .unwrap()
            .into_iter()
            .map(|f| f.rel)
            .collect();
        assert_eq!(names, ["part-0-1.json", "part-0-2.json"]);
        // A path naming one object lists that object.
        let one = Location::parse(&location.display_file("part-0-2.json"), &options).unwrap();
        let listed = one.files().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].rel, "");
        // Read back through ranged requests, 8 MB at a time.
        let mut text = String::new();
        location
            .open_read(&files[0], 0)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text.len() as u64, files[0].size);
        let ids: Vec<i64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        assert_eq!(ids, (0..100_000).collect::<Vec<i64>>());
    }

    #[test]
    fn parquet_rolls_by_size_and_reads_back_in_ranges() {
        use crate::file_sink::{FileFormat, FileSink, RollingPolicy};
        use crate::file_source::FileSource;
        use spate_engine::sink::Sink;
        use spate_engine::source::Source;
        let Some((options, bucket)) = server("parquet_rolls_by_size") else {
            return;
        };
        let location = fresh(&bucket, &options, "p");
        let mut sink = FileSink::new(location.clone(), FileFormat::Parquet, 0)
            .unwrap()
            .rolling(RollingPolicy {
                file_size: 1 << 20,
                rollover_ms: 3_600_000,
            });
        sink.restore(None).unwrap();
        for k in 0..8 {
            sink.write(&lines(k * 5_000, 5_000)).unwrap();
        }
        sink.prepare_commit(1).unwrap();
        sink.commit(1).unwrap();
        let files = location.data_files().unwrap();
        assert!(files.len() >= 4, "8 MB rolled at 1 MB: {files:?}");
        let mut source = FileSource::new(
            &location,
            FileFormat::Parquet,
            lines(0, 1).schema(),
            &crate::testing::task(0, 1),
        )
        .unwrap();
        let mut ids = Vec::new();
        loop {
            match source.poll().unwrap() {
                spate_engine::source::SourcePoll::Batch { batch, .. } => ids.extend(
                    batch
                        .column(0)
                        .as_any()
                        .downcast_ref::<arrow::array::Int64Array>()
                        .unwrap()
                        .values()
                        .iter()
                        .copied(),
                ),
                spate_engine::source::SourcePoll::Finished => break,
                _ => {}
            }
        }
        ids.sort_unstable();
        assert_eq!(ids, (0..40_000).collect::<Vec<i64>>());
    }

    #[test]
    fn wrong_keys_and_missing_buckets_are_named() {
        let Some((options, bucket)) = server("wrong_keys_and_missing_buckets_are_named") else {
            return;
        };
        let wrong = S3Options {
            secret_key: Some("not-the-secret".into()),
            ..options.clone()
        };
        let err = fresh(&bucket, &wrong, "x")
            .prepare_for_writing()
            .unwrap_err();
        assert!(matches!(err, StorageError::Credentials { .. }), "{err}");
        let err = Location::parse("s3://no-such-bucket-here/x", &options)
            .unwrap()
            .prepare_for_writing()
            .unwrap_err();
        assert!(
            matches!(&err, StorageError::NoBucket { bucket, .. } if bucket == "no-such-bucket-here"),
            "{err}"
        );
    }
}
