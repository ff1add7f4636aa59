//! Versioned models in a directory:
//!
//! ```text
//! DIR/v{N}/model.json      the classifier (Classifier::to_json)
//! DIR/v{N}/reference.json  its drift reference
//! DIR/v{N}/meta.json       version, creation time, feature schema, training data range,
//!                          evaluations, threshold, sha256 of the two files above
//! DIR/LIVE                 the promoted version, e.g. "v3"
//! DIR/decisions.ndjson     append-only log of promotions: time, action, version, reason
//! ```
//!
//! Every file is written to a temporary name, synced and renamed into place; `meta.json` last,
//! so a version without it is an unfinished registration and is not listed. Loading refuses a
//! file whose sha256 differs from `meta.json`'s record, any unparsable file, and (through
//! [`LoadedModel::check_schema`]) a feature schema other than the caller's.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::drift::DriftReference;
use crate::error::{MlError, Result};
use crate::metrics::Evaluation;
use crate::model::Classifier;

const MODEL_FILE: &str = "model.json";
const REFERENCE_FILE: &str = "reference.json";
const META_FILE: &str = "meta.json";
const LIVE_FILE: &str = "LIVE";
const DECISIONS_FILE: &str = "decisions.ndjson";

/// The data a model was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRange {
    /// Event time of the first window, epoch milliseconds.
    pub from_ms: i64,
    /// Event time of the last window, epoch milliseconds.
    pub to_ms: i64,
    /// Rows trained on.
    pub rows: u64,
    /// Where the data was read from (a path).
    pub source: String,
}

/// What is registered with a model besides the model itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// The training data.
    pub data: DataRange,
    /// Evaluation on the training rows.
    pub training: Evaluation,
    /// Evaluation on the held-out rows.
    pub holdout: Evaluation,
    /// The training distribution, for drift checks in production.
    pub reference: DriftReference,
}

/// `meta.json`: the record of one registered version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// The version number (`v{version}` directory).
    pub version: u32,
    /// Registration time, RFC 3339 (UTC).
    pub created_at: String,
    /// The model's feature names, in input order.
    pub features: Vec<String>,
    /// The training data.
    pub data: DataRange,
    /// Evaluation on the training rows.
    pub training: Evaluation,
    /// Evaluation on the held-out rows.
    pub holdout: Evaluation,
    /// The model's decision threshold.
    pub threshold: f64,
    /// sha256 (hex) of `model.json`.
    pub model_sha256: String,
    /// sha256 (hex) of `reference.json`.
    pub reference_sha256: String,
}

/// A version just registered.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelVersion {
    /// Its number.
    pub version: u32,
    /// Its directory.
    pub dir: PathBuf,
}

/// A model read back from disk, checked against its `meta.json`.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    /// The version's directory.
    pub dir: PathBuf,
    /// Its record.
    pub meta: ModelMeta,
    /// The classifier.
    pub model: Classifier,
    /// The drift reference.
    pub reference: DriftReference,
}

impl LoadedModel {
    /// Refuses the model unless its features are exactly `expected`, in order.
    pub fn check_schema(&self, expected: &[String]) -> Result<()> {
        if self.meta.features == expected {
            Ok(())
        } else {
            Err(MlError::SchemaMismatch {
                origin: format!("{} field `features`", self.dir.join(META_FILE).display()),
                expected: expected.to_vec(),
                actual: self.meta.features.clone(),
            })
        }
    }
}

/// One line of `decisions.ndjson`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// When, RFC 3339 (UTC).
    pub time: String,
    /// What was done: `promote`, `keep` or `reject`.
    pub action: String,
    /// The version acted on.
    pub version: u32,
    /// Why, in the operator's words.
    pub reason: String,
}

/// A directory of model versions.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> MlError + '_ {
    move |source| MlError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn to_json<T: Serialize>(value: &T, what: &'static str) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|source| MlError::Serialize { what, source })
}

