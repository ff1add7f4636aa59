//! The Common Log Format family: Apache `common`, and `combined` as Apache and nginx write it.
//!
//! ```text
//! apache-common:   %h %l %u %t "%r" %>s %b
//! apache-combined: %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"
//! nginx-combined:  $remote_addr - $remote_user [$time_local] "$request" $status
//!                  $body_bytes_sent "$http_referer" "$http_user_agent"
//! ```
//!
//! The line is split without copying (`memchr`), fields are checked (an IP-like host, a CLF
//! time, a three-digit status, a byte count) and written as:
//!
//! | field | from | |
//! |---|---|---|
//! | `ts` | `%t` | RFC 3339, UTC, milliseconds |
//! | `client_ip` | `%h` | |
//! | `ident` | `%l` | Apache only, omitted when `-` |
//! | `user` | `%u` | omitted when `-` |
//! | `method`, `path`, `query`, `protocol` | `%r` | `query` omitted without `?`; when the request line is not `METHOD TARGET PROTOCOL` (a scanner's garbage, `-`), these are `null` and `request` holds it whole |
//! | `status` | `%>s` | number |
//! | `bytes_out` | `%b` | number; Apache's `-` is 0 |
//! | `referer`, `user_agent` | combined only | omitted when `-` |
//!
//! Escapes the server wrote inside quoted fields (nginx's `\x22`, Apache's `\"`) are kept as
//! written. Anything after the last field makes the line malformed.

use memchr::{memchr, memrchr};

use super::time::ClfTimeCache;
use super::{ParseError, Parsed};
use crate::event::EventBuf;

/// Which member of the family a parser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClfVariant {
    /// Apache's `common`: no referer or user agent.
    ApacheCommon,
    /// Apache's `combined`: `%b` may be `-`.
    ApacheCombined,
    /// nginx's `combined`: `$body_bytes_sent` is always a number.
    NginxCombined,
}

/// A parser of one variant, with the cache of the last time seen.
#[derive(Debug)]
pub struct ClfParser {
    variant: ClfVariant,
    times: ClfTimeCache,
}

/// Reads through a line.
struct Cursor<'a> {
    line: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.line.as_bytes()
    }

    /// The text up to the next `stop` byte, which is skipped.
    fn until(&mut self, stop: u8, what: &'static str) -> Result<&'a str, ParseError> {
        let rest = &self.bytes()[self.at..];
        let len = memchr(stop, rest).ok_or(ParseError::Missing(what))?;
        let field = &self.line[self.at..self.at + len];
        self.at += len + 1;
        Ok(field)
    }

    /// Skips `expected`, or fails naming `what` comes next.
    fn expect(&mut self, expected: &[u8], what: &'static str) -> Result<(), ParseError> {
        if self.bytes()[self.at..].starts_with(expected) {
            self.at += expected.len();
            Ok(())
        } else {
            Err(ParseError::Missing(what))
        }
    }

    /// A quoted field (the opening quote already skipped) up to its closing quote; a quote
    /// preceded by an odd number of backslashes is part of the text.
    fn quoted(&mut self, what: &'static str) -> Result<&'a str, ParseError> {
        let bytes = self.bytes();
        let mut from = self.at;
        loop {
            let len = memchr(b'"', &bytes[from..]).ok_or(ParseError::Unterminated(what))?;
            let quote = from + len;
            let backslashes = bytes[self.at..quote]
                .iter()
                .rev()
                .take_while(|&&b| b == b'\\')
                .count();
            if backslashes % 2 == 0 {
                let field = &self.line[self.at..quote];
                self.at = quote + 1;
                return Ok(field);
            }
            from = quote + 1;
        }
    }

    fn rest(&self) -> &'a str {
        &self.line[self.at..]
    }
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.len() <= 19 && text.bytes().all(|b| b.is_ascii_digit())
}

/// A host as servers log it: an IPv4 or IPv6 address, or a hostname when lookups are on;
/// never empty and never holding a quote or bracket.
fn is_host(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-' | b'_' | b'%'))
}

impl ClfParser {
    /// A parser of `variant`.
    pub fn new(variant: ClfVariant) -> Self {
        ClfParser {
            variant,
            times: ClfTimeCache::default(),
        }
    }

