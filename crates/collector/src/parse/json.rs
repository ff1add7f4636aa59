//! JSON lines: each line one JSON object, such as the privacy API's access log (`ts`,
//! `request_id`, `client_ip`, `api_key`, `method`, `path`, `status`, `latency_ms`,
//! `bytes_in`, `bytes_out`, `user_agent`, `detections`).
//!
//! Every member is copied to the event as written (values are not re-encoded: nested objects,
//! numbers and strings keep their text), except members named like a field the collector adds
//! ([`ADDED_FIELDS`](super::ADDED_FIELDS)), which the collector's own values
//! replace. The string members `client_ip` and `user_agent` feed the enrichments, and `ts`
//! (RFC 3339) gives the record its time.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::time::parse_rfc3339;
use super::{ParseError, Parsed, is_reserved};
use crate::event::EventBuf;

/// A parser of JSON lines.
#[derive(Debug, Default)]
pub struct JsonParser;

impl JsonParser {
    /// Parses `line` into `out`.
    pub fn parse<'a>(
        &mut self,
        line: &'a str,
        out: &mut EventBuf,
    ) -> Result<Parsed<'a>, ParseError> {
        let mut de = serde_json::Deserializer::from_str(line);
        let parsed = de
            .deserialize_map(ObjectVisitor { out })
            .map_err(|e| ParseError::Json(e.to_string()))?;
        de.end().map_err(|e| ParseError::Json(e.to_string()))?;
        Ok(parsed)
    }
}

/// A key, borrowed from the line unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct ObjectVisitor<'o> {
    out: &'o mut EventBuf,
}

/// The text of a JSON string value, or `None` for any other value.
fn string_value(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    if !text.starts_with('"') {
        return None;
    }
    let inner = &text[1..text.len() - 1];
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
}

impl<'de> Visitor<'de> for ObjectVisitor<'_> {
    type Value = Parsed<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed<'de>, A::Error> {
        let mut parsed = Parsed::default();
        while let Some(Key(key)) = map.next_key()? {
            let value: &'de RawValue = map.next_value_seed(RawSeed)?;
            if is_reserved(&key) {
                continue;
            }
            match &*key {
                "client_ip" => parsed.client_ip = string_value(value),
                "user_agent" => {
                    // Present but null or not a string: an agent not sent.
                    parsed.user_agent = Some(string_value(value).unwrap_or_default());
                }
                "ts" => {
                    parsed.timestamp_ms = string_value(value).and_then(|t| parse_rfc3339(&t));
                }
                _ => {}
            }
            // A borrowed key had no escapes, so it needs none.
            match key {
                Cow::Borrowed(key) => self.out.key(key),
                Cow::Owned(key) => self.out.key_escaped(&key),
            }
            self.out.raw_value(value.get());
        }
        Ok(parsed)
    }
}

/// Deserializes a borrowed [`RawValue`].
struct RawSeed;

impl<'de> DeserializeSeed<'de> for RawSeed {
    type Value = &'de RawValue;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        de::Deserialize::deserialize(deserializer)
    }
}
