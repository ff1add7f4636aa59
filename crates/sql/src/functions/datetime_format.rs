//! Java date-time patterns (`yyyy-MM-dd HH:mm:ss.SSS`), as Flink's `DATE_FORMAT`,
//! `TO_TIMESTAMP`, `FROM_UNIXTIME`, `UNIX_TIMESTAMP` and `TO_DATE` take them.
//!
//! Letters: `y` year, `M`/`L` month (`MMM` `Sep`, `MMMM` `September`), `d` day of month, `D`
//! day of year, `E` day of week (`EEE` `Tue`, `EEEE` `Tuesday`), `a` AM/PM, `H` hour 0–23,
//! `k` hour 1–24, `K` hour 0–11, `h` hour 1–12, `m` minute, `s` second, `S` fraction of a
//! second (`SSS` milliseconds), `X`/`x`/`Z` UTC offset, `z` zone name; `'text'` is literal
//! text and `''` a quote; other characters stand for themselves. Any other letter is an
//! error, as in Java.
//!
//! Parsing comes in the two flavours Flink uses: [`Parse::Strict`] like `DateTimeFormatter`
//! (the whole text, fixed field widths, an out-of-range day of month clamped to the month)
//! and [`Parse::Lenient`] like `SimpleDateFormat` (trailing text ignored, field widths only
//! between adjacent numbers, `S` a count of milliseconds, overflowing fields rolled over).

use chrono::{Datelike, Duration, Months, NaiveDate, NaiveDateTime, Timelike};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// A field of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Year,
    Month,
    Day,
    DayOfYear,
    Weekday,
    AmPm,
    /// `H`: 0–23.
    Hour,
    /// `k`: 1–24.
    Hour1To24,
    /// `K`: 0–11.
    Hour0To11,
    /// `h`: 1–12.
    Hour1To12,
    Minute,
    Second,
    Fraction,
    /// `X`: `Z` for zero.
    OffsetX,
    /// `x`: `+00` for zero.
    Offsetx,
    /// `Z`: `+0000`.
    OffsetZ,
    /// `z`: a zone name.
    Zone,
}

impl Field {
    fn of(letter: char) -> Option<Field> {
        Some(match letter {
            'y' => Field::Year,
            'M' | 'L' => Field::Month,
            'd' => Field::Day,
            'D' => Field::DayOfYear,
            'E' => Field::Weekday,
            'a' => Field::AmPm,
            'H' => Field::Hour,
            'k' => Field::Hour1To24,
            'K' => Field::Hour0To11,
            'h' => Field::Hour1To12,
            'm' => Field::Minute,
            's' => Field::Second,
            'S' => Field::Fraction,
            'X' => Field::OffsetX,
            'x' => Field::Offsetx,
            'Z' => Field::OffsetZ,
            'z' => Field::Zone,
            _ => return None,
        })
    }

    /// Whether the field is written with digits (given its letter count).
    fn numeric(self, count: usize) -> bool {
        match self {
            Field::Month => count <= 2,
            Field::Weekday
            | Field::AmPm
            | Field::OffsetX
            | Field::Offsetx
            | Field::OffsetZ
            | Field::Zone => false,
            _ => true,
        }
    }
}

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Literal(String),
    /// A field and how many times its letter is repeated.
    Field(Field, usize),
}

/// A parsed Java date-time pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    items: Vec<Item>,
}

/// How to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parse {
    /// `DateTimeFormatter`: the whole text, exact widths, out-of-range days clamped.
    Strict,
    /// `SimpleDateFormat`: a prefix of the text, widths only between adjacent numbers, `S`
    /// counting milliseconds, out-of-range fields rolled over.
    Lenient,
}

/// A parsed date-time: the wall clock as written and the UTC offset, if the text had one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// The date and time as written.
    pub local: NaiveDateTime,
    /// The offset from UTC in seconds, if the text had one.
    pub offset: Option<i32>,
}

