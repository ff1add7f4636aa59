//! The `nexmark` source: the event stream of the Nexmark benchmark — people, auctions and
//! bids of an online auction site — in the table layout and with the options of Flink's
//! `nexmark` connector (github.com/nexmark/nexmark).
//!
//! The table is Flink's:
//!
//! ```sql
//! event_type INT,  -- 0 person, 1 auction, 2 bid
//! person  ROW<id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR,
//!             state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
//! auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT,
//!             reserve BIGINT, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT,
//!             category BIGINT, extra VARCHAR>,
//! bid     ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
//!             `dateTime` TIMESTAMP(3), extra VARCHAR>
//! ```
//!
//! Of each event one of the three rows is set and the others are NULL. A table may declare
//! fewer columns or ROW fields, in any order (older Nexmark DDLs have no `channel` and `url`),
//! but each must have the name and type above.
//!
//! Options, as Flink's:
//!
//! - `events.num` (default 0, unbounded): the number of events; the source ends after them
//!   unless `keep-alive` is `true`.
//! - `first-event.rate` / `next-event.rate` (default 10000 each): events per second of event
//!   time, alternating every half `rate.period` (`rate.shape` = `square`, the default) or
//!   following a cosine in ten steps (`sine`); `rate.period` defaults to `600 s`.
//! - `person.proportion` / `auction.proportion` / `bid.proportion` (1, 3, 46): of every 50
//!   events, 1 is a person, 3 are auctions and 46 are bids.
//! - `person.avg-size` / `auction.avg-size` / `bid.avg-size` (`200b`, `500b`, `100b`): the
//!   average size of an event, padded by its `extra` string.
//! - `bid.hot-ratio.auctions` (2), `bid.hot-ratio.bidders` (4), `auction.hot-ratio.sellers`
//!   (4): all but 1 in n bids go to a hot auction, are made by a hot bidder, and all but 1 in
//!   n auctions are sold by a hot seller (the most recent in every hundred).
//! - `max-emit-speed` (default `true`) and `rate.limited` (default `false`): with
//!   `max-emit-speed` = `false` or `rate.limited` = `true`, events are emitted when their event
//!   time is due on the wall clock (counted from the first event); otherwise as fast as the job
//!   takes them.
//! - `base-time-millis` (Spate's; default: the wall clock when the job is planned, as in
//!   Flink): the time of event 0, in milliseconds since the epoch. Fixed, every run of a job
//!   makes the same events at the same times, so windows fall the same way.
//!
//! Events are numbered 0, 1, 2, … across the whole source; event *n* and its timestamp are a
//! function of *n*, the options and the base time (the wall clock when the job was planned, as
//! in Flink, and kept in checkpoints), following the Nexmark generator: ids from 1000, five
//! categories from 10, bids for one of the last hundred or so auctions by one of the last
//! thousand people, prices from $1 to $1M on a log scale, auctions lasting about as long as it
//! takes to create a hundred more. Where Flink's generator draws from an unseeded random
//! generator, this one seeds a generator per event, so runs are repeatable. Instance *i* of *k*
//! emits events *i*, *i + k*, …, so the union of the instances is what one instance emits.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use arrow::array::builder::NullBufferBuilder;
use arrow::array::{
    ArrayRef, Int32Array, Int64Builder, RecordBatch, StringBuilder, StructArray,
    TimestampMillisecondBuilder, new_null_array,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, FieldRef, Fields, SchemaRef, TimeUnit};
use spate_engine::EngineError;
use spate_engine::operator::TaskInfo;
use spate_engine::source::{Source, SourcePoll};

use crate::datagen::Position;
use crate::parse_memory_size;

/// The largest batch one poll emits.
const BATCH_EVENTS: u64 = 4096;

/// Ids of people and auctions start here, categories at [`FIRST_CATEGORY_ID`].
const FIRST_PERSON_ID: i64 = 1000;
const FIRST_AUCTION_ID: i64 = 1000;
const FIRST_CATEGORY_ID: i64 = 10;
const NUM_CATEGORIES: u64 = 5;
/// Hot sellers, bidders and auctions are the first of every this many.
const HOT_GROUP: i64 = 100;
/// People bidding and selling are drawn from the last this many (plus [`ID_LEAD`]).
const ACTIVE_PEOPLE: i64 = 1000;
/// Bids are for one of the last this many auctions (plus [`ID_LEAD`]).
const IN_FLIGHT_AUCTIONS: i64 = 100;
/// How far ahead of the last person or auction an id may be drawn.
const ID_LEAD: i64 = 10;
/// Half of the bids come through one of these channels, the others through one of
/// [`CHANNELS`] numbered channels.
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
const HOT_CHANNEL_RATIO: u64 = 2;
const CHANNELS: usize = 10_000;
/// Steps of the `sine` rate shape.
const SINE_STEPS: usize = 10;
/// Bytes reserved per text field of a row (but `extra`, reserved at the average event size).
const TEXT_BYTES: usize = 64;
/// Shortest random strings of `itemName`, `description` and e-mail addresses.
const MIN_STRING_LENGTH: u64 = 3;

const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];

/// Seeds the per-event generators (any constant; this one is SplitMix64's increment).
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// A nexmark table whose options or columns do not fit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NexmarkError {
    /// An option's value is malformed.
    #[error("option '{key}' = '{value}': {message}")]
    Option {
        /// The option's key.
        key: String,
        /// Its value.
        value: String,
        /// What is wrong.
        message: String,
    },
    /// A column (or ROW field) the connector does not make, or of another type.
    #[error("column {column}: {message}")]
    Column {
        /// The column, `row.field` for a ROW field.
        column: String,
        /// What is wrong.
        message: String,
    },
}

/// The kind of an event, its `event_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A new person (`event_type` 0).
    Person = 0,
    /// A new auction (`event_type` 1).
    Auction = 1,
    /// A bid (`event_type` 2).
    Bid = 2,
}

/// The fields of each ROW column, in the order they are generated, with their types.
const PERSON_FIELDS: [(&str, Kind); 8] = [
    ("id", Kind::Long),
    ("name", Kind::Text),
    ("emailAddress", Kind::Text),
    ("creditCard", Kind::Text),
    ("city", Kind::Text),
    ("state", Kind::Text),
    ("dateTime", Kind::Time),
    ("extra", Kind::Text),
];
const AUCTION_FIELDS: [(&str, Kind); 10] = [
    ("id", Kind::Long),
    ("itemName", Kind::Text),
    ("description", Kind::Text),
    ("initialBid", Kind::Long),
    ("reserve", Kind::Long),
    ("dateTime", Kind::Time),
    ("expires", Kind::Time),
    ("seller", Kind::Long),
    ("category", Kind::Long),
    ("extra", Kind::Text),
];
const BID_FIELDS: [(&str, Kind); 7] = [
    ("auction", Kind::Long),
    ("bidder", Kind::Long),
    ("price", Kind::Long),
    ("channel", Kind::Text),
    ("url", Kind::Text),
    ("dateTime", Kind::Time),
    ("extra", Kind::Text),
];
/// The fields of each kind made without the event's random draws (its id and time): an
/// event that makes no other field skips the draws.
const UNDRAWN_FIELDS: [&[&str]; 3] = [&["id", "dateTime"], &["id", "dateTime"], &["dateTime"]];

/// The type of a generated field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Long,
    Text,
    Time,
}

impl Kind {
    fn data_type(self) -> DataType {
        match self {
            Kind::Long => DataType::Int64,
            Kind::Text => DataType::Utf8,
            Kind::Time => DataType::Timestamp(TimeUnit::Millisecond, None),
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Kind::Long => "BIGINT",
            Kind::Text => "VARCHAR",
            Kind::Time => "TIMESTAMP(3)",
        }
    }
}

