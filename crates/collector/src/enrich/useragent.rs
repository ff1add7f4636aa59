//! User-agent classification: a class, the client's name and version, and its OS.
//!
//! Browsers, phones and crawlers are recognised by `woothee` (the Woothee project's shared
//! dataset). Woothee knows few HTTP libraries and no mobile-app SDKs, so a short rule table
//! runs first; it matches the product token at the start of the agent:
//!
//! | class | agents |
//! |---|---|
//! | `script` | HTTP libraries and command-line tools: curl, Wget, python-requests, urllib3, Python-urllib, httpx, aiohttp, Go-http-client, Java, Apache-HttpClient, node-fetch, axios, undici, PostmanRuntime, insomnia, HTTPie, libwww-perl, Ruby, Faraday, rest-client, GuzzleHttp, reqwest, hyper, Deno, k6, ApacheBench, PowerShell |
//! | `bot` | scanners and automation: sqlmap, Nikto, Nmap, masscan, zgrab, Nuclei, WPScan, gobuster, ffuf, dirbuster, Scrapy, HeadlessChrome, CensysInspect; then Woothee's crawlers; then any agent containing `bot`, `crawl`, `spider` or `slurp` |
//! | `app` | mobile-app HTTP stacks: okhttp, Dalvik, CFNetwork, Alamofire, Dart, Expo; and agents not starting with `Mozilla/` that name `iPhone`, `iPad` or `Android` (an app's own agent such as `Shop/4.2 (iPhone; iOS 17.1)`) |
//! | `browser` | Woothee's `pc` and `appliance` categories |
//! | `mobile` | Woothee's `smartphone` and `mobilephone` categories (mobile browsers) |
//! | `unknown` | anything else |
//! | `none` | an empty or `-` agent |
//!
//! Events get `ua_class`, `ua_name`, `ua_version` and `ua_os` (the last three only when
//! known). Results are cached by the agent text.

use hashbrown::HashMap;

use crate::error::{CollectorError, Result};
use crate::event::FieldsWriter;

/// What kind of client sent a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UaClass {
    /// A desktop browser (or a TV or console's).
    Browser,
    /// A browser on a phone or tablet.
    Mobile,
    /// A mobile app's HTTP stack.
    App,
    /// A crawler, scanner or headless automation.
    Bot,
    /// An HTTP library or command-line tool.
    Script,
    /// Not recognised.
    Unknown,
    /// No user agent sent.
    None,
}

impl UaClass {
    /// The class as events name it.
    pub fn as_str(self) -> &'static str {
        match self {
            UaClass::Browser => "browser",
            UaClass::Mobile => "mobile",
            UaClass::App => "app",
            UaClass::Bot => "bot",
            UaClass::Script => "script",
            UaClass::Unknown => "unknown",
            UaClass::None => "none",
        }
    }
}

/// A classified user agent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserAgent {
    /// The class.
    pub class: UaClass,
    /// The client's name (`Chrome`, `curl`, `Googlebot`), when known.
    pub name: Option<String>,
    /// The client's version, when known.
    pub version: Option<String>,
    /// The operating system, when known.
    pub os: Option<String>,
}

impl UserAgent {
    /// The event fields (`"ua_class":"browser",…`).
    pub fn encode(&self) -> Box<[u8]> {
        let mut fields = FieldsWriter::default();
        fields.str("ua_class", self.class.as_str());
        for (name, value) in [
            ("ua_name", &self.name),
            ("ua_version", &self.version),
            ("ua_os", &self.os),
        ] {
            if let Some(value) = value {
                fields.str(name, value);
            }
        }
        fields.finish()
    }
}

/// Product tokens of HTTP libraries and command-line tools.
const SCRIPTS: &[&str] = &[
    "curl",
    "Wget",
    "python-requests",
    "python-urllib3",
    "Python-urllib",
    "python-httpx",
    "aiohttp",
    "Go-http-client",
    "Java",
    "Apache-HttpClient",
    "node-fetch",
    "axios",
    "undici",
    "PostmanRuntime",
    "insomnia",
    "HTTPie",
    "libwww-perl",
    "Ruby",
    "Faraday",
    "rest-client",
    "GuzzleHttp",
    "reqwest",
    "hyper",
    "Deno",
    "k6",
    "ApacheBench",
];