impl Parsed {
    /// The instant, taking the wall clock as UTC unless the text had an offset.
    pub fn utc(&self) -> NaiveDateTime {
        self.local - Duration::seconds(i64::from(self.offset.unwrap_or(0)))
    }
}

impl Pattern {
    /// Reads a pattern; an error names the offending letter or quote.
    pub fn new(pattern: &str) -> Result<Pattern, String> {
        let mut items = Vec::new();
        let mut literal = String::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    literal.push('\'');
                    continue;
                }
                let mut closed = false;
                while let Some(q) = chars.next() {
                    if q == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                            literal.push('\'');
                        } else {
                            closed = true;
                            break;
                        }
                    } else {
                        literal.push(q);
                    }
                }
                if !closed {
                    return Err(format!("unclosed quote in pattern '{pattern}'"));
                }
            } else if c.is_ascii_alphabetic() {
                let field = Field::of(c)
                    .ok_or_else(|| format!("unknown pattern letter '{c}' in '{pattern}'"))?;
                let mut count = 1;
                while chars.peek() == Some(&c) {
                    chars.next();
                    count += 1;
                }
                if !literal.is_empty() {
                    items.push(Item::Literal(std::mem::take(&mut literal)));
                }
                items.push(Item::Field(field, count));
            } else if matches!(c, '[' | ']' | '{' | '}' | '#') {
                return Err(format!(
                    "'{c}' (optional sections, reserved characters) is not supported in \
                     pattern '{pattern}'"
                ));
            } else {
                literal.push(c);
            }
        }
        if !literal.is_empty() {
            items.push(Item::Literal(literal));
        }
        Ok(Pattern { items })
    }

    /// `t` (a UTC wall clock) formatted by the pattern.
    pub fn format(&self, t: &NaiveDateTime) -> String {
        let mut out = String::new();
        for item in &self.items {
            match item {
                Item::Literal(s) => out.push_str(s),
                Item::Field(field, count) => format_field(&mut out, *field, *count, t),
            }
        }
        out
    }

    /// Parses `text`; `None` when it does not fit the pattern.
    pub fn parse(&self, text: &str, mode: Parse) -> Option<Parsed> {
        let mut fields = Fields::default();
        let mut rest = text;
        for (i, item) in self.items.iter().enumerate() {
            match item {
                Item::Literal(s) => rest = rest.strip_prefix(s.as_str())?,
                Item::Field(field, count) => {
                    let adjacent = matches!(
                        self.items.get(i + 1),
                        Some(Item::Field(next, n)) if next.numeric(*n)
                    );
                    rest = parse_field(rest, *field, *count, adjacent, mode, &mut fields)?;
                }
            }
        }
        if mode == Parse::Strict && !rest.is_empty() {
            return None;
        }
        fields.resolve(mode)
    }
}

fn pad(out: &mut String, value: i64, width: usize) {
    if value < 0 {
        out.push_str(&format!("-{:0width$}", -value));
    } else {
        out.push_str(&format!("{value:0width$}"));
    }
}