/// Writes `contents` to `path` through a synced temporary file renamed into place, then syncs
/// the directory, so that `path` holds either its old or its new contents, whole.
fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = dir.join(format!(".{file_name}.tmp"));
    let mut file = File::create(&temporary).map_err(io_error(&temporary))?;
    file.write_all(contents).map_err(io_error(&temporary))?;
    file.sync_all().map_err(io_error(&temporary))?;
    fs::rename(&temporary, path).map_err(io_error(path))?;
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(dir))
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = fs::read(path).map_err(io_error(path))?;
    serde_json::from_slice(&bytes).map_err(|error| MlError::Parse {
        path: path.to_path_buf(),
        reason: error.to_string(),
    })
}

/// Reads `path` and checks its sha256 against the one `meta.json` records.
fn read_checked(path: &Path, expected_sha256: &str) -> Result<Vec<u8>> {
    let bytes = fs::read(path).map_err(io_error(path))?;
    let actual = sha256_hex(&bytes);
    if actual != expected_sha256 {
        return Err(MlError::ChecksumMismatch {
            path: path.to_path_buf(),
            expected: expected_sha256.to_string(),
            actual,
        });
    }
    Ok(bytes)
}

/// Loads one model directory (`meta.json`, `model.json`, `reference.json`), refusing corrupt
/// or unparsable files and files that disagree with `meta.json`.
pub fn load_dir(dir: impl AsRef<Path>) -> Result<LoadedModel> {
    let dir = dir.as_ref();
    let meta_path = dir.join(META_FILE);
    let meta: ModelMeta = read_json(&meta_path)?;

    let model_path = dir.join(MODEL_FILE);
    let model_bytes = read_checked(&model_path, &meta.model_sha256)?;
    let model: Classifier =
        serde_json::from_slice(&model_bytes).map_err(|error| MlError::Parse {
            path: model_path.clone(),
            reason: error.to_string(),
        })?;
    if model.features() != meta.features {
        return Err(MlError::SchemaMismatch {
            origin: format!("{} (against {})", model_path.display(), meta_path.display()),
            expected: meta.features.clone(),
            actual: model.features().to_vec(),
        });
    }
    if model.threshold() != meta.threshold {
        return Err(MlError::Parse {
            path: meta_path,
            reason: format!(
                "threshold {} differs from model.json's {}",
                meta.threshold,
                model.threshold()
            ),
        });
    }

    let reference_path = dir.join(REFERENCE_FILE);
    let reference_bytes = read_checked(&reference_path, &meta.reference_sha256)?;
    let reference: DriftReference =
        serde_json::from_slice(&reference_bytes).map_err(|error| MlError::Parse {
            path: reference_path.clone(),
            reason: error.to_string(),
        })?;
    if reference.feature_names() != meta.features {
        return Err(MlError::SchemaMismatch {
            origin: format!(
                "{} (against {})",
                reference_path.display(),
                meta_path.display()
            ),
            expected: meta.features.clone(),
            actual: reference.feature_names(),
        });
    }
    Ok(LoadedModel {
        dir: dir.to_path_buf(),
        meta,
        model,
        reference,
    })
}