/// Product tokens of scanners and automation.
const BOTS: &[&str] = &[
    "sqlmap",
    "Nikto",
    "masscan",
    "zgrab",
    "Nuclei",
    "WPScan",
    "gobuster",
    "ffuf",
    "dirbuster",
    "Scrapy",
    "CensysInspect",
];

/// Substrings of scanners that do not lead with their name.
const BOT_MARKERS: &[&str] = &[
    "Nmap Scripting Engine",
    "Nikto/",
    "HeadlessChrome/",
    "Nuclei -",
    "sqlmap",
];

/// Product tokens of mobile-app HTTP stacks.
const APPS: &[&str] = &["okhttp", "Dalvik", "CFNetwork", "Alamofire", "Dart", "Expo"];

/// The product token at the start of `agent` (`curl/8.5.0 …` → (`curl`, `8.5.0`)).
fn product(agent: &str) -> (&str, Option<&str>) {
    let token = agent.split([' ', ';', '(']).next().unwrap_or(agent);
    match token.split_once('/') {
        Some((name, version)) => (name, (!version.is_empty()).then_some(version)),
        None => (token, None),
    }
}

fn named(class: UaClass, name: &str, version: Option<&str>) -> UserAgent {
    UserAgent {
        class,
        name: Some(name.to_string()),
        version: version.map(str::to_string),
        os: None,
    }
}

/// Classifies `agent`.
pub fn classify(agent: &str) -> UserAgent {
    let agent = agent.trim();
    if agent.is_empty() || agent == "-" {
        return UserAgent {
            class: UaClass::None,
            name: None,
            version: None,
            os: None,
        };
    }
    let (token, version) = product(agent);
    let is = |list: &[&str]| list.iter().any(|t| t.eq_ignore_ascii_case(token));
    if is(SCRIPTS) || agent.contains("PowerShell/") {
        return named(UaClass::Script, token, version);
    }
    if is(BOTS) {
        return named(UaClass::Bot, token, version);
    }
    if let Some(marker) = BOT_MARKERS.iter().find(|m| agent.contains(**m)) {
        let name = marker.trim_end_matches(['/', ' ', '-']);
        return named(UaClass::Bot, name, None);
    }
    if is(APPS)
        || (!agent.starts_with("Mozilla/")
            && ["iPhone", "iPad", "Android"]
                .iter()
                .any(|m| agent.contains(m)))
    {
        return named(UaClass::App, token, version);
    }
    let known = |s: &str| (!s.is_empty() && s != "UNKNOWN").then(|| s.to_string());
    let result = woothee::parser::Parser::new().parse(agent);
    let class = match result.as_ref().map(|r| r.category) {
        Some("pc" | "appliance") => UaClass::Browser,
        Some("smartphone" | "mobilephone") => UaClass::Mobile,
        Some("crawler") => UaClass::Bot,
        Some("misc") if result.as_ref().is_some_and(|r| r.name == "HTTP Library") => {
            UaClass::Script
        }
        _ => {
            let lower = agent.to_ascii_lowercase();
            if ["bot", "crawl", "spider", "slurp"]
                .iter()
                .any(|m| lower.contains(m))
            {
                return named(UaClass::Bot, token, version);
            }
            UaClass::Unknown
        }
    };
    match result {
        // Woothee's catch-all crawler has no name of its own: the product token is better.
        Some(r) if r.name == "misc crawler" => named(class, token, version),
        Some(r) if class != UaClass::Unknown => UserAgent {
            class,
            name: known(r.name),
            version: known(r.version),
            os: known(r.os),
        },
        _ => named(UaClass::Unknown, token, version),
    }
}

/// The classifier with its cache of encoded fields: a hash map emptied when full, as GeoIP's.
#[derive(Debug)]
pub struct UserAgents {
    cache: HashMap<String, Box<[u8]>>,
    capacity: usize,
    hits: u64,
    misses: u64,
}

impl UserAgents {
    /// A classifier caching `cache_entries` agents.
    pub fn new(cache_entries: usize) -> Result<Self> {
        if cache_entries == 0 {
            return Err(CollectorError::Config(
                "the user-agent cache needs at least one entry".into(),
            ));
        }
        Ok(UserAgents {
            cache: HashMap::new(),
            capacity: cache_entries,
            hits: 0,
            misses: 0,
        })
    }