fn format_field(out: &mut String, field: Field, count: usize, t: &NaiveDateTime) {
    match field {
        Field::Year if count == 2 => pad(out, i64::from(t.year().rem_euclid(100)), 2),
        Field::Year => pad(out, i64::from(t.year()), count),
        Field::Month if count >= 4 => out.push_str(MONTHS[t.month0() as usize]),
        Field::Month if count == 3 => out.push_str(&MONTHS[t.month0() as usize][..3]),
        Field::Month => pad(out, i64::from(t.month()), count),
        Field::Day => pad(out, i64::from(t.day()), count),
        Field::DayOfYear => pad(out, i64::from(t.ordinal()), count),
        Field::Weekday => {
            let name = WEEKDAYS[t.weekday().num_days_from_monday() as usize];
            out.push_str(if count >= 4 { name } else { &name[..3] });
        }
        Field::AmPm => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
        Field::Hour => pad(out, i64::from(t.hour()), count),
        Field::Hour1To24 => pad(
            out,
            i64::from(if t.hour() == 0 { 24 } else { t.hour() }),
            count,
        ),
        Field::Hour0To11 => pad(out, i64::from(t.hour() % 12), count),
        Field::Hour1To12 => {
            let h = t.hour() % 12;
            pad(out, i64::from(if h == 0 { 12 } else { h }), count)
        }
        Field::Minute => pad(out, i64::from(t.minute()), count),
        Field::Second => pad(out, i64::from(t.second()), count),
        Field::Fraction => {
            let nanos = format!("{:09}", t.nanosecond() % 1_000_000_000);
            out.push_str(&nanos[..count.min(9)]);
            out.extend(std::iter::repeat_n('0', count.saturating_sub(9)));
        }
        // The session time zone is UTC.
        Field::OffsetX => out.push('Z'),
        Field::Offsetx => out.push_str(match count {
            1 => "+00",
            2 | 4 => "+0000",
            _ => "+00:00",
        }),
        Field::OffsetZ => out.push_str(if count >= 4 { "GMT" } else { "+0000" }),
        Field::Zone => out.push_str(if count >= 4 {
            "Coordinated Universal Time"
        } else {
            "UTC"
        }),
    }
}

/// Field values read from a text.
#[derive(Debug, Default)]
struct Fields {
    year: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    day_of_year: Option<i64>,
    hour: Option<i64>,
    /// Hour of a 12-hour clock (0–11, 12 meaning 0).
    hour12: Option<i64>,
    pm: Option<bool>,
    minute: Option<i64>,
    second: Option<i64>,
    nanos: Option<i64>,
    offset: Option<i32>,
}

impl Fields {
    fn resolve(self, mode: Parse) -> Option<Parsed> {
        let year = i32::try_from(self.year.unwrap_or(1970)).ok()?;
        let hour = match (self.hour, self.hour12) {
            (Some(h), _) => h,
            (None, Some(h)) => h % 12 + if self.pm == Some(true) { 12 } else { 0 },
            (None, None) => 0,
        };
        let (minute, second) = (self.minute.unwrap_or(0), self.second.unwrap_or(0));
        let nanos = self.nanos.unwrap_or(0);
        let local = match mode {
            Parse::Strict => {
                let date = match self.day_of_year {
                    Some(doy) if self.month.is_none() && self.day.is_none() => {
                        NaiveDate::from_yo_opt(year, u32::try_from(doy).ok()?)?
                    }
                    _ => {
                        let month = u32::try_from(self.month.unwrap_or(1)).ok()?;
                        let day = u32::try_from(self.day.unwrap_or(1)).ok()?;
                        if !(1..=31).contains(&day) {
                            return None;
                        }
                        let first = NaiveDate::from_ymd_opt(year, month, 1)?;
                        let last = (first + Months::new(1)).pred_opt()?.day();
                        first.with_day(day.min(last))?
                    }
                };
                if !(0..24).contains(&hour)
                    || !(0..60).contains(&minute)
                    || !(0..60).contains(&second)
                {
                    return None;
                }
                date.and_hms_nano_opt(hour as u32, minute as u32, second as u32, nanos as u32)?
            }
            Parse::Lenient => {
                let start = NaiveDate::from_ymd_opt(year, 1, 1)?;
                let date = match (self.day_of_year, self.month, self.day) {
                    (Some(doy), None, None) => start.checked_add_signed(Duration::days(doy - 1))?,
                    (_, month, day) => {
                        let month = month.unwrap_or(1) - 1;
                        let months = Months::new(u32::try_from(month.max(0)).ok()?);
                        let shifted = start.checked_add_months(months)?;
                        let shifted = if month < 0 {
                            shifted.checked_sub_months(Months::new(u32::try_from(-month).ok()?))?
                        } else {
                            shifted
                        };
                        shifted.checked_add_signed(Duration::days(day.unwrap_or(1) - 1))?
                    }
                };
                date.and_hms_opt(0, 0, 0)?.checked_add_signed(
                    Duration::hours(hour)
                        + Duration::minutes(minute)
                        + Duration::seconds(second)
                        + Duration::nanoseconds(nanos),
                )?
            }
        };
        Some(Parsed {
            local,
            offset: self.offset,
        })
    }
}