    /// Parses `line` into `out`.
    pub fn parse<'a>(
        &mut self,
        line: &'a str,
        out: &mut EventBuf,
    ) -> Result<Parsed<'a>, ParseError> {
        let mut cur = Cursor { line, at: 0 };
        let host = cur.until(b' ', "the client address")?;
        if !is_host(host) {
            return Err(ParseError::Invalid("client address", host.into()));
        }
        let ident = cur.until(b' ', "the identity field")?;
        let user_end = memchr(b'[', &cur.bytes()[cur.at..]).ok_or(ParseError::Missing("[time]"))?;
        if user_end == 0 || cur.bytes()[cur.at + user_end - 1] != b' ' {
            return Err(ParseError::Missing("the user field"));
        }
        let user = &line[cur.at..cur.at + user_end - 1];
        cur.at += user_end + 1;
        let raw_time = cur.until(b']', "the closing ] of the time")?;
        let (millis, ts) = self
            .times
            .convert(raw_time.as_bytes())
            .ok_or_else(|| ParseError::Invalid("time", raw_time.into()))?;
        cur.expect(b" \"", "the quoted request")?;
        let request = cur.quoted("request")?;
        cur.expect(b" ", "the status")?;
        let status = cur.until(b' ', "the byte count")?;
        if status.len() != 3 || !is_number(status) {
            return Err(ParseError::Invalid("status", status.into()));
        }
        let combined = self.variant != ClfVariant::ApacheCommon;
        let bytes = if combined {
            cur.until(b' ', "the referer")?
        } else {
            cur.rest()
        };
        let bytes_out = match bytes {
            "-" if self.variant != ClfVariant::NginxCombined => 0,
            _ if is_number(bytes) => bytes.parse().expect("checked digits"),
            _ => return Err(ParseError::Invalid("byte count", bytes.into())),
        };
        let (referer, user_agent) = if combined {
            cur.expect(b"\"", "the quoted referer")?;
            let referer = cur.quoted("referer")?;
            cur.expect(b" \"", "the quoted user agent")?;
            let agent = cur.quoted("user agent")?;
            let rest = cur.rest();
            if !rest.is_empty() {
                return Err(ParseError::Trailing(rest.into()));
            }
            (referer, agent)
        } else {
            ("-", "-")
        };

        out.plain_str_field("ts", ts);
        out.plain_str_field("client_ip", host);
        if self.variant != ClfVariant::NginxCombined && ident != "-" {
            out.str_field("ident", ident);
        }
        if user != "-" {
            out.str_field("user", user);
        }
        write_request(out, request);
        out.raw_field("status", status);
        out.uint_field("bytes_out", bytes_out);
        let present = |text: &'a str| (text != "-" && !text.is_empty()).then_some(text);
        let referer = present(referer);
        let user_agent = present(user_agent);
        if let Some(referer) = referer {
            out.str_field("referer", referer);
        }
        if let Some(agent) = user_agent {
            out.str_field("user_agent", agent);
        }
        Ok(Parsed {
            timestamp_ms: Some(millis),
            client_ip: Some(host.into()),
            // An agent of `-` is an agent not sent: classified as `none`.
            user_agent: combined.then(|| user_agent.unwrap_or("").into()),
        })
    }
}

/// `method`, `path`, `query` and `protocol` of a request line, or `request` whole when it is
/// not of that shape.
fn write_request(out: &mut EventBuf, request: &str) {
    let bytes = request.as_bytes();
    let split = memchr(b' ', bytes).and_then(|space| {
        let last = memrchr(b' ', bytes)?;
        let (method, target, protocol) = (
            &request[..space],
            request.get(space + 1..last)?,
            &request[last + 1..],
        );
        let valid = !method.is_empty()
            && method.bytes().all(|b| b.is_ascii_uppercase())
            && !target.is_empty()
            && protocol.starts_with("HTTP/");
        valid.then_some((method, target, protocol))
    });
    match split {
        Some((method, target, protocol)) => {
            out.plain_str_field("method", method);
            match memchr(b'?', target.as_bytes()) {
                Some(question) => {
                    out.str_field("path", &target[..question]);
                    out.str_field("query", &target[question + 1..]);
                }
                None => out.str_field("path", target),
            }
            out.str_field("protocol", protocol);
        }
        None => {
            out.null_field("method");
            out.null_field("path");
            out.null_field("protocol");
            out.str_field("request", request);
        }
    }
}
