//! Line formats: each parser reads one line (without its newline) and writes its fields into
//! an [`EventBuf`], or says why the line is malformed. `spate collect parse` and the
//! collector use the same parsers.
//!
//! - [`clf`]: nginx `combined`, Apache `common` and `combined`.
//! - [`json`]: JSON lines.
//! - [`regex`]: a regular expression with named groups.
//! - [`time`]: the timestamp formats they read and the one events are written in.

pub mod clf;
pub mod json;
pub mod regex;
pub mod time;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::error::{CollectorError, Result};
use crate::event::EventBuf;

/// The fields the collector adds to every event; an input field of the same name is
/// replaced (JSON) or refused (regex group names).
pub const ADDED_FIELDS: [&str; 13] = [
    "geo_country",
    "geo_region",
    "geo_city",
    "geo_lat",
    "geo_lon",
    "geo_accuracy_km",
    "ua_class",
    "ua_name",
    "ua_version",
    "ua_os",
    "log_file",
    "log_offset",
    "event_id",
];

/// Whether `name` is one of [`ADDED_FIELDS`].
pub fn is_reserved(name: &str) -> bool {
    ADDED_FIELDS.contains(&name)
}

/// A line format, as named on the command line and in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// `json`: JSON lines.
    Json,
    /// `nginx-combined`.
    NginxCombined,
    /// `apache-combined`.
    ApacheCombined,
    /// `apache-common`.
    ApacheCommon,
    /// `regex:PATTERN`.
    Regex(String),
}

impl FromStr for Format {
    type Err = CollectorError;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "json" => Format::Json,
            "nginx-combined" => Format::NginxCombined,
            "apache-combined" => Format::ApacheCombined,
            "apache-common" => Format::ApacheCommon,
            _ => match s.strip_prefix("regex:") {
                Some(pattern) => Format::Regex(pattern.to_string()),
                None => {
                    return Err(CollectorError::Config(format!(
                        "unknown format {s:?}: expected json, nginx-combined, apache-combined, \
                         apache-common or regex:PATTERN"
                    )));
                }
            },
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Format::Json => f.write_str("json"),
            Format::NginxCombined => f.write_str("nginx-combined"),
            Format::ApacheCombined => f.write_str("apache-combined"),
            Format::ApacheCommon => f.write_str("apache-common"),
            Format::Regex(pattern) => write!(f, "regex:{pattern}"),
        }
    }
}

/// What a parser found besides the fields it wrote: what the enrichments and the record's
/// time are taken from.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Parsed<'a> {
    /// The event's time, in milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
    /// The client address, for GeoIP.
    pub client_ip: Option<Cow<'a, str>>,
    /// The user agent, for its classification.
    pub user_agent: Option<Cow<'a, str>>,
}

/// Why a line is malformed; it goes to the dead letters with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line is not UTF-8.
    #[error("not valid UTF-8 (byte {0} of the line)")]
    NotUtf8(usize),
    /// The line is empty.
    #[error("empty line")]
    Empty,
    /// The line is longer than the limit.
    #[error("line longer than {0} bytes (skipped up to the next newline)")]
    TooLong(usize),
    /// A field is missing.
    #[error("expected {0}")]
    Missing(&'static str),
    /// A quoted field has no closing quote.
    #[error("unterminated quoted {0}")]
    Unterminated(&'static str),
    /// A field has an impossible value.
    #[error("invalid {0} {1:?}")]
    Invalid(&'static str, String),
    /// Text follows the last field.
    #[error("unexpected text after the last field: {0:?}")]
    Trailing(String),
    /// A JSON line is not one JSON object.
    #[error("not a JSON object: {0}")]
    Json(String),
    /// The regex does not match.
    #[error("does not match the pattern")]
    NoMatch,
}

/// A parser of one format.
#[derive(Debug)]
pub enum Parser {
    /// JSON lines.
    Json(json::JsonParser),
    /// A member of the Common Log Format family.
    Clf(clf::ClfParser),
    /// A regex with named groups.
    Regex(regex::RegexParser),
}

impl Parser {
    /// A parser of `format`.
    pub fn new(format: &Format) -> Result<Self> {
        use clf::{ClfParser, ClfVariant};
        Ok(match format {
            Format::Json => Parser::Json(json::JsonParser),
            Format::NginxCombined => Parser::Clf(ClfParser::new(ClfVariant::NginxCombined)),
            Format::ApacheCombined => Parser::Clf(ClfParser::new(ClfVariant::ApacheCombined)),
            Format::ApacheCommon => Parser::Clf(ClfParser::new(ClfVariant::ApacheCommon)),
            Format::Regex(pattern) => Parser::Regex(regex::RegexParser::new(pattern)?),
        })
    }

    /// Whether each line starts with the client's address and a space (the Common Log
    /// Format family), so that the addresses of a chunk can be looked up before it is parsed.
    pub fn address_leads(&self) -> bool {
        matches!(self, Parser::Clf(_))
    }

    /// Parses `line` (without its newline; a trailing `\r` is ignored) into `out`, after
    /// [`EventBuf::begin`]; on an error, fields may have been written and the caller rolls
    /// the object back.
    pub fn parse<'a>(
        &mut self,
        line: &'a [u8],
        out: &mut EventBuf,
    ) -> Result<Parsed<'a>, ParseError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Err(ParseError::Empty);
        }
        // simdutf8 validates short lines several times faster than std; std finds where a
        // bad line goes wrong.
        let line = match simdutf8::basic::from_utf8(line) {
            Ok(line) => line,
            Err(_) => {
                let valid = std::str::from_utf8(line).map_or_else(|e| e.valid_up_to(), str::len);
                return Err(ParseError::NotUtf8(valid));
            }
        };
        match self {
            Parser::Json(p) => p.parse(line, out),
            Parser::Clf(p) => p.parse(line, out),
            Parser::Regex(p) => p.parse(line, out),
        }
    }
}

#[cfg(test)]
mod tests;