/// Splits off a run of ASCII digits of `min..=max` characters.
fn digits(text: &str, min: usize, max: usize) -> Option<(i64, &str)> {
    let len = text
        .bytes()
        .take(max)
        .take_while(u8::is_ascii_digit)
        .count();
    if len < min || len == 0 {
        return None;
    }
    Some((text[..len].parse().ok()?, &text[len..]))
}

/// Splits off one of `names`, or the first three letters of a longer one, ignoring case; its
/// index.
fn name<'a>(text: &'a str, names: &[&str]) -> Option<(usize, &'a str)> {
    let starts = |candidate: &str| {
        text.get(..candidate.len())
            .filter(|head| head.eq_ignore_ascii_case(candidate))
            .map(|_| &text[candidate.len()..])
    };
    names
        .iter()
        .enumerate()
        .find_map(|(i, n)| starts(n).map(|rest| (i, rest)))
        .or_else(|| {
            names.iter().enumerate().find_map(|(i, n)| {
                n.get(..3)
                    .filter(|_| n.len() > 3)
                    .and_then(starts)
                    .map(|rest| (i, rest))
            })
        })
}

/// Splits off a UTC offset: `Z` (if `z_allowed`), `±HH`, `±HHMM` or `±HH:MM`; in seconds.
fn offset(text: &str, z_allowed: bool) -> Option<(i32, &str)> {
    if z_allowed && let Some(rest) = text.strip_prefix('Z') {
        return Some((0, rest));
    }
    let sign = match text.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let (hours, rest) = digits(&text[1..], 2, 2)?;
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    let (minutes, rest) = digits(rest, 2, 2).unwrap_or((0, rest));
    if hours > 18 || minutes > 59 {
        return None;
    }
    Some((sign * (hours * 3600 + minutes * 60) as i32, rest))
}

fn parse_field<'a>(
    text: &'a str,
    field: Field,
    count: usize,
    adjacent: bool,
    mode: Parse,
    fields: &mut Fields,
) -> Option<&'a str> {
    if !field.numeric(count) {
        return match field {
            Field::Month => {
                let (i, rest) = name(text, &MONTHS)?;
                fields.month = Some(i as i64 + 1);
                Some(rest)
            }
            Field::Weekday => name(text, &WEEKDAYS).map(|(_, rest)| rest),
            Field::AmPm => {
                let (i, rest) = name(text, &["AM", "PM"])?;
                fields.pm = Some(i == 1);
                Some(rest)
            }
            Field::OffsetX | Field::Offsetx | Field::OffsetZ => {
                let (seconds, rest) = offset(text, field == Field::OffsetX)?;
                fields.offset = Some(seconds);
                Some(rest)
            }
            _ => {
                let rest = ["UTC", "GMT", "Z"]
                    .iter()
                    .find_map(|z| text.strip_prefix(z))?;
                fields.offset = Some(0);
                Some(rest)
            }
        };
    }
    let (min, max) = match (mode, field) {
        _ if adjacent => (count, count),
        (Parse::Strict, Field::Year) if count == 2 => (2, 2),
        (Parse::Strict, Field::Year) => (count, 10),
        (Parse::Strict, Field::Fraction) => (count, count),
        (Parse::Strict, Field::DayOfYear) if count == 1 => (1, 3),
        (Parse::Strict, _) if count == 1 => (1, 2),
        (Parse::Strict, _) => (count, count),
        (Parse::Lenient, _) => (1, 10),
    };
    let (value, rest) = digits(text, min, max)?;
    let consumed = text.len() - rest.len();
    match field {
        Field::Year if count == 2 && consumed == 2 => fields.year = Some(2000 + value),
        Field::Year => fields.year = Some(value),
        Field::Month => fields.month = Some(value),
        Field::Day => fields.day = Some(value),
        Field::DayOfYear => fields.day_of_year = Some(value),
        Field::Hour => fields.hour = Some(value),
        Field::Hour1To24 => fields.hour = Some(value % 24),
        Field::Hour0To11 | Field::Hour1To12 => fields.hour12 = Some(value),
        Field::Minute => fields.minute = Some(value),
        Field::Second => fields.second = Some(value),
        Field::Fraction => {
            fields.nanos = Some(match mode {
                // SimpleDateFormat: a count of milliseconds.
                Parse::Lenient => value * 1_000_000,
                Parse::Strict => value * 10i64.pow(9 - consumed.min(9) as u32),
            })
        }
        _ => return None,
    }
    Some(rest)
}

