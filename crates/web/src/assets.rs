//! The dashboards' files (`crates/web/assets/`), embedded in the binary so that a page loads
//! nothing from anywhere but the server that serves it.

/// An embedded file.
#[derive(Debug)]
pub(crate) struct Asset {
    /// Its name under `/dashboard/assets/` (pages are served at their own paths too).
    pub name: &'static str,
    /// Its media type.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

impl Asset {
    /// A strong `ETag`: the FNV-1a hash of the bytes, in quotes.
    pub fn etag(&self) -> String {
        let hash = self.body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("\"{hash:016x}\"")
    }
}

/// An embedded file of `crates/web/assets/`.
macro_rules! asset {
    ($dir:literal, $name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../assets/", $dir, "/", $name)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Every embedded file.
pub(crate) static ASSETS: &[Asset] = &[
    asset!("dashboard", "index.html", HTML),
    asset!("dashboard", "api.html", HTML),
    asset!("dashboard", "fleet.html", HTML),
    asset!("dashboard", "pipeline.html", HTML),
    asset!("dashboard", "console.html", HTML),
    asset!("dashboard", "style.css", "text/css; charset=utf-8"),
    asset!("dashboard", "live.js", JS),
    asset!("dashboard", "page.js", JS),
    asset!("dashboard", "svg.js", JS),
    asset!("dashboard", "topojson.js", JS),
    asset!("dashboard", "index.js", JS),
    asset!("dashboard", "api.js", JS),
    asset!("dashboard", "fleet.js", JS),
    asset!("dashboard", "model.js", JS),
    asset!("dashboard", "jobs.js", JS),
    asset!("dashboard", "pipeline.js", JS),
    asset!("dashboard", "console.js", JS),
    // Natural Earth 1:110m (public domain) from world-atlas 2.0.2 (ISC): see fetch-map.sh.
    asset!("map", "countries-110m.json", "application/json"),
];

/// The embedded file named `name`.
pub(crate) fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one `http://` string a page may hold: the SVG namespace's name, which is an
    /// identifier for `createElementNS` and is never fetched.
    const SVG_NAMESPACE: &str = "http://www.w3.org/2000/svg";

    fn text(asset: &Asset) -> &str {
        std::str::from_utf8(asset.body).unwrap_or_else(|_| panic!("{} is not UTF-8", asset.name))
    }

    #[test]
    fn pages_load_nothing_from_other_origins() {
        for asset in ASSETS {
            let text = text(asset);
            for scheme in ["http://", "https://"] {
                for (at, _) in text.match_indices(scheme) {
                    assert!(
                        text[at..].starts_with(SVG_NAMESPACE),
                        "{} names another origin: {:?}",
                        asset.name,
                        &text[at..(at + 60).min(text.len())]
                    );
                }
            }
            for protocol_relative in ["\"//", "'//", "(//", "`//"] {
                assert!(
                    !text.contains(protocol_relative),
                    "{} has a protocol-relative URL ({protocol_relative})",
                    asset.name
                );
            }
        }
    }

    #[test]
    fn what_pages_and_scripts_load_is_embedded() {
        let mut checked = 0;
        for asset in ASSETS {
            let text = text(asset);
            let absolute = text
                .match_indices("/dashboard/assets/")
                .map(|(at, _)| at + 18);
            let relative = text.match_indices("from \"./").map(|(at, _)| at + 8);
            for start in absolute.chain(relative) {
                let name: String = text[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
                    .collect();
                assert!(
                    find(&name).is_some(),
                    "{} loads {name:?}, which is not embedded",
                    asset.name
                );
                checked += 1;
            }
        }
        assert!(checked >= 10, "only {checked} references found");
    }

    #[test]
    fn etags_differ_by_content() {
        let tags: std::collections::HashSet<String> = ASSETS.iter().map(Asset::etag).collect();
        assert_eq!(tags.len(), ASSETS.len());
        assert!(find("api.html").unwrap().etag().starts_with('"'));
    }
}
