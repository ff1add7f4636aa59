//! The log handle: a root directory of topics.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{info, warn};

use crate::config::{LogOptions, TopicConfig, validate_name};
use crate::error::{IoContext, LogError, Result};
use crate::fsutil::{sync_dir, write_atomically};
use crate::groups::GroupStore;
use crate::topic::{self, CONFIG_FILE, LOCK_FILE, Topic};

/// Prefix of a deleted topic's directory while it is being removed.
const TRASH_PREFIX: &str = ".trash-";

/// An embedded log rooted at a directory: `<root>/<topic>/<partition>/<base_offset:020>.log`.
///
/// Cheap to clone (clones share the open topics). Topics are opened on first use and stay
/// open; a writable handle then holds the topic's writer lock until the handle and every
/// `Arc<Topic>` from it are dropped.
#[derive(Clone)]
pub struct Log {
    inner: Arc<Inner>,
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Log")
            .field("root", &self.inner.root)
            .field("read_only", &self.inner.options.read_only)
            .finish()
    }
}

struct Inner {
    root: PathBuf,
    options: LogOptions,
    topics: Mutex<HashMap<String, Arc<Topic>>>,
    readers: Mutex<HashMap<String, Arc<Topic>>>,
    groups: GroupStore,
}

impl Log {
    /// Opens (a writable handle creates) the log at `root`.
    pub fn open(root: impl AsRef<Path>, options: LogOptions) -> Result<Log> {
        let root = root.as_ref().to_path_buf();
        if options.read_only {
            fs::read_dir(&root).at(&root)?;
        } else {
            fs::create_dir_all(&root).at(&root)?;
            remove_trash(&root)?;
        }
        Ok(Log {
            inner: Arc::new(Inner {
                groups: GroupStore::new(&root),
                root,
                options,
                topics: Mutex::new(HashMap::new()),
                readers: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Whether the handle was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.inner.options.read_only
    }

    /// Creates a topic and opens it for writing.
    pub fn create_topic(&self, name: &str, config: TopicConfig) -> Result<Arc<Topic>> {
        self.writable("create a topic")?;
        validate_name("topic", name)?;
        config.validate()?;
        let mut topics = self.cache();
        if topics.contains_key(name) {
            return Err(LogError::TopicExists(name.to_string()));
        }
        let dir = self.root().join(name);
        fs::create_dir_all(&dir).at(&dir)?;
        let lock = topic::lock_writer(&dir, name)?;
        if topic::exists(&dir)? {
            return Err(LogError::TopicExists(name.to_string()));
        }
        // Leftovers of an interrupted creation: no topic.json, so nothing was ever visible.
        for entry in fs::read_dir(&dir).at(&dir)? {
            let entry = entry.at(&dir)?;
            if entry.file_name() != LOCK_FILE {
                let path = entry.path();
                fs::remove_dir_all(&path).at(&path)?;
            }
        }
        Topic::create_partitions(&dir, &config)?;
        let json = serde_json::to_vec_pretty(&config).expect("topic config serializes to JSON");
        write_atomically(&dir.join(CONFIG_FILE), &json)?;
        sync_dir(self.root())?;
        info!(
            topic = name,
            partitions = config.partitions,
            "created topic"
        );
        let topic = Arc::new(Topic::open(&dir, name, Some(lock))?);
        topics.insert(name.to_string(), topic.clone());
        Ok(topic)
    }

    /// Opens a topic: for writing (taking its writer lock, failing with
    /// [`LogError::Locked`] if another writer has it) or, on a read-only handle, for reading.
    /// Later calls return the same `Arc`.
    pub fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        validate_name("topic", name)?;
        let mut topics = self.cache();
        if let Some(topic) = topics.get(name) {
            return Ok(topic.clone());
        }
        let dir = self.root().join(name);
        if !topic::exists(&dir)? {
            return Err(LogError::UnknownTopic(name.to_string()));
        }
        let lock = match self.is_read_only() {
            true => None,
            false => Some(topic::lock_writer(&dir, name)?),
        };
        let topic = Arc::new(Topic::open(&dir, name, lock)?);
        topics.insert(name.to_string(), topic.clone());
        Ok(topic)
    }

    /// Opens a topic to read it, never taking its writer lock: the topic this handle already
    /// writes, or else a reader that follows the files as whichever process writes them (a
    /// collector, say) appends. Later calls return the same `Arc`.
    pub fn topic_reader(&self, name: &str) -> Result<Arc<Topic>> {
        validate_name("topic", name)?;
        if let Some(topic) = self.cache().get(name) {
            return Ok(topic.clone());
        }
        let mut readers = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(topic) = readers.get(name) {
            return Ok(topic.clone());
        }
        let dir = self.root().join(name);
        if !topic::exists(&dir)? {
            return Err(LogError::UnknownTopic(name.to_string()));
        }
        let topic = Arc::new(Topic::open(&dir, name, None)?);
        readers.insert(name.to_string(), topic.clone());
        Ok(topic)
    }

    /// Every topic on disk with its configuration, by name.
    pub fn topics(&self) -> Result<BTreeMap<String, TopicConfig>> {
        let root = self.root();
        let mut found = BTreeMap::new();
        for entry in fs::read_dir(root).at(root)? {
            let entry = entry.at(root)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let dir = entry.path();
            if validate_name("topic", &name).is_ok() && topic::exists(&dir)? {
                found.insert(name, topic::read_config(&dir)?);
            }
        }
        Ok(found)
    }

    /// Deletes a topic and its data. Fails with [`LogError::Locked`] while it is open for
    /// writing elsewhere, or still used through an `Arc<Topic>` of this handle.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        self.writable("delete a topic")?;
        validate_name("topic", name)?;
        let mut topics = self.cache();
        let dir = self.root().join(name);
        if !topic::exists(&dir)? {
            return Err(LogError::UnknownTopic(name.to_string()));
        }
        if let Some(open) = topics.remove(name)
            && Arc::strong_count(&open) > 1
        {
            topics.insert(name.to_string(), open);
            return Err(LogError::Locked {
                topic: name.to_string(),
                lock_file: dir.join(LOCK_FILE),
            });
        }
        let lock = topic::lock_writer(&dir, name)?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let trash = self.root().join(format!("{TRASH_PREFIX}{name}-{nanos}"));
        fs::rename(&dir, &trash).at(&dir)?;
        sync_dir(self.root())?;
        drop(lock);
        fs::remove_dir_all(&trash).at(&trash)?;
        info!(topic = name, "deleted topic");
        Ok(())
    }

    /// Fsyncs every open topic.
    pub fn flush(&self) -> Result<()> {
        self.open_topics().iter().try_for_each(|t| t.flush())
    }

    /// Applies retention to every topic this handle has open for writing (see
    /// [`Topic::enforce_retention`]); returns the number of segments deleted.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize> {
        self.writable("enforce retention")?;
        self.open_topics()
            .iter()
            .map(|t| t.enforce_retention(now_ms))
            .sum()
    }

    pub(crate) fn group_store(&self) -> &GroupStore {
        &self.inner.groups
    }

    fn open_topics(&self) -> Vec<Arc<Topic>> {
        self.cache().values().cloned().collect()
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<String, Arc<Topic>>> {
        self.inner
            .topics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn writable(&self, operation: &'static str) -> Result<()> {
        match self.is_read_only() {
            true => Err(LogError::ReadOnly(operation)),
            false => Ok(()),
        }
    }
}

/// Finishes removing topics whose deletion was interrupted.
fn remove_trash(root: &Path) -> Result<()> {
    for entry in fs::read_dir(root).at(root)? {
        let entry = entry.at(root)?;
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(TRASH_PREFIX)
        {
            let path = entry.path();
            warn!(dir = %path.display(), "removing the rest of a deleted topic");
            fs::remove_dir_all(&path).at(&path)?;
        }
    }
    Ok(())
}
