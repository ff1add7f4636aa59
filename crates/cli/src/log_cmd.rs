//! `spate log …`: admin commands for the embedded log, in the spirit of kcat and kafka-topics.

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use spate_log::{
    DEFAULT_SEGMENT_BYTES, FetchedRecords, FsyncPolicy, Log, LogError, LogOptions, Producer,
    RecordView, Topic, TopicConfig,
};

/// `produce` appends what it has buffered after this many lines…
const PRODUCE_BATCH_LINES: usize = 1000;
/// …or this many bytes…
const PRODUCE_BATCH_BYTES: usize = 1024 * 1024;
/// …or at the latest this long after the first record it buffered.
const PRODUCE_LINGER: Duration = Duration::from_millis(200);
/// Bytes asked for per partition and poll by `consume`.
const CONSUME_FETCH_BYTES: usize = 1024 * 1024;
/// Pause between polls of `consume --follow` when there is nothing new.
const CONSUME_POLL: Duration = Duration::from_millis(100);

/// `spate log …`: admin commands for the embedded log, in the spirit of kcat and kafka-topics.
#[derive(Debug, clap::Subcommand)]
pub enum LogCommand {
    /// List topics with their partition counts.
    Topics,
    /// Create a topic.
    Create {
        /// Topic name: 1 to 249 characters of [A-Za-z0-9._-], not starting with '.'.
        name: String,
        /// Number of partitions (fixed once created).
        #[arg(long)]
        partitions: u32,
        /// Delete a partition's oldest segments while it stays at least this many bytes large
        /// (retention.bytes). Unlimited when not given.
        #[arg(long, value_name = "BYTES")]
        retention_bytes: Option<u64>,
        /// Delete closed segments whose newest record is older than this many milliseconds
        /// (retention.ms). Unlimited when not given.
        #[arg(long, value_name = "MS")]
        retention_ms: Option<i64>,
        /// Roll a partition to a new segment file at this size (segment.bytes).
        #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_SEGMENT_BYTES)]
        segment_bytes: u64,
        /// When appends are fsynced: never (leave it to the OS), batch (after every batch), or
        /// interval:MS (on an append once MS milliseconds have passed since the last fsync).
        #[arg(long, value_name = "POLICY", default_value = "never")]
        fsync: FsyncPolicy,
    },
    /// Append NDJSON lines from stdin to a topic, one record per line.
    ///
    /// Each non-empty line must be valid JSON; it is stored as the record value as is. Invalid
    /// lines are reported as stdin:LINE, skipped and counted, and make the command fail at the
    /// end. Records are appended in batches: every 1000 lines or 1 MiB, and at most 200 ms after
    /// a line was read.
    Produce {
        /// Topic to append to.
        topic: String,
        /// Take the record key from this top-level field (strings as is, other values as JSON
        /// text); the key picks the partition as Kafka does. Keyless records go round-robin,
        /// one batch at a time.
        #[arg(long, value_name = "FIELD")]
        key_field: Option<String>,
        /// Take the record timestamp from this top-level field, a number of milliseconds since
        /// the Unix epoch; a line without it is invalid. Default: the time of reading.
        #[arg(long, value_name = "FIELD")]
        timestamp_field: Option<String>,
        /// Append every record to this partition instead of choosing by key.
        #[arg(long, value_name = "P")]
        partition: Option<u32>,
    },
    /// Print a topic's records to stdout, one value per line.
    ///
    /// Reads through a read-only handle, so it works while another process writes the topic.
    Consume {
        /// Topic to read.
        topic: String,
        /// Read only this partition (default: all of them).
        #[arg(long, value_name = "P")]
        partition: Option<u32>,
        /// Start at this offset in every partition read.
        #[arg(long, value_name = "N", conflicts_with_all = ["from_beginning", "group"])]
        offset: Option<u64>,
        /// Start at each partition's first retained offset (the default).
        #[arg(long)]
        from_beginning: bool,
        /// Resume from this consumer group's committed offsets (or the beginning), and commit
        /// the offsets reached.
        #[arg(long, value_name = "G", conflicts_with = "from_beginning")]
        group: Option<String>,
        /// Stop after printing this many records.
        #[arg(long, value_name = "N")]
        max_messages: Option<u64>,
        /// Keep polling for new records until interrupted (Ctrl-C).
        #[arg(long, short)]
        follow: bool,
        /// Print each record as a JSON object with partition, offset, timestamp, key and value
        /// (values that are JSON are embedded, others are strings).
        #[arg(long)]
        print_metadata: bool,
    },
    /// Show a topic's configuration, its partitions (offsets, segments, bytes), and the
    /// committed offsets and lag of every consumer group reading it.
    Describe {
        /// Topic to describe.
        topic: String,
    },
}

