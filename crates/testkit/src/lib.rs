//! What Spate's tests share (a dev-dependency only).
//!
//! - [`Browser`]: a headless Chromium session through chromedriver, for the pages the binary
//!   serves (the dashboards, the job console, the privacy API's upload page). Tests skip,
//!   loudly, where chromium and chromedriver are missing.

#![warn(missing_docs)]

mod browser;

pub use browser::Browser;