/// One column of the table: `event_type`, a ROW column and which generated fields (by
/// index into its `*_FIELDS`) make its fields, or a column the query does not read (all
/// NULL, of its type).
#[derive(Debug, Clone)]
enum OutputColumn {
    EventType,
    Row {
        kind: EventKind,
        fields: Fields,
        sources: Vec<usize>,
    },
    Unread(DataType),
}

/// How event times advance: the inter-event delays of the rate shape, each held for a step.
#[derive(Debug, Clone)]
struct Timeline {
    /// Per step: the delay between events in microseconds and the events of the step.
    steps: Vec<(f64, u64)>,
    /// Events of one pass through all steps, and its length in milliseconds.
    events_per_epoch: u64,
    epoch_ms: f64,
}

impl Timeline {
    fn new(first_rate: f64, next_rate: f64, sine: bool, period_s: f64) -> Timeline {
        let delay = |rate: f64| 1_000_000.0 / rate;
        let delays: Vec<f64> = if first_rate == next_rate {
            vec![delay(first_rate)]
        } else if sine {
            let (mid, amplitude) = (
                (first_rate + next_rate) / 2.0,
                (first_rate - next_rate) / 2.0,
            );
            (0..SINE_STEPS)
                .map(|i| {
                    let angle = 2.0 * std::f64::consts::PI * i as f64 / SINE_STEPS as f64;
                    delay((mid + amplitude * angle.cos()).round().max(1.0))
                })
                .collect()
        } else {
            vec![delay(first_rate), delay(next_rate)]
        };
        let step_s = (period_s / delays.len() as f64).ceil();
        let steps: Vec<(f64, u64)> = delays
            .iter()
            .map(|&d| (d, ((step_s * 1_000_000.0 / d).round() as u64).max(1)))
            .collect();
        Timeline {
            events_per_epoch: steps.iter().map(|(_, n)| n).sum(),
            epoch_ms: steps.iter().map(|&(d, n)| n as f64 * d / 1000.0).sum(),
            steps,
        }
    }

    /// Milliseconds from the base time to event `n`.
    fn offset_ms(&self, n: u64) -> i64 {
        if let [(delay, _)] = self.steps[..] {
            return (n as f64 * delay / 1000.0) as i64;
        }
        let mut k = n % self.events_per_epoch;
        let mut offset = (n / self.events_per_epoch) as f64 * self.epoch_ms;
        for &(delay, events) in &self.steps {
            if k < events {
                return (offset + k as f64 * delay / 1000.0) as i64;
            }
            k -= events;
            offset += events as f64 * delay / 1000.0;
        }
        offset as i64
    }
}

/// A nexmark table's configuration, shared by the source's instances.
#[derive(Debug, Clone)]
pub struct NexmarkConfig {
    schema: SchemaRef,
    columns: Vec<OutputColumn>,
    /// Per kind and generated field (index into its `*_FIELDS`): whether it is made; the
    /// others are NULL.
    made: [Vec<bool>; 3],
    /// Events per 50 (by default) that are people, auctions and bids.
    proportions: [u64; 3],
    avg_sizes: [usize; 3],
    hot_auction_ratio: u64,
    hot_bidder_ratio: u64,
    hot_seller_ratio: u64,
    timeline: Arc<Timeline>,
    events: Option<u64>,
    keep_alive: bool,
    paced: bool,
    base_time_ms: i64,
}

impl NexmarkConfig {
    /// The configuration of a table of `schema` with the `WITH` options `options` (keys the
    /// SQL front end has checked; `connector` and unknown keys are ignored), its events timed
    /// from `base_time_ms` (milliseconds since the epoch) unless `base-time-millis` says.
    pub fn new(
        schema: SchemaRef,
        options: &BTreeMap<String, String>,
        base_time_ms: i64,
    ) -> Result<Self, NexmarkError> {
        let columns = layout(&schema)?;
        let get = |key: &'static str| options.get(key).map(|v| (key, v.as_str()));
        let int = |key: &'static str, default: u64, min: u64| match get(key) {
            None => Ok(default),
            Some((key, value)) => value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|v| *v >= min)
                .ok_or_else(|| option_err(key, value, format!("expected an integer from {min}"))),
        };
        let flag = |key: &'static str, default: bool| match get(key) {
            None => Ok(default),
            Some((key, value)) => match value.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(option_err(key, value, "expected true or false")),
            },
        };
        let size = |key: &'static str, default: usize| match get(key) {
            None => Ok(default),
            Some((key, value)) => parse_memory_size(value).ok_or_else(|| {
                option_err(key, value, "expected a size such as '100b', '1kb' or '200'")
            }),
        };
        let base_time_ms = match get("base-time-millis") {
            None => base_time_ms,
            Some((key, value)) => value
                .trim()
                .parse::<i64>()
                .map_err(|_| option_err(key, value, "expected milliseconds since the epoch"))?,
        };
        let first_rate = int("first-event.rate", 10_000, 1)?;
        let next_rate = int("next-event.rate", first_rate, 1)?;
        let sine = match get("rate.shape") {
            None => false,
            Some((_, v)) if v.trim().eq_ignore_ascii_case("square") => false,
            Some((_, v)) if v.trim().eq_ignore_ascii_case("sine") => true,
            Some((key, value)) => return Err(option_err(key, value, "expected square or sine")),
        };
        let period_ms = match get("rate.period") {
            None => 600_000,
            Some((key, value)) => parse_duration_ms(value)
                .filter(|ms| *ms >= 1000)
                .ok_or_else(|| {
                    option_err(
                        key,
                        value,
                        "expected a duration of at least 1 s, e.g. '600 s'",
                    )
                })?,
        };
        let events = int("events.num", 0, 0)?;
        let mut made = [
            vec![false; PERSON_FIELDS.len()],
            vec![false; AUCTION_FIELDS.len()],
            vec![false; BID_FIELDS.len()],
        ];
        for column in &columns {
            if let OutputColumn::Row { kind, sources, .. } = column {
                for &i in sources {
                    made[*kind as usize][i] = true;
                }
            }
        }
        Ok(NexmarkConfig {
            schema,
            columns,
            made,
            proportions: [
                int("person.proportion", 1, 1)?,
                int("auction.proportion", 3, 1)?,
                int("bid.proportion", 46, 1)?,
            ],
            avg_sizes: [
                size("person.avg-size", 200)?,
                size("auction.avg-size", 500)?,
                size("bid.avg-size", 100)?,
            ],
            hot_auction_ratio: int("bid.hot-ratio.auctions", 2, 1)?,
            hot_bidder_ratio: int("bid.hot-ratio.bidders", 4, 1)?,
            hot_seller_ratio: int("auction.hot-ratio.sellers", 4, 1)?,
            timeline: Arc::new(Timeline::new(
                first_rate as f64,
                next_rate as f64,
                sine,
                period_ms as f64 / 1000.0,
            )),
            events: (events > 0).then_some(events),
            keep_alive: flag("keep-alive", false)?,
            paced: flag("rate.limited", false)? || !flag("max-emit-speed", true)?,
            base_time_ms,
        })
    }

    /// The configuration making only what a query reads: `reads(column, None)` says whether
    /// it reads a column at all, `reads(column, Some(field))` whether it reads a field of a
    /// ROW column. The rest is NULL. Every event is the same as when all is made, since its
    /// random draws are the same (and skipped only when nothing read depends on them).
    pub fn reading(mut self, reads: impl Fn(&str, Option<&str>) -> bool) -> Self {
        self.made.iter_mut().for_each(|made| made.fill(false));
        for (column, field) in self.columns.iter_mut().zip(self.schema.fields()) {
            let OutputColumn::Row {
                kind,
                fields,
                sources,
            } = column
            else {
                continue;
            };
            if !reads(field.name(), None) {
                *column = OutputColumn::Unread(field.data_type().clone());
                continue;
            }
            let read: Vec<usize> = fields
                .iter()
                .zip(sources.iter())
                .filter(|(f, _)| reads(field.name(), Some(f.name())))
                .map(|(_, &i)| i)
                .collect();
            // A column read but none of its fields (its validity alone) is made whole.
            let read = if read.is_empty() { &*sources } else { &read };
            for &i in read {
                self.made[*kind as usize][i] = true;
            }
        }
        self
    }

    /// The columns and `column.field`s made, if [`NexmarkConfig::reading`] left any NULL.
    fn made_columns(&self) -> Option<Vec<String>> {
        let mut made = Vec::new();
        let mut all = true;
        for (column, field) in self.columns.iter().zip(self.schema.fields()) {
            match column {
                OutputColumn::EventType => made.push(field.name().clone()),
                OutputColumn::Unread(_) => all = false,
                OutputColumn::Row {
                    kind,
                    fields,
                    sources,
                } => {
                    let kind_made = &self.made[*kind as usize];
                    let fields_made: Vec<String> = fields
                        .iter()
                        .zip(sources)
                        .filter(|&(_, &i)| kind_made[i])
                        .map(|(f, _)| format!("{}.{}", field.name(), f.name()))
                        .collect();
                    if fields_made.len() == fields.len() {
                        made.push(field.name().clone());
                    } else {
                        all = false;
                        made.extend(fields_made);
                    }
                }
            }
        }
        (!all).then_some(made)
    }

    /// The number of events, if the source is bounded.
    pub fn events(&self) -> Option<u64> {
        self.events
    }

    /// The schema of the generated rows.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// The kind of event `n`.
    pub fn kind(&self, n: u64) -> EventKind {
        let [person, auction, bid] = self.proportions;
        let rem = n % (person + auction + bid);
        if rem < person {
            EventKind::Person
        } else if rem < person + auction {
            EventKind::Auction
        } else {
            EventKind::Bid
        }
    }

    /// Events `numbers` (ascending), timed from `base_time_ms`.
    fn generate(&self, numbers: &[u64], base_time_ms: i64) -> Result<RecordBatch, EngineError> {
        let mut rows = Rows::new(self, numbers.len());
        let mut generator = Generator {
            config: self,
            scratch: String::new(),
        };
        for &n in numbers {
            let time = base_time_ms + self.timeline.offset_ms(n);
            generator.event(n, time, &mut rows);
        }
        let finished = rows.finish();
        let kinds: ArrayRef = Arc::new(Int32Array::from(finished.kinds));
        let columns = self
            .columns
            .iter()
            .map(|column| -> Result<ArrayRef, EngineError> {
                Ok(match column {
                    OutputColumn::EventType => Arc::clone(&kinds),
                    OutputColumn::Row {
                        kind,
                        fields,
                        sources,
                    } => {
                        let (arrays, nulls) = finished.rows[*kind as usize]
                            .as_ref()
                            .expect("rows of wanted kinds are made");
                        let children = sources.iter().map(|&i| Arc::clone(&arrays[i])).collect();
                        Arc::new(StructArray::try_new(
                            fields.clone(),
                            children,
                            nulls.clone(),
                        )?)
                    }
                    OutputColumn::Unread(data_type) => new_null_array(data_type, numbers.len()),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(numbers.len()));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &options,
        )?)
    }
}

