//! File identity: a file is known by a hash of its first line, not by its name or inode.
//!
//! A renamed file keeps its first line, and so does the copy `copytruncate` makes, so both
//! are recognised as the file already being read (and read on from the offset reached);
//! a truncated or recreated file gets a new first line and is read from the start. Two files
//! whose first lines are the same are taken for one file: a log whose lines start with a
//! timestamp or a request id never has that problem.
//!
//! The hash covers the first line including its newline, or the first `max_bytes` bytes when
//! the line is longer; a file without a complete first line has no fingerprint yet (and no
//! complete line to read).

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// The identity of a file: the first 64 bits of the SHA-256 of its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub u64);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for Fingerprint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.len() != 16 {
            return Err(format!("fingerprint {s:?}: expected 16 hex digits"));
        }
        u64::from_str_radix(s, 16)
            .map(Fingerprint)
            .map_err(|e| format!("fingerprint {s:?}: {e}"))
    }
}

impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The fingerprint of `bytes`, the start of a file, if they hold a complete first line or
/// at least `max_bytes` bytes.
pub fn of_prefix(bytes: &[u8], max_bytes: usize) -> Option<Fingerprint> {
    let end = match memchr::memchr(b'\n', &bytes[..bytes.len().min(max_bytes)]) {
        Some(newline) => newline + 1,
        None if bytes.len() >= max_bytes => max_bytes,
        None => return None,
    };
    let digest = Sha256::digest(&bytes[..end]);
    Some(Fingerprint(u64::from_be_bytes(
        digest[..8].try_into().expect("8 bytes"),
    )))
}

/// The fingerprint of `file` (see [`of_prefix`]), reading its first `max_bytes` into `buf`.
pub fn of_file(
    file: &File,
    max_bytes: usize,
    buf: &mut Vec<u8>,
) -> io::Result<Option<Fingerprint>> {
    buf.resize(max_bytes, 0);
    let mut filled = 0;
    while filled < max_bytes {
        match file.read_at(&mut buf[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(of_prefix(&buf[..filled], max_bytes))
}

/// The idempotency key of a line: its file's fingerprint and the byte offset where the line
/// starts, `<16 hex digits>-<offset>`. Reading the same line again, from the same file, a
/// renamed one or a copy, gives the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventId {
    /// The file.
    pub fingerprint: Fingerprint,
    /// Where the line starts.
    pub offset: u64,
}

impl EventId {
    /// The key as text, written into `buf`.
    pub fn write<'b>(&self, buf: &'b mut [u8; 40]) -> &'b str {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, slot) in buf[..16].iter_mut().enumerate() {
            *slot = HEX[(self.fingerprint.0 >> (60 - 4 * i) & 15) as usize];
        }
        buf[16] = b'-';
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(self.offset).as_bytes();
        buf[17..17 + digits.len()].copy_from_slice(digits);
        std::str::from_utf8(&buf[..17 + digits.len()]).expect("ASCII")
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.fingerprint, self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_decides() {
        let a = of_prefix(b"first line\nsecond", 64).unwrap();
        assert_eq!(of_prefix(b"first line\nother second line", 64), Some(a));
        assert_ne!(of_prefix(b"first line!\n", 64), Some(a));
        assert_eq!(of_prefix(b"no newline yet", 64), None);
        // A first line longer than the limit: its first bytes.
        let long = of_prefix(b"0123456789abcdef", 8).unwrap();
        assert_eq!(of_prefix(b"01234567zzzz\n", 8), Some(long));
    }

    #[test]
    fn fingerprints_and_ids_print_as_hex() {
        let fp = Fingerprint(0x00ab_cdef_0123_4567);
        assert_eq!(fp.to_string(), "00abcdef01234567");
        assert_eq!("00abcdef01234567".parse::<Fingerprint>(), Ok(fp));
        assert!("xyz".parse::<Fingerprint>().is_err());
        let id = EventId {
            fingerprint: fp,
            offset: 18_446_744_073_709_551_615,
        };
        let mut buf = [0; 40];
        assert_eq!(id.write(&mut buf), id.to_string());
        assert_eq!(id.to_string(), "00abcdef01234567-18446744073709551615");
    }
}
