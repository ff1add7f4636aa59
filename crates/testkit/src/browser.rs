//! A headless Chromium driven through chromedriver. (Chromium's own `--screenshot`/`--dump-dom` with `--virtual-time-budget` never
//! finish on these pages: virtual time stops while a fetch is pending, and a live table's
//! event stream stays open.)

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// Kills the child process when dropped.
#[derive(Debug)]
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A browser session; chromedriver is stopped when it is dropped.
#[derive(Debug)]
pub struct Browser {
    /// The WebDriver session, for what the methods here do not cover.
    pub client: Client,
    _driver: Reaped,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A session in a 1400×900 window, or `None` (said loudly) without chromium and
    /// chromedriver on the PATH.
    pub async fn start() -> Option<Browser> {
        Browser::start_sized(1400, 900).await
    }

    /// A session in a `width`×`height` window, or `None` (said loudly) without chromium and
    /// chromedriver on the PATH.
    pub async fn start_sized(width: u32, height: u32) -> Option<Browser> {
        let (Some(chromium), Some(driver)) = (
            find(&["chromium", "chromium-browser", "google-chrome"]),
            find(&["chromedriver"]),
        ) else {
            eprintln!(
                "SKIPPED: chromium and chromedriver are needed (Debian: chromium \
                 chromium-driver): the pages were not drawn"
            );
            return None;
        };
        let port = free_port();
        let driver = Reaped(
            Command::new(&driver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let profile = tempfile::tempdir().unwrap();
        let caps: serde_json::Map<String, serde_json::Value> =
            serde_json::from_value(serde_json::json!({
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        "--disable-dev-shm-usage", "--hide-scrollbars", format!("--window-size={width},{height}"),
                        format!("--user-data-dir={}", profile.path().display()),
                    ]
                }
            }))
            .unwrap();
        // chromedriver takes a moment to listen.
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => break c,
                Err(_) if started.elapsed() < Duration::from_secs(60) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("chromedriver did not start a session: {e}"),
            }
        };
        Some(Browser {
            client,
            _driver: driver,
            _profile: profile,
        })
    }

    /// Opens `url` and waits (up to `seconds`) until the JavaScript expression `condition`
    /// is true on it; the page's HTML then.
    pub async fn open(&self, url: &str, condition: &str, seconds: u64) -> String {
        self.client.goto(url).await.unwrap();
        self.wait_for(condition, seconds).await
    }

    /// Waits (up to `seconds`) until the JavaScript expression `condition` is true; the
    /// page's HTML then.
    pub async fn wait_for(&self, condition: &str, seconds: u64) -> String {
        let started = Instant::now();
        let script = format!("return Boolean({condition});");
        loop {
            let met = self.client.execute(&script, vec![]).await.unwrap();
            if met == serde_json::Value::Bool(true) {
                return self.dom().await;
            }
            if started.elapsed() > Duration::from_secs(seconds) {
                panic!(
                    "not so within {seconds} s: {condition}\n{}",
                    self.dom().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The page's HTML as it is now.
    pub async fn dom(&self) -> String {
        self.client.source().await.unwrap()
    }

    /// Clicks the element that `css` selects.
    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// A screenshot of the window, written to `png`.
    pub async fn screenshot(&self, png: &Path) {
        std::fs::write(png, self.client.screenshot().await.unwrap()).unwrap();
        println!("screenshot: {}", png.display());
    }

    /// Ends the session.
    pub async fn close(self) {
        self.client.close().await.unwrap();
    }
}