fn option_err(key: &str, value: &str, message: impl Into<String>) -> NexmarkError {
    NexmarkError::Option {
        key: key.into(),
        value: value.into(),
        message: message.into(),
    }
}

/// Maps the table's columns to generated ones, checking names and types.
fn layout(schema: &SchemaRef) -> Result<Vec<OutputColumn>, NexmarkError> {
    let column_err = |column: &str, message: String| NexmarkError::Column {
        column: column.into(),
        message,
    };
    schema
        .fields()
        .iter()
        .map(|field| {
            let (kind, generated): (EventKind, &[(&str, Kind)]) = match field.name().as_str() {
                "event_type" => {
                    return match field.data_type() {
                        DataType::Int32 => Ok(OutputColumn::EventType),
                        other => Err(column_err(
                            "event_type",
                            format!("has type {other}; the nexmark connector makes INT"),
                        )),
                    };
                }
                "person" => (EventKind::Person, &PERSON_FIELDS),
                "auction" => (EventKind::Auction, &AUCTION_FIELDS),
                "bid" => (EventKind::Bid, &BID_FIELDS),
                other => {
                    return Err(column_err(
                        other,
                        "the nexmark connector makes the columns event_type, person, auction \
                         and bid"
                            .into(),
                    ));
                }
            };
            let expected = generated
                .iter()
                .map(|(name, kind)| format!("`{name}` {}", kind.sql()))
                .collect::<Vec<_>>()
                .join(", ");
            let DataType::Struct(fields) = field.data_type() else {
                return Err(column_err(
                    field.name(),
                    format!("is not a ROW; declare it ROW<{expected}>"),
                ));
            };
            if !field.is_nullable() {
                return Err(column_err(
                    field.name(),
                    "is NULL for the other kinds of events: drop NOT NULL".into(),
                ));
            }
            let sources = fields
                .iter()
                .map(|f: &FieldRef| {
                    let name = format!("{}.{}", field.name(), f.name());
                    let Some(index) = generated.iter().position(|(n, _)| n == f.name()) else {
                        return Err(column_err(
                            &name,
                            format!("is not a field of the nexmark {}: {expected}", field.name()),
                        ));
                    };
                    let kind = generated[index].1;
                    if *f.data_type() != kind.data_type() {
                        return Err(column_err(
                            &name,
                            format!("has type {}; it is {}", f.data_type(), kind.sql()),
                        ));
                    }
                    Ok(index)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let fields = fields.clone();
            Ok(OutputColumn::Row {
                kind,
                fields,
                sources,
            })
        })
        .collect()
}

/// A Flink duration (`TimeUtils.parseDuration`) in milliseconds: an integer and an optional
/// unit (milliseconds without one).
fn parse_duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let amount: u64 = text[..split].parse().ok()?;
    let unit: u64 = match text[split..].trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return None,
    };
    amount.checked_mul(unit)
}