impl Registry {
    /// Opens (creating if needed) the registry in `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Registry> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        Ok(Registry { dir })
    }

    /// The registry directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn version_dir(&self, version: u32) -> PathBuf {
        self.dir.join(format!("v{version}"))
    }

    /// Every `v{N}` directory's number, finished or not, ascending.
    fn version_numbers(&self) -> Result<Vec<u32>> {
        let entries = fs::read_dir(&self.dir).map_err(io_error(&self.dir))?;
        let mut versions = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_error(&self.dir))?;
            let name = entry.file_name();
            let number = name
                .to_str()
                .and_then(|name| name.strip_prefix('v')?.parse().ok());
            if let Some(number) = number
                && entry.path().is_dir()
            {
                versions.push(number);
            }
        }
        versions.sort_unstable();
        Ok(versions)
    }

    /// Registers `model` as the next version: writes `model.json`, `reference.json`, then
    /// `meta.json`. The drift reference must cover the model's features.
    pub fn register(&self, model: &Classifier, info: TrainingInfo) -> Result<ModelVersion> {
        if info.reference.feature_names() != model.features() {
            return Err(MlError::SchemaMismatch {
                origin: "drift reference of the registered model".to_string(),
                expected: model.features().to_vec(),
                actual: info.reference.feature_names(),
            });
        }
        let model_json = model.to_json()?;
        let reference_json = to_json(&info.reference, "drift reference")?;

        // Claim a directory; another registration may claim the same number first.
        let mut version = self.version_numbers()?.last().map_or(1, |last| last + 1);
        let dir = loop {
            let dir = self.version_dir(version);
            match fs::create_dir(&dir) {
                Ok(()) => break dir,
                Err(error) if error.kind() == ErrorKind::AlreadyExists => version += 1,
                Err(source) => return Err(MlError::Io { path: dir, source }),
            }
        };

        write_atomically(&dir.join(MODEL_FILE), model_json.as_bytes())?;
        write_atomically(&dir.join(REFERENCE_FILE), reference_json.as_bytes())?;
        let meta = ModelMeta {
            version,
            created_at: now_rfc3339(),
            features: model.features().to_vec(),
            data: info.data,
            training: info.training,
            holdout: info.holdout,
            threshold: model.threshold(),
            model_sha256: sha256_hex(model_json.as_bytes()),
            reference_sha256: sha256_hex(reference_json.as_bytes()),
        };
        write_atomically(
            &dir.join(META_FILE),
            to_json(&meta, "model meta")?.as_bytes(),
        )?;
        Ok(ModelVersion { version, dir })
    }

    /// The records of all finished versions, by version.
    pub fn list(&self) -> Result<Vec<ModelMeta>> {
        let mut metas = Vec::new();
        for version in self.version_numbers()? {
            let meta_path = self.version_dir(version).join(META_FILE);
            if meta_path.exists() {
                metas.push(read_json(&meta_path)?);
            }
        }
        Ok(metas)
    }

    /// Loads one version (see [`load_dir`]).
    pub fn load(&self, version: u32) -> Result<LoadedModel> {
        let dir = self.version_dir(version);
        if !dir.join(META_FILE).exists() {
            return Err(MlError::UnknownVersion {
                registry: self.dir.clone(),
                version,
            });
        }
        load_dir(dir)
    }

    /// Makes `version` the live one, after checking that it loads, and logs the decision.
    pub fn promote(&self, version: u32, reason: &str) -> Result<()> {
        self.load(version)?;
        write_atomically(
            &self.dir.join(LIVE_FILE),
            format!("v{version}\n").as_bytes(),
        )?;
        self.log_decision("promote", version, reason)
    }

    /// Appends a decision about `version` to the log (`promote` does so itself; a retrain
    /// that keeps the live model or rejects a challenger logs `keep` or `reject`).
    pub fn log_decision(&self, action: &str, version: u32, reason: &str) -> Result<()> {
        let decision = Decision {
            time: now_rfc3339(),
            action: action.to_string(),
            version,
            reason: reason.to_string(),
        };
        let mut line = serde_json::to_string(&decision).map_err(|source| MlError::Serialize {
            what: "decision",
            source,
        })?;
        line.push('\n');
        let log_path = self.dir.join(DECISIONS_FILE);
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_error(&log_path))?;
        log.write_all(line.as_bytes())
            .map_err(io_error(&log_path))?;
        log.sync_all().map_err(io_error(&log_path))
    }

    /// The live version's number, if one was promoted.
    pub fn live_version(&self) -> Result<Option<u32>> {
        let live_path = self.dir.join(LIVE_FILE);
        let contents = match fs::read_to_string(&live_path) {
            Ok(contents) => contents,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(MlError::Io {
                    path: live_path,
                    source,
                });
            }
        };
        let version = contents
            .trim()
            .strip_prefix('v')
            .and_then(|number| number.parse().ok())
            .ok_or_else(|| MlError::Parse {
                path: live_path.clone(),
                reason: format!("expected `v<number>`, found {:?}", contents.trim()),
            })?;
        Ok(Some(version))
    }

    /// The live model, if one was promoted.
    pub fn live(&self) -> Result<Option<LoadedModel>> {
        self.live_version()?
            .map(|version| self.load(version))
            .transpose()
    }

    /// Every logged decision, oldest first.
    pub fn decisions(&self) -> Result<Vec<Decision>> {
        let log_path = self.dir.join(DECISIONS_FILE);
        let contents = match fs::read_to_string(&log_path) {
            Ok(contents) => contents,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(MlError::Io {
                    path: log_path,
                    source,
                });
            }
        };
        contents
            .lines()
            .enumerate()
            .map(|(index, line)| {
                serde_json::from_str(line).map_err(|error| MlError::Parse {
                    path: log_path.clone(),
                    reason: format!("line {}: {error}", index + 1),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::evaluate;
    use crate::model::TrainOptions;
    use crate::model::tests::synthetic;

    fn trained(seed: u64) -> (Classifier, TrainingInfo) {
        let data = synthetic(600, 4, seed);
        let options = TrainOptions {
            trees: 10,
            max_depth: 3,
            seed,
            ..TrainOptions::default()
        };
        let model = Classifier::train(&data, &options).unwrap();
        let scores = model.predict_proba(&data.column_slices()).unwrap();
        let evaluation = evaluate(&scores, &data.labels, model.threshold()).unwrap();
        let info = TrainingInfo {
            data: DataRange {
                from_ms: 1_700_000_000_000,
                to_ms: 1_700_086_400_000,
                rows: 600,
                source: "fleet/windows.parquet".to_string(),
            },
            training: evaluation.clone(),
            holdout: evaluation,
            reference: DriftReference::from_dataset(&data).unwrap(),
        };
        (model, info)
    }

    fn registry_with_two_versions() -> (tempfile::TempDir, Registry, Classifier) {
        let temp = tempfile::tempdir().unwrap();
        let registry = Registry::open(temp.path().join("models")).unwrap();
        let (first, first_info) = trained(1);
        let (second, second_info) = trained(2);
        assert_eq!(registry.register(&first, first_info).unwrap().version, 1);
        assert_eq!(registry.register(&second, second_info).unwrap().version, 2);
        (temp, registry, second)
    }

    #[test]
    fn register_writes_checksummed_files_and_lists_them() {
        let (_temp, registry, second) = registry_with_two_versions();
        let metas = registry.list().unwrap();
        assert_eq!(
            metas.iter().map(|meta| meta.version).collect::<Vec<_>>(),
            vec![1, 2]
        );
        let meta = &metas[1];
        assert_eq!(meta.features, vec!["f0", "f1", "f2", "f3"]);
        assert_eq!(meta.data.rows, 600);
        assert_eq!(meta.threshold, second.threshold());
        assert!(chrono::DateTime::parse_from_rfc3339(&meta.created_at).is_ok());
        let model_bytes = fs::read(registry.dir().join("v2/model.json")).unwrap();
        assert_eq!(meta.model_sha256, sha256_hex(&model_bytes));
        assert_eq!(meta.model_sha256.len(), 64);
        // No temporary file is left behind.
        let leftovers: Vec<_> = fs::read_dir(registry.dir().join("v2"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .filter(|name| name.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());

        let loaded = registry.load(2).unwrap();
        assert!(loaded.model == second);
        assert_eq!(&loaded.meta, meta);
    }

    #[test]
    fn unfinished_registrations_are_skipped() {
        let (_temp, registry, _) = registry_with_two_versions();
        fs::create_dir(registry.dir().join("v3")).unwrap();
        assert_eq!(registry.list().unwrap().len(), 2);
        assert!(matches!(
            registry.load(3),
            Err(MlError::UnknownVersion { version: 3, .. })
        ));
        let (model, info) = trained(3);
        assert_eq!(registry.register(&model, info).unwrap().version, 4);
    }

    #[test]
    fn promote_sets_live_and_logs_decisions() {
        let (_temp, registry, second) = registry_with_two_versions();
        assert!(registry.live().unwrap().is_none());
        registry.promote(2, "holdout F1 up").unwrap();
        assert_eq!(
            fs::read_to_string(registry.dir().join("LIVE")).unwrap(),
            "v2\n"
        );
        assert!(registry.live().unwrap().unwrap().model == second);
        registry.promote(1, "rollback: false alarms").unwrap();
        assert_eq!(registry.live_version().unwrap(), Some(1));
        let decisions = registry.decisions().unwrap();
        assert_eq!(
            decisions
                .iter()
                .map(|d| (d.version, d.reason.as_str(), d.action.as_str()))
                .collect::<Vec<_>>(),
            vec![
                (2, "holdout F1 up", "promote"),
                (1, "rollback: false alarms", "promote")
            ]
        );
        assert!(matches!(
            registry.promote(7, "typo"),
            Err(MlError::UnknownVersion { version: 7, .. })
        ));
        assert_eq!(registry.decisions().unwrap().len(), 2);
    }

    #[test]
    fn corrupt_model_is_refused_naming_the_file() {
        let (_temp, registry, _) = registry_with_two_versions();
        let model_path = registry.dir().join("v2/model.json");
        let tampered = fs::read_to_string(&model_path).unwrap().replacen(
            "\"threshold\":",
            "\"threshold\": ",
            1,
        );
        fs::write(&model_path, tampered).unwrap();
        let error = registry.load(2).unwrap_err();
        assert!(
            matches!(&error, MlError::ChecksumMismatch { path, .. } if *path == model_path),
            "{error}"
        );
        // Promotion checks too: a corrupt version never goes live.
        assert!(registry.promote(2, "x").is_err());
        assert_eq!(registry.live_version().unwrap(), None);
    }

    #[test]
    fn corrupt_reference_is_refused() {
        let (_temp, registry, _) = registry_with_two_versions();
        let reference_path = registry.dir().join("v1/reference.json");
        fs::write(&reference_path, "{}").unwrap();
        assert!(
            matches!(registry.load(1), Err(MlError::ChecksumMismatch { path, .. }) if path == reference_path)
        );
    }

    #[test]
    fn unparsable_files_are_refused_naming_the_file() {
        let (_temp, registry, _) = registry_with_two_versions();
        let meta_path = registry.dir().join("v1/meta.json");
        fs::write(&meta_path, "{ not json").unwrap();
        assert!(matches!(registry.load(1), Err(MlError::Parse { path, .. }) if path == meta_path));
        assert!(matches!(registry.list(), Err(MlError::Parse { path, .. }) if path == meta_path));

        // A model.json that is garbage but whose checksum was recorded: refused as unparsable.
        let dir = registry.dir().join("v2");
        let garbage = b"{\"format_version\": 1}";
        fs::write(dir.join("model.json"), garbage).unwrap();
        let mut meta: ModelMeta = read_json(&dir.join("meta.json")).unwrap();
        meta.model_sha256 = sha256_hex(garbage);
        fs::write(dir.join("meta.json"), serde_json::to_string(&meta).unwrap()).unwrap();
        assert!(
            matches!(load_dir(&dir), Err(MlError::Parse { path, .. }) if path == dir.join("model.json"))
        );

        fs::write(registry.dir().join("LIVE"), "latest").unwrap();
        assert!(
            matches!(registry.live(), Err(MlError::Parse { path, .. }) if path.ends_with("LIVE"))
        );
    }

    #[test]
    fn schema_is_checked() {
        let (_temp, registry, _) = registry_with_two_versions();
        let loaded = load_dir(registry.dir().join("v1")).unwrap();
        let expected: Vec<String> = ["f0", "f1", "f2", "f3"].map(String::from).to_vec();
        loaded.check_schema(&expected).unwrap();
        let reordered: Vec<String> = ["f1", "f0", "f2", "f3"].map(String::from).to_vec();
        let error = loaded.check_schema(&reordered).unwrap_err();
        assert!(
            matches!(&error, MlError::SchemaMismatch { origin, .. } if origin.ends_with("v1/meta.json field `features`")),
            "{error}"
        );

        // A meta.json whose schema disagrees with model.json is refused on load.
        let dir = registry.dir().join("v1");
        let mut meta: ModelMeta = read_json(&dir.join("meta.json")).unwrap();
        meta.features = reordered;
        fs::write(dir.join("meta.json"), serde_json::to_string(&meta).unwrap()).unwrap();
        assert!(
            matches!(load_dir(&dir), Err(MlError::SchemaMismatch { origin, .. }) if origin.contains("model.json"))
        );
    }

    #[test]
    fn register_refuses_a_reference_of_other_features() {
        let temp = tempfile::tempdir().unwrap();
        let registry = Registry::open(temp.path()).unwrap();
        let (model, mut info) = trained(1);
        info.reference.features.pop();
        assert!(matches!(
            registry.register(&model, info),
            Err(MlError::SchemaMismatch { .. })
        ));
        assert!(registry.list().unwrap().is_empty());
    }
}
