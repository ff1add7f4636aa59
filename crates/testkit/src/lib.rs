//! What Spate's tests share (a dev-dependency only).
//!
//! - [`Browser`]: a headless Chromium session through chromedriver, for the pages the binary
//!   serves (the dashboards, the job console, the privacy API's upload page). Tests skip,
//!   loudly, where chromium and chromedriver are missing.
//! - [`free_port`]: a loopback port for a server under test.

#![warn(missing_docs)]

mod browser;

pub use browser::{Browser, free_port};