/// SplitMix64, seeded per event from its number, so an event does not depend on which
/// instance makes it or on what was made before.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut rng = Rng(SEED ^ seed.wrapping_mul(0xD1B5_4A32_D192_ED03));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[0, bound)` (`bound` > 0).
    fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(bound)) >> 64) as u64
    }

    /// A uniform number in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A price in cents: $1 to $1M, uniform on a log scale.
    fn price(&mut self) -> i64 {
        (10f64.powf(self.unit() * 6.0) * 100.0).round() as i64
    }

    /// Appends `length` random lowercase letters, 4 from each draw.
    fn letters(&mut self, length: usize, out: &mut String) {
        let mut buffer = [0u8; 64];
        let mut left = length;
        while left > 0 {
            let chunk = left.min(buffer.len());
            for four in buffer[..chunk].chunks_mut(4) {
                let draw = self.next();
                for (k, letter) in four.iter_mut().enumerate() {
                    // A 16-bit slice of the draw scaled to 0..26.
                    *letter = b'a' + (((((draw >> (16 * k)) & 0xFFFF) * 26) >> 16) as u8);
                }
            }
            out.push_str(std::str::from_utf8(&buffer[..chunk]).expect("ASCII letters"));
            left -= chunk;
        }
    }

    /// Nexmark's `nextString`: 3 to `max_length` − 1 characters, lowercase letters with one in
    /// 13 being `special`, trimmed of spaces at both ends.
    fn string(&mut self, max_length: u64, special: char, out: &mut String) {
        let length = MIN_STRING_LENGTH + self.below(max_length - MIN_STRING_LENGTH);
        let start = out.len();
        for _ in 0..length {
            let draw = self.next();
            if draw.is_multiple_of(13) {
                out.push(special);
            } else {
                out.push(char::from(b'a' + ((draw / 13) % 26) as u8));
            }
        }
        if special == ' ' {
            let made = &out[start..];
            let (leading, kept) = (made.len() - made.trim_start().len(), made.trim().len());
            out.truncate(start + leading + kept);
            out.drain(start..start + leading);
        }
    }

    /// Nexmark's `nextExtra`: letters bringing an event of `size` bytes to `average` on
    /// average (± 20%).
    fn extra(&mut self, size: usize, average: usize, out: &mut String) {
        if size > average {
            return;
        }
        let wanted = average - size;
        let delta = (wanted as f64 * 0.2).round() as usize;
        let length = wanted - delta
            + if delta == 0 {
                0
            } else {
                self.below(2 * delta as u64) as usize
            };
        self.letters(length, out);
    }
}

/// The numbered channels of bids: `channel-<n>` and its URL.
struct ChannelTable {
    hot_urls: [String; 4],
    channels: Vec<(String, String)>,
}

/// The channels, made once (they depend on no option).
fn channel_table() -> &'static ChannelTable {
    static TABLE: OnceLock<ChannelTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        // URL seeds of the hot channels come after those of the numbered ones.
        let hot_urls = std::array::from_fn(|i| base_url(&mut Rng::new((CHANNELS + i) as u64)));
        let channels = (0..CHANNELS)
            .map(|n| {
                let mut rng = Rng::new(n as u64);
                let mut url = base_url(&mut rng);
                // Nine in ten numbered channels carry their id in the URL (Java's
                // Math.abs(Integer.reverse(n))).
                if rng.below(10) > 0 {
                    url.push_str("&channel_id=");
                    url.push_str(&(n as i32).reverse_bits().wrapping_abs().to_string());
                }
                (format!("channel-{n}"), url)
            })
            .collect();
        ChannelTable { hot_urls, channels }
    })
}

/// `https://www.nexmark.com/<a>/<b>/<c>/item.htm?query=1` with short random path parts.
fn base_url(rng: &mut Rng) -> String {
    let mut url = String::from("https://www.nexmark.com/");
    for _ in 0..3 {
        rng.string(5, '_', &mut url);
        url.push('/');
    }
    url.push_str("item.htm?query=1");
    url
}

/// The builder of one generated field.
enum FieldBuilder {
    Long(Int64Builder),
    Text(StringBuilder),
    Time(TimestampMillisecondBuilder),
}

/// Column builders of one ROW column: one per generated field that is made, and the row's
/// validity.
struct RowBuilders {
    /// Per generated field: its builder, `None` if it is not made (NULL).
    fields: Vec<Option<FieldBuilder>>,
    /// The types of the generated fields.
    kinds: Vec<Kind>,
    /// Whether a made field needs the event's random draws.
    draws: bool,
    valid: NullBufferBuilder,
}

impl RowBuilders {
    /// Builders of the `made` ones of `fields` (of which `undrawn` need no random draws)
    /// for `capacity` rows, `events` of which are expected to be set, with room for their
    /// texts ([`TEXT_BYTES`] each, `extra` `extra_bytes`).
    fn new(
        fields: &[(&str, Kind)],
        undrawn: &[&str],
        made: &[bool],
        capacity: usize,
        events: usize,
        extra_bytes: usize,
    ) -> RowBuilders {
        let builders = fields
            .iter()
            .zip(made)
            .map(|((name, kind), &made)| {
                made.then(|| match kind {
                    Kind::Long => FieldBuilder::Long(Int64Builder::with_capacity(capacity)),
                    Kind::Text => {
                        let bytes = if *name == "extra" {
                            extra_bytes
                        } else {
                            TEXT_BYTES
                        };
                        FieldBuilder::Text(StringBuilder::with_capacity(capacity, events * bytes))
                    }
                    Kind::Time => {
                        FieldBuilder::Time(TimestampMillisecondBuilder::with_capacity(capacity))
                    }
                })
            })
            .collect();
        RowBuilders {
            fields: builders,
            kinds: fields.iter().map(|(_, kind)| *kind).collect(),
            draws: fields
                .iter()
                .zip(made)
                .any(|((name, _), &made)| made && !undrawn.contains(name)),
            valid: NullBufferBuilder::new(capacity),
        }
    }

    /// Whether generated field `i` is made.
    fn made(&self, i: usize) -> bool {
        self.fields[i].is_some()
    }

    fn long(&mut self, i: usize, value: i64) {
        if let Some(FieldBuilder::Long(b)) = &mut self.fields[i] {
            b.append_value(value);
        }
    }

    fn text(&mut self, i: usize, value: &str) {
        if let Some(FieldBuilder::Text(b)) = &mut self.fields[i] {
            b.append_value(value);
        }
    }

    fn time(&mut self, i: usize, value: i64) {
        if let Some(FieldBuilder::Time(b)) = &mut self.fields[i] {
            b.append_value(value);
        }
    }

    fn append_null(&mut self) {
        for builder in self.fields.iter_mut().flatten() {
            match builder {
                FieldBuilder::Long(b) => b.append_null(),
                FieldBuilder::Text(b) => b.append_null(),
                FieldBuilder::Time(b) => b.append_null(),
            }
        }
        self.valid.append_null();
    }

    /// The arrays in generated-field order (all NULL for fields not made), and the row's
    /// validity (`None`: all valid).
    fn finish(mut self) -> (Vec<ArrayRef>, Option<NullBuffer>) {
        let rows = self.valid.len();
        let arrays = self
            .fields
            .iter_mut()
            .zip(&self.kinds)
            .map(|(builder, kind)| match builder {
                Some(FieldBuilder::Long(b)) => Arc::new(b.finish()) as ArrayRef,
                Some(FieldBuilder::Text(b)) => Arc::new(b.finish()),
                Some(FieldBuilder::Time(b)) => Arc::new(b.finish()),
                None => new_null_array(&kind.data_type(), rows),
            })
            .collect();
        (arrays, self.valid.finish())
    }
}

/// The rows of one batch under construction.
struct Rows {
    kinds: Vec<i32>,
    /// Person, auction and bid builders, for the kinds the table has.
    rows: [Option<RowBuilders>; 3],
}

/// A finished batch: the event types, and per kind its arrays and validity.
struct Finished {
    kinds: Vec<i32>,
    rows: [Option<(Vec<ArrayRef>, Option<NullBuffer>)>; 3],
}

impl Rows {
    fn new(config: &NexmarkConfig, capacity: usize) -> Rows {
        let fields: [&[(&str, Kind)]; 3] = [&PERSON_FIELDS, &AUCTION_FIELDS, &BID_FIELDS];
        let total: u64 = config.proportions.iter().sum();
        Rows {
            kinds: Vec::with_capacity(capacity),
            rows: std::array::from_fn(|i| {
                let events = (capacity as u64 * config.proportions[i]).div_ceil(total) as usize;
                let made = &config.made[i];
                made.contains(&true).then(|| {
                    RowBuilders::new(
                        fields[i],
                        UNDRAWN_FIELDS[i],
                        made,
                        capacity,
                        events,
                        config.avg_sizes[i],
                    )
                })
            }),
        }
    }