/// Runs a `spate log` command against the log in `log_dir`.
pub fn run(log_dir: &Path, cmd: LogCommand) -> Result<()> {
    match cmd {
        LogCommand::Topics => topics(log_dir),
        LogCommand::Create {
            name,
            partitions,
            retention_bytes,
            retention_ms,
            segment_bytes,
            fsync,
        } => {
            let config = TopicConfig {
                partitions,
                segment_bytes,
                retention_bytes,
                retention_ms,
                fsync,
            };
            create(log_dir, &name, config)
        }
        LogCommand::Produce {
            topic,
            key_field,
            timestamp_field,
            partition,
        } => {
            let fields = Fields {
                key: key_field,
                timestamp: timestamp_field,
            };
            produce(log_dir, &topic, &fields, partition)
        }
        LogCommand::Consume {
            topic,
            partition,
            offset,
            from_beginning: _,
            group,
            max_messages,
            follow,
            print_metadata,
        } => {
            let options = ConsumeOptions {
                partition,
                offset,
                group,
                max_messages: max_messages.unwrap_or(u64::MAX),
                follow,
                print_metadata,
            };
            consume(log_dir, &topic, &options)
        }
        LogCommand::Describe { topic } => describe(log_dir, &topic),
    }
}

fn open(log_dir: &Path, read_only: bool) -> Result<Log> {
    Log::open(log_dir, LogOptions { read_only })
        .with_context(|| format!("opening the log at {}", log_dir.display()))
}

fn topics(log_dir: &Path) -> Result<()> {
    let topics = open(log_dir, true)?.topics()?;
    let width = topics.keys().map(String::len).max().unwrap_or(0).max(5);
    println!("{:<width$}  PARTITIONS", "TOPIC");
    for (name, config) in topics {
        println!("{name:<width$}  {}", config.partitions);
    }
    Ok(())
}

fn create(log_dir: &Path, name: &str, config: TopicConfig) -> Result<()> {
    let partitions = config.partitions;
    open(log_dir, false)?.create_topic(name, config)?;
    println!("created topic {name} with {partitions} partition(s)");
    Ok(())
}

/// JSON fields `produce` takes the key and the timestamp from.
struct Fields {
    key: Option<String>,
    timestamp: Option<String>,
}

/// A record parsed from one input line.
struct Line {
    key: Option<Vec<u8>>,
    timestamp: i64,
}

impl Fields {
    /// Parses one NDJSON line, or says why it is invalid.
    fn parse(&self, line: &[u8]) -> Result<Line, String> {
        let json: Value = serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))?;
        let key = match self.key.as_deref().and_then(|f| json.get(f)) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_bytes().to_vec()),
            Some(other) => Some(other.to_string().into_bytes()),
        };
        let timestamp = match &self.timestamp {
            None => spate_log::now_ms(),
            Some(field) => json
                .get(field)
                .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
                .ok_or_else(|| {
                    format!("field {field:?} is missing or not a number of epoch milliseconds")
                })?,
        };
        Ok(Line { key, timestamp })
    }
}

