//! A regular expression with named groups (Rust `regex` syntax: `(?P<name>…)` or
//! `(?<name>…)`): each named group that matched becomes a string field of that name. A line
//! the pattern does not match is malformed. Groups named `client_ip` and `user_agent` feed
//! the enrichments, and a `ts` group (RFC 3339 or CLF time) gives the record its time.

use regex::{CaptureLocations, Regex};

use super::time::parse_any;
use super::{ParseError, Parsed, is_reserved};
use crate::error::{CollectorError, Result};
use crate::event::EventBuf;

/// A parser matching one pattern.
#[derive(Debug, Clone)]
pub struct RegexParser {
    regex: Regex,
    /// `(group index, name)` of the named groups, in pattern order.
    groups: Vec<(usize, String)>,
    locations: CaptureLocations,
}

impl RegexParser {
    /// Compiles `pattern`; it must have at least one named group, and none named like a field
    /// the collector adds.
    pub fn new(pattern: &str) -> Result<Self> {
        let regex = Regex::new(pattern)
            .map_err(|e| CollectorError::Config(format!("regex {pattern:?}: {e}")))?;
        let groups: Vec<(usize, String)> = regex
            .capture_names()
            .enumerate()
            .filter_map(|(i, name)| name.map(|n| (i, n.to_string())))
            .collect();
        if groups.is_empty() {
            return Err(CollectorError::Config(format!(
                "regex {pattern:?} has no named group (?P<name>…): it would give empty events"
            )));
        }
        if let Some((_, name)) = groups.iter().find(|(_, name)| is_reserved(name)) {
            return Err(CollectorError::Config(format!(
                "regex {pattern:?}: the group name {name:?} is a field the collector adds"
            )));
        }
        let locations = regex.capture_locations();
        Ok(RegexParser {
            regex,
            groups,
            locations,
        })
    }

    /// Parses `line` into `out`.
    pub fn parse<'a>(
        &mut self,
        line: &'a str,
        out: &mut EventBuf,
    ) -> Result<Parsed<'a>, ParseError> {
        if self
            .regex
            .captures_read(&mut self.locations, line)
            .is_none()
        {
            return Err(ParseError::NoMatch);
        }
        let mut parsed = Parsed::default();
        for (index, name) in &self.groups {
            let Some((start, end)) = self.locations.get(*index) else {
                continue;
            };
            let value = &line[start..end];
            match name.as_str() {
                "client_ip" => parsed.client_ip = Some(value.into()),
                "user_agent" => parsed.user_agent = Some(value.into()),
                "ts" => parsed.timestamp_ms = parse_any(value),
                _ => {}
            }
            out.key_escaped(name);
            out.str_value(value);
        }
        Ok(parsed)
    }
}