    /// Starts an event of `kind`: the other kinds' rows are NULL. The builders of `kind`, if
    /// the table has them.
    fn start(&mut self, kind: EventKind) -> Option<&mut RowBuilders> {
        self.kinds.push(kind as i32);
        for (i, row) in self.rows.iter_mut().enumerate() {
            if i != kind as usize
                && let Some(row) = row
            {
                row.append_null();
            }
        }
        let row = self.rows[kind as usize].as_mut()?;
        row.valid.append_non_null();
        Some(row)
    }

    fn finish(self) -> Finished {
        let [person, auction, bid] = self.rows;
        Finished {
            kinds: self.kinds,
            rows: [
                person.map(RowBuilders::finish),
                auction.map(RowBuilders::finish),
                bid.map(RowBuilders::finish),
            ],
        }
    }
}

/// Makes events into [`Rows`].
struct Generator<'a> {
    config: &'a NexmarkConfig,
    scratch: String,
}

impl Generator<'_> {
    fn total(&self) -> i64 {
        self.config.proportions.iter().sum::<u64>() as i64
    }

    /// The last person made by event `n` (or before it), counting from 0.
    fn last_person(&self, n: i64) -> i64 {
        let person = self.config.proportions[0] as i64;
        let (epoch, offset) = (n / self.total(), n % self.total());
        epoch * person + offset.min(person - 1)
    }

    /// The last auction made by event `n` (or before it), counting from 0.
    fn last_auction(&self, n: i64) -> i64 {
        let [person, auction, _] = self.config.proportions.map(|p| p as i64);
        let (mut epoch, mut offset) = (n / self.total(), n % self.total());
        if offset < person {
            epoch -= 1;
            offset = auction - 1;
        } else if offset >= person + auction {
            offset = auction - 1;
        } else {
            offset -= person;
        }
        epoch * auction + offset
    }

    /// One of the active people (or a few not made yet), counting from 0.
    fn some_person(&self, n: i64, rng: &mut Rng) -> i64 {
        let people = self.last_person(n) + 1;
        let active = people.min(ACTIVE_PEOPLE);
        people - active + rng.below((active + ID_LEAD) as u64) as i64
    }

    /// One of the auctions in flight (or a few not made yet), counting from 0.
    fn some_auction(&self, n: i64, rng: &mut Rng) -> i64 {
        let last = self.last_auction(n);
        let first = (last - IN_FLIGHT_AUCTIONS).max(0);
        first + rng.below((last - first + 1 + ID_LEAD) as u64) as i64
    }

    fn event(&mut self, number: u64, time: i64, rows: &mut Rows) {
        let kind = self.config.kind(number);
        let Some(row) = rows.start(kind) else {
            return;
        };
        let n = number as i64;
        let mut rng = Rng::new(number);
        match kind {
            EventKind::Person => self.person(n, time, &mut rng, row),
            EventKind::Auction => self.auction(n, time, &mut rng, row),
            EventKind::Bid => self.bid(n, time, &mut rng, row),
        }
    }

    /// Appends the text in `scratch` to generated field `i` and clears it.
    fn text(&mut self, row: &mut RowBuilders, i: usize) {
        row.text(i, &self.scratch);
        self.scratch.clear();
    }

    fn person(&mut self, n: i64, time: i64, rng: &mut Rng, row: &mut RowBuilders) {
        use std::fmt::Write;
        // Generated fields: id, name, emailAddress, creditCard, city, state, dateTime, extra.
        row.long(0, self.last_person(n) + FIRST_PERSON_ID);
        row.time(6, time);
        if !row.draws {
            return;
        }
        let mut size = 8;
        self.scratch
            .push_str(FIRST_NAMES[rng.below(FIRST_NAMES.len() as u64) as usize]);
        self.scratch.push(' ');
        self.scratch
            .push_str(LAST_NAMES[rng.below(LAST_NAMES.len() as u64) as usize]);
        size += self.scratch.len();
        self.text(row, 1);
        rng.string(7, ' ', &mut self.scratch);
        self.scratch.push('@');
        rng.string(5, ' ', &mut self.scratch);
        self.scratch.push_str(".com");
        size += self.scratch.len();
        self.text(row, 2);
        for i in 0..4 {
            let separator = if i > 0 { " " } else { "" };
            write!(self.scratch, "{separator}{:04}", rng.below(10_000))
                .expect("writes to a String");
        }
        size += self.scratch.len();
        self.text(row, 3);
        let city = US_CITIES[rng.below(US_CITIES.len() as u64) as usize];
        let state = US_STATES[rng.below(US_STATES.len() as u64) as usize];
        size += city.len() + state.len();
        row.text(4, city);
        row.text(5, state);
        if row.made(7) {
            rng.extra(size, self.config.avg_sizes[0], &mut self.scratch);
            self.text(row, 7);
        }
    }

    fn auction(&mut self, n: i64, time: i64, rng: &mut Rng, row: &mut RowBuilders) {
        // Generated fields: id, itemName, description, initialBid, reserve, dateTime,
        // expires, seller, category, extra.
        let config = self.config;
        row.long(0, self.last_auction(n) + FIRST_AUCTION_ID);
        row.time(5, time);
        if !row.draws {
            return;
        }
        let seller = if rng.below(config.hot_seller_ratio) > 0 {
            (self.last_person(n) / HOT_GROUP) * HOT_GROUP
        } else {
            self.some_person(n, rng)
        };
        let category = FIRST_CATEGORY_ID + rng.below(NUM_CATEGORIES) as i64;
        let initial_bid = rng.price();
        // Auctions last about as long as it takes to make IN_FLIGHT_AUCTIONS more.
        let ahead = (IN_FLIGHT_AUCTIONS as u64 * config.proportions.iter().sum::<u64>())
            / config.proportions[1];
        let horizon =
            config.timeline.offset_ms(n as u64 + ahead) - config.timeline.offset_ms(n as u64);
        let expires = time + 1 + rng.below((horizon * 2).max(1) as u64) as i64;
        rng.string(20, ' ', &mut self.scratch);
        let mut size = 8 + self.scratch.len();
        self.text(row, 1);
        rng.string(100, ' ', &mut self.scratch);
        size += self.scratch.len() + 40;
        self.text(row, 2);
        let reserve = initial_bid + rng.price();
        if row.made(9) {
            rng.extra(size, config.avg_sizes[1], &mut self.scratch);
            self.text(row, 9);
        }
        row.long(3, initial_bid);
        row.long(4, reserve);
        row.time(6, expires);
        row.long(7, seller + FIRST_PERSON_ID);
        row.long(8, category);
    }

    fn bid(&mut self, n: i64, time: i64, rng: &mut Rng, row: &mut RowBuilders) {
        // Generated fields: auction, bidder, price, channel, url, dateTime, extra.
        let config = self.config;
        row.time(5, time);
        if !row.draws {
            return;
        }
        let auction = if rng.below(config.hot_auction_ratio) > 0 {
            (self.last_auction(n) / HOT_GROUP) * HOT_GROUP
        } else {
            self.some_auction(n, rng)
        };
        // The second of each hundred people, so hot bidders are not the hot sellers.
        let bidder = if rng.below(config.hot_bidder_ratio) > 0 {
            (self.last_person(n) / HOT_GROUP) * HOT_GROUP + 1
        } else {
            self.some_person(n, rng)
        };
        row.long(0, auction + FIRST_AUCTION_ID);
        row.long(1, bidder + FIRST_PERSON_ID);
        row.long(2, rng.price());
        let table = channel_table();
        if rng.below(HOT_CHANNEL_RATIO) > 0 {
            let i = rng.below(HOT_CHANNELS.len() as u64) as usize;
            row.text(3, HOT_CHANNELS[i]);
            row.text(4, &table.hot_urls[i]);
        } else {
            let (channel, url) = &table.channels[rng.below(CHANNELS as u64) as usize];
            row.text(3, channel);
            row.text(4, url);
        }
        if row.made(6) {
            rng.extra(32, config.avg_sizes[2], &mut self.scratch);
            self.text(row, 6);
        }
    }
}