fn produce(log_dir: &Path, name: &str, fields: &Fields, partition: Option<u32>) -> Result<()> {
    let log = open(log_dir, false)?;
    let topic = log.topic(name)?;
    if let Some(p) = partition
        && p >= topic.partitions()
    {
        bail!(
            "topic {name} has {} partition(s), no partition {p}",
            topic.partitions()
        );
    }
    let mut producer = Producer::new(log.clone());
    let lines = read_lines_in_background();
    let (mut line_no, mut bad, mut records, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    let (mut pending_lines, mut pending_bytes) = (0usize, 0usize);
    let mut touched = BTreeSet::new();
    let mut deadline: Option<Instant> = None;
    loop {
        let received = match deadline {
            Some(at) => lines.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => lines.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let line = match received {
            Ok(line) => line.context("reading stdin")?,
            Err(RecvTimeoutError::Timeout) => {
                producer.flush()?;
                (pending_lines, pending_bytes, deadline) = (0, 0, None);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        line_no += 1;
        let value = line.trim_ascii_end();
        if value.trim_ascii().is_empty() {
            continue;
        }
        let parsed = match fields.parse(value) {
            Ok(parsed) => parsed,
            Err(reason) => {
                eprintln!("stdin:{line_no}: {reason}; line skipped");
                bad += 1;
                continue;
            }
        };
        let key = parsed.key.as_deref();
        let p = match partition {
            Some(p) => producer
                .send_to(name, p, key, value, parsed.timestamp)
                .map(|()| p)?,
            None => producer.send(name, key, value, parsed.timestamp)?,
        };
        touched.insert(p);
        records += 1;
        let size = value.len() + key.map_or(0, <[u8]>::len);
        bytes += size as u64;
        pending_lines += 1;
        pending_bytes += size;
        deadline.get_or_insert_with(|| Instant::now() + PRODUCE_LINGER);
        if pending_lines >= PRODUCE_BATCH_LINES || pending_bytes >= PRODUCE_BATCH_BYTES {
            producer.flush()?;
            (pending_lines, pending_bytes, deadline) = (0, 0, None);
        }
    }
    producer.flush()?;
    eprintln!(
        "produced {records} record(s), {bytes} bytes of keys and values, to {} partition(s) of {name}",
        touched.len()
    );
    if bad > 0 {
        bail!("{bad} invalid line(s) skipped");
    }
    Ok(())
}

/// Reads stdin line by line on a thread, so that `produce` can append what it has buffered
/// while it waits for more input. Lines keep their terminator; a read error ends the stream.
fn read_lines_in_background() -> mpsc::Receiver<io::Result<Vec<u8>>> {
    let (sender, receiver) = mpsc::sync_channel(4096);
    thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        loop {
            let mut line = Vec::new();
            let sent = match stdin.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(_) => sender.send(Ok(line)),
                Err(e) => sender.send(Err(e)),
            };
            if sent.is_err() {
                return;
            }
        }
    });
    receiver
}

/// What `consume` reads and how.
struct ConsumeOptions {
    partition: Option<u32>,
    offset: Option<u64>,
    group: Option<String>,
    max_messages: u64,
    follow: bool,
    print_metadata: bool,
}

fn consume(log_dir: &Path, name: &str, options: &ConsumeOptions) -> Result<()> {
    let log = open(log_dir, true)?;
    let topic = log.topic(name)?;
    let partitions: Vec<u32> = match options.partition {
        Some(p) if p >= topic.partitions() => {
            bail!(
                "topic {name} has {} partition(s), no partition {p}",
                topic.partitions()
            )
        }
        Some(p) => vec![p],
        None => (0..topic.partitions()).collect(),
    };
    let mut positions = Vec::with_capacity(partitions.len());
    for p in partitions {
        positions.push((p, start_position(&log, &topic, p, options)?));
    }
    let mut out = BufWriter::new(io::stdout().lock());
    let mut fetched = FetchedRecords::new();
    let mut printed = 0u64;
    let mut stdout_closed = false;
    while printed < options.max_messages && !stdout_closed {
        let mut progressed = false;
        for (p, next) in positions.iter_mut() {
            if printed == options.max_messages || stdout_closed {
                break;
            }
            match topic.fetch_into(*p, *next, CONSUME_FETCH_BYTES, &mut fetched) {
                // Deleted by retention under us, or a stale group offset: restart at the
                // first retained offset, like Kafka's auto.offset.reset=earliest.
                Err(LogError::OffsetOutOfRange { start, end, .. }) => {
                    eprintln!(
                        "warning: partition {p}: offset {next} is outside {start}..{end}; resuming at {start}"
                    );
                    *next = start;
                    progressed = true;
                    continue;
                }
                result => result?,
            }
            for record in fetched.iter() {
                if printed == options.max_messages {
                    break;
                }
                if let Err(e) = print_record(&mut out, *p, &record, options.print_metadata) {
                    stdout_closed = closed_pipe(e)?;
                    break;
                }
                *next = record.offset + 1;
                printed += 1;
                progressed = true;
            }
        }
        if let Err(e) = out.flush() {
            stdout_closed = closed_pipe(e)?;
        }
        if let Some(group) = &options.group
            && progressed
        {
            log.commit_offsets(group, name, &positions)?;
        }
        if !progressed {
            if !options.follow {
                break;
            }
            thread::sleep(CONSUME_POLL);
        }
    }
    eprintln!("consumed {printed} record(s) from {name}");
    Ok(())
}

/// Where `consume` starts reading partition `p`.
fn start_position(log: &Log, topic: &Topic, p: u32, options: &ConsumeOptions) -> Result<u64> {
    let start = topic.start_offset(p)?;
    if let Some(offset) = options.offset {
        let end = topic.end_offset(p)?;
        if offset < start || offset > end {
            bail!("partition {p} holds offsets {start}..{end}; offset {offset} is out of range");
        }
        return Ok(offset);
    }
    let committed = match &options.group {
        Some(group) => log.committed(group, topic.name(), p)?,
        None => None,
    };
    Ok(committed.unwrap_or(start))
}

fn print_record(
    out: &mut impl Write,
    partition: u32,
    record: &RecordView<'_>,
    metadata: bool,
) -> io::Result<()> {
    if !metadata {
        out.write_all(record.value)?;
        return out.write_all(b"\n");
    }
    write!(
        out,
        r#"{{"partition":{partition},"offset":{},"timestamp":{},"key":"#,
        record.offset, record.timestamp
    )?;
    let key = record.key.map(String::from_utf8_lossy);
    serde_json::to_writer(&mut *out, &key)?;
    out.write_all(br#","value":"#)?;
    // JSON values are embedded as written (one line), other values as strings.
    match serde_json::from_slice::<Value>(record.value) {
        Ok(_) if !record.value.contains(&b'\n') && !record.value.contains(&b'\r') => {
            out.write_all(record.value.trim_ascii())?
        }
        Ok(value) => serde_json::to_writer(&mut *out, &value)?,
        Err(_) => serde_json::to_writer(&mut *out, &String::from_utf8_lossy(record.value))?,
    }
    out.write_all(b"}\n")
}

/// A closed stdout (`spate log consume … | head`) ends the command quietly; other write
/// errors are errors.
fn closed_pipe(e: io::Error) -> Result<bool> {
    match e.kind() {
        io::ErrorKind::BrokenPipe => Ok(true),
        _ => Err(e).context("writing to stdout"),
    }
}

fn describe(log_dir: &Path, name: &str) -> Result<()> {
    let log = open(log_dir, true)?;
    let topic = log.topic(name)?;
    let config = topic.config();
    let unlimited = |v: Option<String>| v.unwrap_or_else(|| "unlimited".into());
    println!("topic {name}");
    println!("  partitions       {}", config.partitions);
    println!("  segment.bytes    {}", config.segment_bytes);
    println!(
        "  retention.bytes  {}",
        unlimited(config.retention_bytes.map(|b| b.to_string()))
    );
    println!(
        "  retention.ms     {}",
        unlimited(config.retention_ms.map(|ms| ms.to_string()))
    );
    println!("  fsync            {}", config.fsync);
    println!();
    println!(
        "{:>9}  {:>14}  {:>14}  {:>8}  {:>14}",
        "PARTITION", "START", "END", "SEGMENTS", "BYTES"
    );
    for p in 0..topic.partitions() {
        let info = topic.partition_info(p)?;
        println!(
            "{:>9}  {:>14}  {:>14}  {:>8}  {:>14}",
            info.partition, info.start_offset, info.end_offset, info.segments, info.bytes
        );
    }
    let mut groups = Vec::new();
    for group in log.consumer_groups()? {
        if log.group_offsets(&group)?.contains_key(name) {
            groups.push(group);
        }
    }
    if groups.is_empty() {
        println!("\nno consumer group has committed offsets for {name}");
        return Ok(());
    }
    let width = groups.iter().map(String::len).max().unwrap_or(0).max(5);
    println!();
    println!(
        "{:<width$}  {:>9}  {:>14}  {:>14}  {:>14}",
        "GROUP", "PARTITION", "COMMITTED", "END", "LAG"
    );
    for group in &groups {
        for lag in log.group_lag(group, name)? {
            let or_dash = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
            println!(
                "{group:<width$}  {:>9}  {:>14}  {:>14}  {:>14}",
                lag.partition,
                or_dash(lag.committed),
                lag.end_offset,
                or_dash(lag.lag)
            );
        }
    }
    Ok(())
}
