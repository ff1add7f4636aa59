//! Timestamps: the Common Log Format's `[10/Oct/2000:13:55:36 -0700]`, RFC 3339, and the
//! RFC 3339 text (UTC, milliseconds) every event's `ts` is written in.

/// Milliseconds since the Unix epoch of a CLF time such as `10/Oct/2000:13:55:36 -0700`.
pub fn parse_clf(text: &[u8]) -> Option<i64> {
    // dd/Mon/yyyy:HH:MM:SS +zzzz
    if text.len() != 26
        || text[2] != b'/'
        || text[6] != b'/'
        || text[11] != b':'
        || text[14] != b':'
        || text[17] != b':'
        || text[20] != b' '
    {
        return None;
    }
    let day = digits(&text[0..2])?;
    let month = month_number(&text[3..6])?;
    let year = digits(&text[7..11])?;
    let (hour, minute, second) = (
        digits(&text[12..14])?,
        digits(&text[15..17])?,
        digits(&text[18..20])?,
    );
    let sign = match text[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let offset_minutes = sign * (digits(&text[22..24])? * 60 + digits(&text[24..26])?);
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000)
}

/// Milliseconds since the Unix epoch of an RFC 3339 timestamp (`2024-05-01T12:00:00.123Z`,
/// any fraction, `Z` or an offset; a space instead of `T` is accepted).
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// A timestamp either way: RFC 3339 or CLF.
pub fn parse_any(text: &str) -> Option<i64> {
    parse_rfc3339(text).or_else(|| parse_clf(text.as_bytes()))
}

/// `ms` as RFC 3339 in UTC with milliseconds: `2000-10-10T20:55:36.000Z` (24 bytes).
pub fn format_rfc3339_ms(ms: i64) -> [u8; 24] {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut value: i64| {
        for i in (0..width).rev() {
            out[at + i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year.clamp(0, 9999));
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, in_day / 3_600_000);
    put(14, 2, in_day / 60_000 % 60);
    put(17, 2, in_day / 1_000 % 60);
    put(20, 3, in_day % 1_000);
    out
}

/// Remembers the last CLF time seen: consecutive lines mostly share their second.
#[derive(Debug, Default)]
pub struct ClfTimeCache {
    raw: [u8; 26],
    millis: i64,
    /// `millis` as RFC 3339 text, checked as UTF-8 once per distinct time.
    text: String,
    valid: bool,
}

impl ClfTimeCache {
    /// The time of `raw` in milliseconds and as RFC 3339 text, or `None` if malformed.
    pub fn convert(&mut self, raw: &[u8]) -> Option<(i64, &str)> {
        if !(self.valid && raw == self.raw) {
            self.valid = false;
            self.millis = parse_clf(raw)?;
            self.text.clear();
            self.text
                .push_str(std::str::from_utf8(&format_rfc3339_ms(self.millis)).expect("ASCII"));
            self.raw.copy_from_slice(raw);
            self.valid = true;
        }
        Some((self.millis, &self.text))
    }
}

fn digits(text: &[u8]) -> Option<i64> {
    text.iter().try_fold(0i64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

fn month_number(name: &[u8]) -> Option<i64> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    MONTHS
        .iter()
        .position(|m| m.as_slice() == name)
        .map(|i| i as i64 + 1)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(ms: i64) -> String {
        String::from_utf8(format_rfc3339_ms(ms).to_vec()).unwrap()
    }

    #[test]
    fn clf_times_convert_to_utc() {
        let ms = parse_clf(b"10/Oct/2000:13:55:36 -0700").unwrap();
        assert_eq!(text(ms), "2000-10-10T20:55:36.000Z");
        assert_eq!(ms, parse_rfc3339("2000-10-10T20:55:36Z").unwrap());
        let ms = parse_clf(b"29/Feb/2024:00:30:00 +0100").unwrap();
        assert_eq!(text(ms), "2024-02-28T23:30:00.000Z");
        for bad in [
            &b"10/Oct/2000:13:55:36"[..],
            b"10/Foo/2000:13:55:36 -0700",
            b"10/Oct/2000:25:55:36 -0700",
            b"1x/Oct/2000:13:55:36 -0700",
            b"10/Oct/2000:13:55:36 *0700",
        ] {
            assert_eq!(parse_clf(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn formatting_round_trips_through_chrono() {
        for ms in [
            0,
            1,
            999,
            86_399_999,
            951_782_400_000,
            1_717_171_717_171,
            -1,
        ] {
            let expected = chrono::DateTime::from_timestamp_millis(ms)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            assert_eq!(text(ms), expected);
            assert_eq!(parse_rfc3339(&expected), Some(ms));
        }
    }

    #[test]
    fn the_cache_follows_changes() {
        let mut cache = ClfTimeCache::default();
        let a = cache.convert(b"01/Jan/2024:00:00:00 +0000").unwrap().0;
        assert_eq!(cache.convert(b"01/Jan/2024:00:00:00 +0000").unwrap().0, a);
        let (b, text) = cache.convert(b"01/Jan/2024:00:00:01 +0000").unwrap();
        assert_eq!((b - a, text), (1_000, "2024-01-01T00:00:01.000Z"));
        assert!(cache.convert(b"garbage").is_none());
        assert_eq!(cache.convert(b"01/Jan/2024:00:00:01 +0000").unwrap().0, b);
    }
}