/// One instance of the nexmark source.
pub struct NexmarkSource {
    config: NexmarkConfig,
    task: TaskInfo,
    /// This instance's share of the events, if bounded.
    events: Option<u64>,
    /// Events emitted so far (since the start, restored from checkpoints).
    emitted: u64,
    base_time_ms: i64,
    /// When pacing started, and the event-time offset of the next event then.
    paced_from: Option<(Instant, i64)>,
    partition_finished: bool,
    numbers: Vec<u64>,
}

impl NexmarkSource {
    /// Instance `task.instance` of `task.parallelism`.
    pub fn new(config: NexmarkConfig, task: &TaskInfo) -> Self {
        let (i, n) = (task.instance as u64, task.parallelism.max(1) as u64);
        let events = config.events.map(|total| {
            if total > i {
                (total - i - 1) / n + 1
            } else {
                0
            }
        });
        NexmarkSource {
            base_time_ms: config.base_time_ms,
            config,
            task: task.clone(),
            events,
            emitted: 0,
            paced_from: None,
            partition_finished: false,
            numbers: Vec::new(),
        }
    }

    /// The number of this instance's `k`th event.
    fn number(&self, k: u64) -> u64 {
        self.task.instance as u64 + k * self.task.parallelism.max(1) as u64
    }
}

impl Source for NexmarkSource {
    fn schema(&self) -> SchemaRef {
        self.config.schema()
    }

    fn partitions(&self) -> Vec<String> {
        vec![format!(
            "nexmark {}/{}",
            self.task.instance, self.task.parallelism
        )]
    }

    fn made_columns(&self) -> Option<Vec<String>> {
        self.config.made_columns()
    }