    /// The encoded event fields of `agent`, from the cache when it can.
    pub fn fields(&mut self, agent: &str) -> &[u8] {
        if self.cache.len() >= self.capacity && !self.cache.contains_key(agent) {
            self.cache.clear();
        }
        let mut hit = true;
        let fields = self.cache.entry_ref(agent).or_insert_with(|| {
            hit = false;
            classify(agent).encode()
        });
        if hit {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        fields
    }

    /// Cache hits and misses.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_agents_fall_in_their_class() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                UaClass::Browser,
                "Chrome",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0",
                UaClass::Browser,
                "Firefox",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
                UaClass::Mobile,
                "Safari",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
                UaClass::Mobile,
                "Chrome",
            ),
            (
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                UaClass::Bot,
                "Googlebot",
            ),
            (
                "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
                UaClass::Bot,
                "bingbot",
            ),
            ("curl/8.5.0", UaClass::Script, "curl"),
            ("python-requests/2.31.0", UaClass::Script, "python-requests"),
            ("Go-http-client/1.1", UaClass::Script, "Go-http-client"),
            ("Wget/1.21.4", UaClass::Script, "Wget"),
            ("PostmanRuntime/7.36.0", UaClass::Script, "PostmanRuntime"),
            ("okhttp/4.12.0", UaClass::App, "okhttp"),
            (
                "Dalvik/2.1.0 (Linux; U; Android 13; SM-S911B Build/TP1A.220624.014)",
                UaClass::App,
                "Dalvik",
            ),
            (
                "PrivacyCam/3.2.1 (iPhone; iOS 17.1; Scale/3.00)",
                UaClass::App,
                "PrivacyCam",
            ),
            (
                "sqlmap/1.7.12#stable (https://sqlmap.org)",
                UaClass::Bot,
                "sqlmap",
            ),
            (
                "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000003)",
                UaClass::Bot,
                "Nikto",
            ),
            (
                "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
                UaClass::Bot,
                "Nmap Scripting Engine",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
                UaClass::Bot,
                "HeadlessChrome",
            ),
            ("MyCustomSpider 0.1", UaClass::Bot, "MyCustomSpider"),
            ("frobnicator 9", UaClass::Unknown, "frobnicator"),
        ];
        for (agent, class, name) in cases {
            let ua = classify(agent);
            assert_eq!(ua.class, class, "{agent}: {ua:?}");
            assert_eq!(ua.name.as_deref(), Some(name), "{agent}: {ua:?}");
        }
        let chrome = classify(cases[0].0);
        assert_eq!(chrome.version.as_deref(), Some("120.0.0.0"));
        assert_eq!(chrome.os.as_deref(), Some("Windows 10"));
        assert_eq!(classify("curl/8.5.0").version.as_deref(), Some("8.5.0"));
        assert_eq!(classify("-").class, UaClass::None);
        assert_eq!(classify("").class, UaClass::None);
    }

    #[test]
    fn the_cache_answers_repeats() {
        let mut agents = UserAgents::new(2).unwrap();
        let fields = agents.fields("curl/8.5.0").to_vec();
        assert_eq!(
            std::str::from_utf8(&fields).unwrap(),
            r#""ua_class":"script","ua_name":"curl","ua_version":"8.5.0""#
        );
        assert_eq!(agents.fields("curl/8.5.0"), &fields[..]);
        assert_eq!(agents.stats(), (1, 1));
        // More agents than entries: each is still classified, whether the cache keeps it or
        // not.
        for _ in 0..2 {
            for (agent, class) in [
                ("Wget/1.0", "script"),
                ("okhttp/4.0", "app"),
                ("sqlmap/1.8", "bot"),
            ] {
                let fields = std::str::from_utf8(agents.fields(agent))
                    .unwrap()
                    .to_string();
                assert!(
                    fields.contains(&format!(r#""ua_class":"{class}""#)),
                    "{agent}: {fields}"
                );
            }
        }
        let (hits, misses) = agents.stats();
        assert_eq!(hits + misses, 8);
        assert!(
            misses >= 4,
            "two entries cannot hold three agents: {misses}"
        );
    }
}
