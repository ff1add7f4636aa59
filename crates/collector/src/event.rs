//! Events as the collector ships them: one flat JSON object per line, written field by field
//! straight into a shared buffer (no intermediate map), so that parsing a line costs no
//! allocation.

/// A buffer that JSON objects are written into, one event after another.
///
/// [`begin`](EventBuf::begin) opens an object, the field methods append `"name":value`
/// pairs, [`end`](EventBuf::end) closes it and [`rollback`](EventBuf::rollback) removes a
/// half-written object when a line turns out malformed. Field names written with the
/// `*_field` methods are trusted (the collector's own names) and not escaped; names taken
/// from input go through [`key_escaped`](EventBuf::key_escaped).
///
/// Every field is written with a leading comma; [`end`](EventBuf::end) turns the first one
/// into the opening brace, so no field has to ask whether it is the first.
#[derive(Debug, Default)]
pub struct EventBuf {
    buf: Vec<u8>,
    start: usize,
}

impl EventBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        EventBuf::default()
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Forgets everything written.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }

    /// Starts an object at the end of the buffer.
    pub fn begin(&mut self) {
        self.start = self.buf.len();
    }

    /// Closes the object; returns where it starts and ends in the buffer.
    pub fn end(&mut self) -> std::ops::Range<usize> {
        if self.buf.len() == self.start {
            self.buf.push(b'{');
        } else {
            // The first field's comma.
            self.buf[self.start] = b'{';
        }
        self.buf.push(b'}');
        self.start..self.buf.len()
    }

    /// Removes the object begun last.
    pub fn rollback(&mut self) {
        self.buf.truncate(self.start);
    }

    /// Writes `,"name":`.
    pub fn key(&mut self, name: &str) {
        self.buf.extend_from_slice(b",\"");
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    /// Writes `,"name":` for a name that may need escaping.
    pub fn key_escaped(&mut self, name: &str) {
        self.buf.push(b',');
        write_json_str(&mut self.buf, name);
        self.buf.push(b':');
    }

    /// A string field.
    pub fn str_field(&mut self, name: &str, value: &str) {
        self.key(name);
        write_json_str(&mut self.buf, value);
    }

    /// A string field whose value holds nothing JSON escapes, as its caller generated or
    /// checked it (a timestamp, an address, an HTTP method): written without looking.
    pub fn plain_str_field(&mut self, name: &str, value: &str) {
        debug_assert!(!needs_escape(value.as_bytes()), "{value:?} needs escaping");
        self.key(name);
        self.buf.push(b'"');
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.push(b'"');
    }

    /// An unsigned integer field.
    pub fn uint_field(&mut self, name: &str, value: u64) {
        self.key(name);
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    /// A field whose value is already JSON text.
    pub fn raw_field(&mut self, name: &str, json: &str) {
        self.key(name);
        self.buf.extend_from_slice(json.as_bytes());
    }

    /// A `null` field.
    pub fn null_field(&mut self, name: &str) {
        self.key(name);
        self.buf.extend_from_slice(b"null");
    }

    /// Appends the value of a field after [`key`](EventBuf::key) or
    /// [`key_escaped`](EventBuf::key_escaped): JSON text written as is.
    pub fn raw_value(&mut self, json: &str) {
        self.buf.extend_from_slice(json.as_bytes());
    }

    /// Appends a string value after [`key`](EventBuf::key) or
    /// [`key_escaped`](EventBuf::key_escaped).
    pub fn str_value(&mut self, value: &str) {
        write_json_str(&mut self.buf, value);
    }

    /// Appends pre-encoded fields (`"a":1,"b":2`, no surrounding braces), as cached by the
    /// enrichments; nothing if `fields` is empty.
    pub fn fields(&mut self, fields: &[u8]) {
        if fields.is_empty() {
            return;
        }
        self.buf.push(b',');
        self.buf.extend_from_slice(fields);
    }
}

/// Builds pre-encoded fields (`"a":1,"b":"x"`) for [`EventBuf::fields`].
#[derive(Debug, Default)]
pub struct FieldsWriter {
    buf: Vec<u8>,
}

impl FieldsWriter {
    fn key(&mut self, name: &str) {
        if !self.buf.is_empty() {
            self.buf.push(b',');
        }
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    /// Adds a string field.
    pub fn str(&mut self, name: &str, value: &str) -> &mut Self {
        self.key(name);
        write_json_str(&mut self.buf, value);
        self
    }

    /// Adds a number field (NaN and infinities become `null`).
    pub fn f64(&mut self, name: &str, value: f64) -> &mut Self {
        self.key(name);
        if value.is_finite() {
            self.buf.extend_from_slice(format!("{value}").as_bytes());
        } else {
            self.buf.extend_from_slice(b"null");
        }
        self
    }

    /// Adds an unsigned integer field.
    pub fn uint(&mut self, name: &str, value: u64) -> &mut Self {
        self.key(name);
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self
    }

    /// The encoded fields.
    pub fn finish(self) -> Box<[u8]> {
        self.buf.into_boxed_slice()
    }
}

/// Eight copies of `b`.
const fn splat(b: u8) -> u64 {
    0x0101_0101_0101_0101u64 * b as u64
}

/// Whether any byte of `word` is below 0x20, a quote or a backslash (bytes ≥ 0x80 never
/// count: UTF-8 passes through JSON strings unchanged).
#[inline]
fn word_needs_escape(word: u64) -> bool {
    const HIGH: u64 = splat(0x80);
    let has_zero = |v: u64| v.wrapping_sub(splat(0x01)) & !v & HIGH;
    let ascii = !word & HIGH;
    let control = word.wrapping_sub(splat(0x20)) & ascii;
    (control | has_zero(word ^ splat(b'"')) | has_zero(word ^ splat(b'\\'))) & ascii != 0
}

/// Whether any byte of `block` is below 0x20, a quote or a backslash. The fold has no early
/// exit, so the compiler checks the sixteen bytes at once with vector compares.
#[inline(always)]
fn block_needs_escape(block: &[u8; 16]) -> bool {
    block.iter().fold(false, |any, &b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

/// Whether `s` holds a byte JSON must escape: sixteen bytes at a time (the last block
/// overlapping the one before), two overlapping words for 8 to 15 bytes, and byte by byte
/// below that.
#[inline]
fn needs_escape(s: &[u8]) -> bool {
    let word = |at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    let block = |at: usize| -> &[u8; 16] { s[at..at + 16].try_into().expect("16 bytes") };
    match s.len() {
        0..8 => s.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\'),
        8..16 => word_needs_escape(word(0)) || word_needs_escape(word(s.len() - 8)),
        len => {
            (0..len / 16).any(|i| block_needs_escape(block(i * 16)))
                || block_needs_escape(block(len - 16))
        }
    }
}

/// Appends `s` as a JSON string literal.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    if needs_escape(bytes) {
        let mut from = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escaped: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0..0x20 => {
                    out.extend_from_slice(&bytes[from..i]);
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(b >> 4) as usize]);
                    out.push(HEX[(b & 15) as usize]);
                    from = i + 1;
                    continue;
                }
                _ => continue,
            };
            out.extend_from_slice(&bytes[from..i]);
            out.extend_from_slice(escaped);
            from = i + 1;
        }
        out.extend_from_slice(&bytes[from..]);
    } else {
        out.extend_from_slice(bytes);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> String {
        let mut out = Vec::new();
        write_json_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_escaped_as_serde_json_does() {
        for s in [
            "",
            "plain ascii text that is long enough",
            "quote\" in the middle of a long string",
            "back\\slash",
            "tab\there and newline\n and \r and \u{1} and \u{1f}",
            "ünïcödé — 東京 ok",
            "\\x22 nginx escapes",
            "12345678\"",
        ] {
            let expected = serde_json::to_string(s).unwrap();
            assert_eq!(json(s), expected, "{s:?}");
        }
    }

    #[test]
    fn every_single_byte_position_is_checked() {
        for len in 1..50 {
            assert!(
                !needs_escape("a".repeat(len).as_bytes()),
                "plain, {len} bytes"
            );
            for special in ['"', '\\', '\u{0}', '\u{1f}'] {
                for at in 0..len {
                    let mut s = "a".repeat(len);
                    s.replace_range(at..at + 1, &special.to_string());
                    assert!(needs_escape(s.as_bytes()), "{special:?} at {at} of {len}");
                }
            }
        }
        assert!(!needs_escape(
            "~!#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}ü".as_bytes()
        ));
    }

    #[test]
    fn objects_roll_back() {
        let mut buf = EventBuf::new();
        buf.begin();
        buf.str_field("a", "x");
        buf.uint_field("n", 42);
        let first = buf.end();
        buf.begin();
        buf.str_field("b", "y");
        buf.rollback();
        buf.begin();
        buf.null_field("c");
        buf.fields(b"\"d\":1");
        buf.fields(b"");
        let second = buf.end();
        buf.begin();
        let empty = buf.end();
        let text = std::str::from_utf8(buf.as_bytes()).unwrap();
        assert_eq!(&text[first], r#"{"a":"x","n":42}"#);
        assert_eq!(&text[second], r#"{"c":null,"d":1}"#);
        assert_eq!(&text[empty], "{}");
    }
}