    fn poll(&mut self) -> Result<SourcePoll, EngineError> {
        let left = self.events.map_or(u64::MAX, |events| events - self.emitted);
        if left == 0 {
            if self.config.keep_alive {
                return Ok(SourcePoll::Idle);
            }
            if self.partition_finished {
                return Ok(SourcePoll::Finished);
            }
            self.partition_finished = true;
            return Ok(SourcePoll::PartitionFinished(0));
        }
        let count = left.min(BATCH_EVENTS);
        self.numbers.clear();
        if self.config.paced {
            let next = self.config.timeline.offset_ms(self.number(self.emitted));
            let (since, offset) = *self.paced_from.get_or_insert((Instant::now(), next));
            let due = offset + i64::try_from(since.elapsed().as_millis()).unwrap_or(i64::MAX);
            for k in self.emitted..self.emitted + count {
                let number = self.number(k);
                if self.config.timeline.offset_ms(number) > due {
                    break;
                }
                self.numbers.push(number);
            }
            if self.numbers.is_empty() {
                return Ok(SourcePoll::Idle);
            }
        } else {
            let (i, n) = (
                self.task.instance as u64,
                self.task.parallelism.max(1) as u64,
            );
            self.numbers
                .extend((self.emitted..self.emitted + count).map(|k| i + k * n));
        }
        let batch = self.config.generate(&self.numbers, self.base_time_ms)?;
        self.emitted += self.numbers.len() as u64;
        Ok(SourcePoll::Batch {
            partition: 0,
            batch,
        })
    }

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Vec<u8>, EngineError> {
        let position = Position {
            instance: self.task.instance,
            parallelism: self.task.parallelism,
            emitted: self.emitted,
            base_time_ms: self.base_time_ms,
        };
        Ok(serde_json::to_vec(&position).expect("position serializes"))
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<(), EngineError> {
        let Some(bytes) = state else {
            return Ok(());
        };
        let position = Position::decode(bytes, &self.task, "nexmark", self.events)?;
        self.emitted = position.emitted;
        self.base_time_ms = position.base_time_ms;
        self.paced_from = None;
        self.partition_finished = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int32Type, Int64Type, Schema, TimestampMillisecondType};

    use super::*;
    use crate::testing::drain;
    use crate::testing::task;

    const BASE: i64 = 1_700_000_000_000;

    fn row(fields: &[(&str, Kind)]) -> DataType {
        DataType::Struct(Fields::from(
            fields
                .iter()
                .map(|(name, kind)| arrow::datatypes::Field::new(*name, kind.data_type(), true))
                .collect::<Vec<_>>(),
        ))
    }

    /// Flink's nexmark table.
    fn schema() -> SchemaRef {
        use arrow::datatypes::Field;
        Arc::new(Schema::new(vec![
            Field::new("event_type", DataType::Int32, true),
            Field::new("person", row(&PERSON_FIELDS), true),
            Field::new("auction", row(&AUCTION_FIELDS), true),
            Field::new("bid", row(&BID_FIELDS), true),
        ]))
    }

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn config(events: u64) -> NexmarkConfig {
        let events = events.to_string();
        NexmarkConfig::new(
            schema(),
            &options(&[
                ("connector", "nexmark"),
                ("events.num", &events),
                ("first-event.rate", "1000"),
            ]),
            BASE,
        )
        .unwrap()
    }

    fn all(batches: &[RecordBatch]) -> RecordBatch {
        arrow::compute::concat_batches(&batches[0].schema(), batches).unwrap()
    }

    /// The events sorted by their timestamp and then their kind's id: a stable order whatever
    /// instance made them.
    fn sorted(batch: &RecordBatch) -> RecordBatch {
        let times = arrow::compute::kernels::zip::zip(
            &arrow::compute::is_not_null(batch.column(3)).unwrap(),
            batch
                .column(3)
                .as_struct()
                .column_by_name("dateTime")
                .unwrap(),
            &arrow::compute::kernels::zip::zip(
                &arrow::compute::is_not_null(batch.column(2)).unwrap(),
                batch
                    .column(2)
                    .as_struct()
                    .column_by_name("dateTime")
                    .unwrap(),
                batch
                    .column(1)
                    .as_struct()
                    .column_by_name("dateTime")
                    .unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        let columns = [
            arrow::compute::SortColumn {
                values: times,
                options: None,
            },
            arrow::compute::SortColumn {
                values: Arc::clone(batch.column(3).as_struct().column(2)),
                options: None,
            },
            arrow::compute::SortColumn {
                values: Arc::clone(batch.column(3).as_struct().column(6)),
                options: None,
            },
        ];
        let order = arrow::compute::lexsort_to_indices(&columns, None).unwrap();
        arrow::compute::take_record_batch(batch, &order).unwrap()
    }

    fn longs(batch: &RecordBatch, column: usize, field: &str) -> Vec<i64> {
        let array = batch.column(column).as_struct();
        let values = array
            .column_by_name(field)
            .unwrap()
            .as_primitive::<Int64Type>();
        (0..array.len())
            .filter(|&i| array.is_valid(i))
            .map(|i| values.value(i))
            .collect()
    }

    fn texts(batch: &RecordBatch, column: usize, field: &str) -> Vec<String> {
        let array = batch.column(column).as_struct();
        let values = array.column_by_name(field).unwrap().as_string::<i32>();
        (0..array.len())
            .filter(|&i| array.is_valid(i))
            .map(|i| values.value(i).to_string())
            .collect()
    }

    #[test]
    fn events_come_in_the_standard_proportions_and_shapes() {
        let batch = all(&drain(&mut NexmarkSource::new(config(50_000), &task(0, 1))));
        assert_eq!(batch.num_rows(), 50_000);
        let kinds = batch.column(0).as_primitive::<Int32Type>();
        // Every 50 events: 1 person, then 3 auctions, then 46 bids.
        for (i, kind) in kinds.values().iter().enumerate() {
            let expected = match i % 50 {
                0 => 0,
                1..=3 => 1,
                _ => 2,
            };
            assert_eq!(*kind, expected, "event {i}");
        }
        // Exactly one ROW is set per event, and its fields are NULL where it is.
        for (column, kind) in [(1, 0), (2, 1), (3, 2)] {
            let rows = batch.column(column).as_struct();
            for i in 0..batch.num_rows() {
                assert_eq!(rows.is_valid(i), kinds.value(i) == kind);
                assert_eq!(rows.column(0).is_valid(i), kinds.value(i) == kind);
            }
        }
        let people = longs(&batch, 1, "id");
        assert_eq!(people, (1000..2000).collect::<Vec<i64>>());
        let auctions = longs(&batch, 2, "id");
        assert_eq!(auctions, (1000..4000).collect::<Vec<i64>>());
        // Bids go to auctions made so far (or a few ahead), mostly to hot ones.
        let bid_auctions = longs(&batch, 3, "auction");
        assert_eq!(bid_auctions.len(), 46_000);
        assert!(bid_auctions.iter().all(|a| (1000..4011).contains(a)));
        let hot = bid_auctions.iter().filter(|a| *a % 100 == 0).count();
        assert!(
            (22_000..26_000).contains(&hot),
            "{hot} bids for hot auctions"
        );
        let bidders = longs(&batch, 3, "bidder");
        assert!(bidders.iter().all(|b| (1000..2011).contains(b)));
        let hot = bidders.iter().filter(|b| *b % 100 == 1).count();
        assert!((34_000..36_500).contains(&hot), "{hot} bids by hot bidders");
        let prices = longs(&batch, 3, "price");
        assert!(prices.iter().all(|p| (100..=100_000_000).contains(p)));
        let cheap = prices.iter().filter(|p| **p < 10_000).count();
        assert!(
            (14_000..16_700).contains(&cheap),
            "a third below $100: {cheap}"
        );
        let categories = longs(&batch, 2, "category");
        assert!(categories.iter().all(|c| (10..15).contains(c)));
        assert_eq!(
            categories
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            5
        );
        let states = texts(&batch, 1, "state");
        assert!(states.iter().all(|s| US_STATES.contains(&s.as_str())));
        let channels = texts(&batch, 3, "channel");
        let hot = channels
            .iter()
            .filter(|c| HOT_CHANNELS.contains(&c.as_str()))
            .count();
        assert!(
            (22_000..24_000).contains(&hot),
            "{hot} bids on hot channels"
        );
        assert!(
            channels
                .iter()
                .filter(|c| !HOT_CHANNELS.contains(&c.as_str()))
                .all(|c| c.starts_with("channel-"))
        );
        let urls = texts(&batch, 3, "url");
        assert!(
            urls.iter()
                .all(|u| u.starts_with("https://www.nexmark.com/") && u.split('/').count() == 7)
        );
        assert!(urls.iter().any(|u| u.contains("&channel_id=")));
        // Bids average 100 bytes with their extra.
        let extra: usize = texts(&batch, 3, "extra").iter().map(String::len).sum();
        let average = 32.0 + extra as f64 / 46_000.0;
        assert!((99.0..101.0).contains(&average), "{average}");
        // At 1000 events a second, event n is n ms after the base time.
        for (column, kind) in [(1, 0), (2, 1), (3, 2)] {
            let rows = batch.column(column).as_struct();
            let times = rows
                .column_by_name("dateTime")
                .unwrap()
                .as_primitive::<TimestampMillisecondType>();
            for i in (0..batch.num_rows()).filter(|&i| kinds.value(i) == kind) {
                assert_eq!(times.value(i), BASE + i as i64);
            }
        }
        let auction = batch.column(2).as_struct();
        let (start, expires) = (
            auction.column(5).as_primitive::<TimestampMillisecondType>(),
            auction.column(6).as_primitive::<TimestampMillisecondType>(),
        );
        assert!(
            (0..batch.num_rows())
                .filter(|&i| auction.is_valid(i))
                .all(|i| expires.value(i) > start.value(i))
        );
    }

    #[test]
    fn a_query_reading_some_fields_gets_the_same_values_and_nulls_for_the_rest() {
        let full = all(&drain(&mut NexmarkSource::new(config(5_000), &task(0, 1))));
        // What Nexmark q0 reads: the bids' fields but channel and url, and the time of
        // every event (the table's computed `dateTime`).
        let read = |column: &str, field: Option<&str>| match (column, field) {
            ("event_type" | "person" | "auction" | "bid", None) => true,
            ("person" | "auction", Some(field)) => field == "dateTime",
            ("bid", Some(field)) => !["channel", "url"].contains(&field),
            _ => false,
        };
        let pruned = all(&drain(&mut NexmarkSource::new(
            config(5_000).reading(read),
            &task(0, 1),
        )));
        assert_eq!(pruned.schema(), full.schema());
        assert_eq!(pruned.column(0), full.column(0));
        for (column, field) in full.schema().fields().iter().enumerate().skip(1) {
            let (made, whole) = (
                pruned.column(column).as_struct(),
                full.column(column).as_struct(),
            );
            assert_eq!(made.nulls(), whole.nulls(), "{}'s rows", field.name());
            for (i, f) in whole.fields().iter().enumerate() {
                let name = format!("{}.{}", field.name(), f.name());
                if read(field.name(), Some(f.name())) {
                    assert_eq!(made.column(i), whole.column(i), "{name}");
                } else {
                    assert_eq!(made.column(i).null_count(), made.len(), "{name} is NULL");
                }
            }
        }
        // A column not read at all is NULL; the others are as before.
        let no_people = all(&drain(&mut NexmarkSource::new(
            config(5_000).reading(|column, _| column != "person"),
            &task(0, 1),
        )));
        assert_eq!(no_people.column(1).null_count(), no_people.num_rows());
        assert_eq!(no_people.column(3), full.column(3));
        assert_eq!(no_people.column(2), full.column(2));
        // Plans show what is made.
        assert_eq!(config(5_000).made_columns(), None);
        assert_eq!(
            config(5_000).reading(read).made_columns().unwrap(),
            [
                "event_type",
                "person.dateTime",
                "auction.dateTime",
                "bid.auction",
                "bid.bidder",
                "bid.price",
                "bid.dateTime",
                "bid.extra"
            ]
        );
        let no_people = config(5_000).reading(|column, _| column != "person");
        assert_eq!(
            no_people.made_columns().unwrap(),
            ["event_type", "auction", "bid"]
        );
    }

    #[test]
    fn runs_repeat_and_two_instances_make_the_events_of_one() {
        let one = all(&drain(&mut NexmarkSource::new(config(10_001), &task(0, 1))));
        let again = all(&drain(&mut NexmarkSource::new(config(10_001), &task(0, 1))));
        assert_eq!(one, again);
        let mut parts = drain(&mut NexmarkSource::new(config(10_001), &task(0, 2)));
        let first: usize = parts.iter().map(RecordBatch::num_rows).sum();
        parts.extend(drain(&mut NexmarkSource::new(config(10_001), &task(1, 2))));
        assert_eq!(first, 5001);
        assert_eq!(sorted(&all(&parts)), sorted(&one));
        assert_eq!(sorted(&one), one, "one instance emits in order");
    }

    #[test]
    fn a_restored_instance_goes_on_without_duplicates() {
        let cfg = config(20_000);
        let whole = all(&drain(&mut NexmarkSource::new(cfg.clone(), &task(1, 2))));
        let mut source = NexmarkSource::new(cfg.clone(), &task(1, 2));
        source.restore(None).unwrap();
        let mut before = Vec::new();
        while before.iter().map(RecordBatch::num_rows).sum::<usize>() < 3000 {
            if let SourcePoll::Batch { batch, .. } = source.poll().unwrap() {
                before.push(batch);
            }
        }
        let state = source.snapshot(1).unwrap();
        source.poll().unwrap();
        // A restored job keeps the base time of the checkpoint, not the one it was planned at.
        let mut later = cfg.clone();
        later.base_time_ms += 60_000;
        let mut restored = NexmarkSource::new(later, &task(1, 2));
        restored.restore(Some(&state)).unwrap();
        before.extend(drain(&mut restored));
        assert_eq!(all(&before), whole);
        let mut other = NexmarkSource::new(cfg, &task(0, 2));
        assert!(matches!(
            other.restore(Some(&state)),
            Err(EngineError::CorruptState { .. })
        ));
    }

    #[test]
    fn tables_may_declare_fewer_fields_in_another_order() {
        use arrow::datatypes::Field;
        let bid = DataType::Struct(Fields::from(vec![
            Field::new("price", DataType::Int64, true),
            Field::new("auction", DataType::Int64, true),
        ]));
        let schema = Arc::new(Schema::new(vec![
            Field::new("bid", bid, true),
            Field::new("event_type", DataType::Int32, false),
        ]));
        let cfg = NexmarkConfig::new(schema, &options(&[("events.num", "100")]), BASE).unwrap();
        let partial = all(&drain(&mut NexmarkSource::new(cfg, &task(0, 1))));
        let full = all(&drain(&mut NexmarkSource::new(config(100), &task(0, 1))));
        assert_eq!(longs(&partial, 0, "price"), longs(&full, 3, "price"));
        assert_eq!(longs(&partial, 0, "auction"), longs(&full, 3, "auction"));
        assert_eq!(partial.column(1), full.column(0));
    }

    #[test]
    fn proportions_and_rates_follow_the_options() {
        let cfg = NexmarkConfig::new(
            schema(),
            &options(&[
                ("events.num", "1000"),
                ("person.proportion", "2"),
                ("auction.proportion", "1"),
                ("bid.proportion", "7"),
                ("first-event.rate", "1000"),
                ("next-event.rate", "500"),
                ("rate.period", "4 s"),
            ]),
            0,
        )
        .unwrap();
        let kinds: Vec<EventKind> = (0..10).map(|n| cfg.kind(n)).collect();
        assert_eq!(
            &kinds[..3],
            [EventKind::Person, EventKind::Person, EventKind::Auction]
        );
        assert!(kinds[3..].iter().all(|k| *k == EventKind::Bid));
        // Square: 2 s at 1000 events/s, then 2 s at 500, and again.
        let timeline = &cfg.timeline;
        assert_eq!(timeline.offset_ms(1000), 1000);
        assert_eq!(timeline.offset_ms(2000), 2000);
        assert_eq!(timeline.offset_ms(2500), 3000);
        assert_eq!(timeline.offset_ms(3000), 4000);
        assert_eq!(timeline.offset_ms(4000), 5000);
        let sine = Timeline::new(1000.0, 500.0, true, 10.0);
        assert_eq!(sine.steps.len(), 10);
        assert_eq!(sine.steps[0].1, 1000, "1 s at the first rate");
        assert!(sine.steps.iter().all(|(_, n)| (500..=1000).contains(n)));
    }

    #[test]
    fn paced_sources_keep_to_event_time_and_kept_alive_ones_do_not_end() {
        let cfg = NexmarkConfig::new(
            schema(),
            &options(&[
                ("events.num", "100"),
                ("first-event.rate", "2000"),
                ("max-emit-speed", "false"),
                ("keep-alive", "true"),
            ]),
            BASE,
        )
        .unwrap();
        let mut source = NexmarkSource::new(cfg, &task(0, 1));
        let started = Instant::now();
        let mut events = 0;
        while events < 100 {
            match source.poll().unwrap() {
                SourcePoll::Batch { batch, .. } => {
                    events += batch.num_rows();
                    // Events due within the current millisecond are due now.
                    let allowed = (started.elapsed().as_secs_f64() + 0.001) * 2000.0 + 1.0;
                    assert!(events as f64 <= allowed, "{events} events, {allowed} due");
                }
                SourcePoll::Idle => std::thread::sleep(std::time::Duration::from_millis(2)),
                other => panic!("{other:?}"),
            }
        }
        assert!(started.elapsed() >= std::time::Duration::from_millis(45));
        for _ in 0..3 {
            assert!(matches!(source.poll().unwrap(), SourcePoll::Idle));
        }
    }

    #[test]
    fn bad_options_and_columns_are_refused_by_name() {
        use arrow::datatypes::Field;
        let check = |schema: SchemaRef, pairs: &[(&str, &str)], expected: &str| {
            let err = NexmarkConfig::new(schema, &options(pairs), 0).unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        };
        check(schema(), &[("events.num", "-1")], "'events.num' = '-1'");
        check(
            schema(),
            &[("bid.proportion", "0")],
            "expected an integer from 1",
        );
        check(schema(), &[("rate.shape", "triangle")], "square or sine");
        check(schema(), &[("rate.period", "1 fortnight")], "rate.period");
        check(schema(), &[("bid.avg-size", "big")], "bid.avg-size");
        check(schema(), &[("keep-alive", "yes")], "true or false");
        let one = |field: Field| Arc::new(Schema::new(vec![field]));
        check(
            one(Field::new("event_type", DataType::Int64, true)),
            &[],
            "column event_type: has type Int64",
        );
        check(
            one(Field::new("ts", DataType::Int64, true)),
            &[],
            "column ts: the nexmark connector makes",
        );
        let bid = |name: &str, data_type: DataType| {
            DataType::Struct(Fields::from(vec![Field::new(name, data_type, true)]))
        };
        check(
            one(Field::new("bid", bid("price", DataType::Float64), true)),
            &[],
            "column bid.price: has type Float64; it is BIGINT",
        );
        check(
            one(Field::new("bid", bid("datetime", DataType::Int64), true)),
            &[],
            "column bid.datetime: is not a field of the nexmark bid",
        );
        check(
            one(Field::new("bid", bid("price", DataType::Int64), false)),
            &[],
            "drop NOT NULL",
        );
        check(
            one(Field::new("person", DataType::Utf8, true)),
            &[],
            "is not a ROW",
        );
    }

    #[test]
    fn sizes_and_durations_parse_like_flink() {
        assert_eq!(parse_memory_size("200b"), Some(200));
        assert_eq!(parse_memory_size("1 kb"), Some(1024));
        assert_eq!(parse_memory_size("300"), Some(300));
        assert_eq!(parse_memory_size("1x"), None);
        assert_eq!(parse_duration_ms("600 s"), Some(600_000));
        assert_eq!(parse_duration_ms("10min"), Some(600_000));
        assert_eq!(parse_duration_ms("250"), Some(250));
        assert_eq!(parse_duration_ms("s"), None);
    }
}