/// Flink's default timestamp text: `yyyy-M-d` optionally followed by ` H:m:s` (one or two
/// digits each) and a fraction of up to nine digits.
pub(crate) fn parse_default_timestamp(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    let (date, time) = match text.split_once(' ') {
        Some((d, t)) => (d, Some(t.trim_start())),
        None => (text, None),
    };
    let date = parse_default_date(date)?;
    let Some(time) = time else {
        return date.and_hms_opt(0, 0, 0);
    };
    let (hour, rest) = digits(time, 1, 2)?;
    let (minute, rest) = digits(rest.strip_prefix(':')?, 1, 2)?;
    let (second, rest) = digits(rest.strip_prefix(':')?, 1, 2)?;
    let nanos = match rest.strip_prefix('.') {
        Some(frac) => {
            let (value, rest) = digits(frac, 1, 9)?;
            if !rest.is_empty() {
                return None;
            }
            value * 10i64.pow(9 - (frac.len() as u32))
        }
        None if rest.is_empty() => 0,
        None => return None,
    };
    date.and_hms_nano_opt(hour as u32, minute as u32, second as u32, nanos as u32)
}

/// Flink's default date text: `yyyy-M-d`.
pub(crate) fn parse_default_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    let (year, rest) = digits(text, 4, 4)?;
    let (month, rest) = digits(rest.strip_prefix('-')?, 1, 2)?;
    let (day, rest) = digits(rest.strip_prefix('-')?, 1, 2)?;
    if !rest.is_empty() {
        return None;
    }
    NaiveDate::from_ymd_opt(year as i32, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, nanos: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_nano_opt(h, mi, s, nanos)
            .unwrap()
    }

    #[test]
    fn formats_like_java() {
        // Expected strings from java.time.format.DateTimeFormatter.
        let t = at(1994, 9, 27, 13, 14, 15, 123_456_789);
        let p = Pattern::new("yyyy-MM-dd HH:mm:ss.SSS EEE EEEE MMM MMMM a hh KK kk D").unwrap();
        assert_eq!(
            p.format(&t),
            "1994-09-27 13:14:15.123 Tue Tuesday Sep September PM 01 01 13 270"
        );
        let p = Pattern::new("yy/M/d H 'o''clock' ''SSSSSS").unwrap();
        assert_eq!(p.format(&t), "94/9/27 13 o'clock '123456");
        assert!(Pattern::new("yyyy-bb").is_err());
        assert!(Pattern::new("yyyy 'open").is_err());
        assert!(Pattern::new("yyyy[-MM]").is_err());
    }

    #[test]
    fn parses_strictly_like_date_time_formatter() {
        let p = Pattern::new("yyyy-MM-dd HH:mm:ss").unwrap();
        let parse = |text: &str| p.parse(text, Parse::Strict).map(|t| t.local);
        assert_eq!(
            parse("2023-01-05 10:00:00"),
            Some(at(2023, 1, 5, 10, 0, 0, 0))
        );
        assert_eq!(parse("2023-1-5 10:00:00"), None);
        assert_eq!(parse("2023-01-05 10:00:00 extra"), None);
        // DateTimeFormatter's SMART resolver clamps the day to the month.
        assert_eq!(
            parse("2023-02-30 10:00:00"),
            Some(at(2023, 2, 28, 10, 0, 0, 0))
        );
        let p = Pattern::new("yyyyMMddHHmmss").unwrap();
        assert_eq!(
            p.parse("20230105100000", Parse::Strict).map(|t| t.local),
            Some(at(2023, 1, 5, 10, 0, 0, 0))
        );
        let p = Pattern::new("yyyy-MM-dd HH:mm:ss.SSS").unwrap();
        assert_eq!(p.parse("2023-01-05 10:00:00.12", Parse::Strict), None);
        assert_eq!(
            p.parse("2023-01-05 10:00:00.123", Parse::Strict)
                .map(|t| t.local),
            Some(at(2023, 1, 5, 10, 0, 0, 123_000_000))
        );
        let p = Pattern::new("yy-MM-dd hh:mm a").unwrap();
        assert_eq!(
            p.parse("23-01-05 01:30 PM", Parse::Strict).map(|t| t.local),
            Some(at(2023, 1, 5, 13, 30, 0, 0))
        );
        let p = Pattern::new("dd MMM yyyy HH:mm:ss X").unwrap();
        let parsed = p
            .parse("05 Jan 2023 10:00:00 +0800", Parse::Strict)
            .unwrap();
        assert_eq!(parsed.offset, Some(8 * 3600));
        assert_eq!(parsed.utc(), at(2023, 1, 5, 2, 0, 0, 0));
    }

    #[test]
    fn parses_leniently_like_simple_date_format() {
        // Expected values from java.text.SimpleDateFormat in UTC.
        let p = Pattern::new("yyyy-MM-dd HH:mm:ss.SSS").unwrap();
        let parse = |p: &Pattern, text: &str| p.parse(text, Parse::Lenient).map(|t| t.utc());
        assert_eq!(
            parse(&p, "1970-01-01 00:00:01.5 +0800"),
            Some(at(1970, 1, 1, 0, 0, 1, 5_000_000))
        );
        assert_eq!(
            parse(&p, "1970-01-01 00:00:01.50"),
            Some(at(1970, 1, 1, 0, 0, 1, 50_000_000))
        );
        let p = Pattern::new("yyyy-MM-dd").unwrap();
        assert_eq!(parse(&p, "2023-2-30"), Some(at(2023, 3, 2, 0, 0, 0, 0)));
        assert_eq!(parse(&p, "2023-02-05T10"), Some(at(2023, 2, 5, 0, 0, 0, 0)));
        let p = Pattern::new("yyyyMMdd").unwrap();
        assert_eq!(parse(&p, "2023025"), Some(at(2023, 2, 5, 0, 0, 0, 0)));
        let p = Pattern::new("yyyy-MM-dd HH:mm:ss.SSS X").unwrap();
        assert_eq!(parse(&p, "1970-01-01 08:00:01.001"), None);
        assert_eq!(
            parse(&p, "1970-01-01 08:00:01.001 +0800"),
            Some(at(1970, 1, 1, 0, 0, 1, 1_000_000))
        );
    }

    #[test]
    fn default_texts() {
        assert_eq!(
            parse_default_timestamp("2023-1-5 7:08:09.5"),
            Some(at(2023, 1, 5, 7, 8, 9, 500_000_000))
        );
        assert_eq!(
            parse_default_timestamp("2023-01-05"),
            Some(at(2023, 1, 5, 0, 0, 0, 0))
        );
        assert_eq!(parse_default_timestamp("2023-01-05T10:00:00"), None);
        assert_eq!(parse_default_timestamp("2023-02-30 00:00:00"), None);
        assert_eq!(
            parse_default_date("2023-2-3"),
            NaiveDate::from_ymd_opt(2023, 2, 3)
        );
        assert_eq!(parse_default_date("2023-02-03 10:00:00"), None);
    }
}
