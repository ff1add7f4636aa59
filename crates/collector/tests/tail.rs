//! The tailer against real files: rotation by rename and by copytruncate, truncation, late
//! and many files, partial and oversized lines, restarts — driven scan by scan, so nothing
//! depends on timing.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use spate_collector::fingerprint::Fingerprint;
use spate_collector::tail::{FileSet, StartPosition, TailOptions, Tailer};

/// A line as read: its stream, offset, line number and text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Line {
    fingerprint: Fingerprint,
    offset: u64,
    number: u64,
    text: String,
}

fn options() -> TailOptions {
    TailOptions {
        fingerprint_bytes: 256,
        read_bytes: 64,
        max_line_bytes: 256,
        rotate_wait: Duration::ZERO,
        start_at_end: false,
    }
}

fn tailer(dir: &Path, pattern: &str, options: TailOptions, start: Vec<StartPosition>) -> Tailer {
    let set = FileSet {
        include: vec![dir.join(pattern).to_string_lossy().into_owned()],
        exclude: vec![glob::Pattern::new("*.gz").unwrap()],
    };
    let first = start.is_empty();
    Tailer::new(vec![set], options, start, first).unwrap()
}

/// Scans, then reads everything there is.
fn scan_and_read(tailer: &mut Tailer) -> Vec<Line> {
    tailer.scan().unwrap();
    read(tailer)
}

fn read(tailer: &mut Tailer) -> Vec<Line> {
    let mut lines = Vec::new();
    while let Some(chunk) = tailer.read().unwrap() {
        assert!(!chunk.oversized, "unexpected oversized chunk");
        let mut offset = chunk.offset;
        let mut number = chunk.line;
        for text in chunk.data.split_inclusive(|&b| b == b'\n') {
            lines.push(Line {
                fingerprint: chunk.fingerprint,
                offset,
                number,
                text: String::from_utf8(text.strip_suffix(b"\n").unwrap().to_vec()).unwrap(),
            });
            offset += text.len() as u64;
            number += 1;
        }
        assert_eq!((offset, number), (chunk.end_offset, chunk.end_line));
    }
    lines
}

fn append(path: &Path, lines: &[&str]) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
}

fn texts(lines: &[Line]) -> Vec<&str> {
    lines.iter().map(|l| l.text.as_str()).collect()
}

#[test]
fn rename_and_create_keeps_reading_the_renamed_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, &["one 2024-01-01T00:00:00", "two", "three"]);
    let mut tailer = tailer(dir.path(), "app.log*", options(), vec![]);
    let first = scan_and_read(&mut tailer);
    assert_eq!(texts(&first), ["one 2024-01-01T00:00:00", "two", "three"]);
    assert_eq!(first[2].number, 3);

    // The writer still has the old file open after the rename and writes one more line.
    append(&log, &["four"]);
    fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(
        &dir.path().join("app.log.1"),
        &["five (late write to the old file)"],
    );
    append(
        &log,
        &["new file first line 2024-01-01T00:00:01", "new two"],
    );
    let second = scan_and_read(&mut tailer);
    let old: Vec<_> = second
        .iter()
        .filter(|l| l.fingerprint == first[0].fingerprint)
        .collect();
    assert_eq!(
        old.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
        ["four", "five (late write to the old file)"]
    );
    assert_eq!((old[0].offset, old[0].number), (34, 4));
    let new: Vec<_> = second
        .iter()
        .filter(|l| l.fingerprint != first[0].fingerprint)
        .collect();
    assert_eq!(new.len(), 2);
    assert_eq!((new[0].offset, new[0].number), (0, 1));
    assert!(scan_and_read(&mut tailer).is_empty());
}

#[test]
fn a_file_renamed_out_of_the_globs_is_read_to_its_end_then_closed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, &["a first", "b"]);
    let mut tailer = tailer(dir.path(), "app.log", options(), vec![]);
    assert_eq!(scan_and_read(&mut tailer).len(), 2);
    append(&log, &["c"]);
    let rotated = dir.path().join("app.log.1");
    fs::rename(&log, &rotated).unwrap();
    append(&rotated, &["d"]);
    assert_eq!(texts(&scan_and_read(&mut tailer)), ["c", "d"]);
    // Read to its end and not growing (rotate_wait is 0): closed at the next scan.
    assert_eq!(tailer.counts().0, 1);
    tailer.scan().unwrap();
    assert_eq!(tailer.counts().0, 0);
    append(&rotated, &["e (too late, the file was let go)"]);
    assert!(scan_and_read(&mut tailer).is_empty());
}

#[test]
fn copytruncate_continues_from_the_copy_at_the_same_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, &["first line of the day", "2", "3"]);
    let mut tailer = tailer(dir.path(), "app.log*", options(), vec![]);
    let first = scan_and_read(&mut tailer);
    let fp = first[0].fingerprint;
    // Lines written after the last read, then logrotate's copy and truncation, then new lines.
    append(&log, &["4", "5"]);
    fs::copy(&log, dir.path().join("app.log.1")).unwrap();
    File::options()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, &["after truncation, a new first line", "7"]);

    let mut second = scan_and_read(&mut tailer);
    second.sort();
    let from_copy: Vec<_> = second.iter().filter(|l| l.fingerprint == fp).collect();
    assert_eq!(
        from_copy
            .iter()
            .map(|l| (l.text.as_str(), l.offset, l.number))
            .collect::<Vec<_>>(),
        [("4", 26, 4), ("5", 28, 5)],
        "the copy is read on where the original was left"
    );
    let rest: Vec<_> = second.iter().filter(|l| l.fingerprint != fp).collect();
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[0].offset, 0);
    assert!(scan_and_read(&mut tailer).is_empty());
}

#[test]
fn a_truncation_between_scans_never_yields_bytes_of_the_new_content_at_the_old_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, &["original first line", "x"]);
    let mut tailer = tailer(dir.path(), "app.log", options(), vec![]);
    assert_eq!(scan_and_read(&mut tailer).len(), 2);
    // Truncated and written past the old offset before the tailer looks again.
    File::options()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, &["replacement first line, longer than before", "y"]);
    assert!(
        read(&mut tailer).is_empty(),
        "read the middle of new content"
    );
    let lines = scan_and_read(&mut tailer);
    assert_eq!(
        texts(&lines),
        ["replacement first line, longer than before", "y"]
    );
    assert_eq!(lines[0].offset, 0);
}

#[test]
fn truncation_without_a_copy_starts_the_file_again() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, &["one", "two", "three"]);
    let mut tailer = tailer(dir.path(), "app.log", options(), vec![]);
    assert_eq!(scan_and_read(&mut tailer).len(), 3);
    File::options()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    assert!(scan_and_read(&mut tailer).is_empty());
    append(&log, &["uno"]);
    assert_eq!(texts(&scan_and_read(&mut tailer)), ["uno"]);
}

#[test]
fn late_files_and_many_files_progress_together() {
    let dir = tempfile::tempdir().unwrap();
    let mut tailer = tailer(dir.path(), "*.log", options(), vec![]);
    assert!(scan_and_read(&mut tailer).is_empty());
    let mut expected = BTreeSet::new();
    for f in 0..40 {
        let lines: Vec<String> = (0..20)
            .map(|i| format!("file {f:02} line {i:02}"))
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        append(&dir.path().join(format!("{f:02}.log")), &refs);
        expected.extend(lines);
    }
    // Compressed rotations are excluded.
    fs::write(dir.path().join("old.log.gz"), b"\x1f\x8b binary\n").unwrap();
    tailer.scan().unwrap();
    // Chunks are 64 bytes (4 lines): the first 40 chunks come from 40 different files.
    let mut first_round = BTreeSet::new();
    for _ in 0..40 {
        let chunk = tailer.read().unwrap().unwrap();
        first_round.insert(chunk.fingerprint);
    }
    assert_eq!(first_round.len(), 40);
    let rest = read(&mut tailer);
    assert_eq!(rest.len(), 40 * 20 - 40 * 4);
    let mut again = self::tailer(dir.path(), "*.log", options(), vec![]);
    let all: BTreeSet<String> = scan_and_read(&mut again)
        .into_iter()
        .map(|l| l.text)
        .collect();
    assert_eq!(all, expected);
}

#[test]
fn a_line_is_read_once_it_has_its_newline() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, &["first"]);
    let mut tailer = tailer(dir.path(), "app.log", options(), vec![]);
    assert_eq!(scan_and_read(&mut tailer).len(), 1);
    let mut file = OpenOptions::new().append(true).open(&log).unwrap();
    file.write_all(b"half a li").unwrap();
    assert!(scan_and_read(&mut tailer).is_empty());
    assert!(tailer.caught_up());
    file.write_all(b"ne\n").unwrap();
    assert_eq!(texts(&read(&mut tailer)), ["half a line"]);
}

#[test]
fn an_oversized_line_is_cut_and_the_rest_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let long = "x".repeat(1000);
    append(&log, &["short first line", &long, "after"]);
    let mut tailer = tailer(dir.path(), "app.log", options(), vec![]);
    tailer.scan().unwrap();
    let mut seen = Vec::new();
    while let Some(chunk) = tailer.read().unwrap() {
        seen.push((
            chunk.oversized,
            chunk.data.len(),
            chunk.line,
            chunk.end_line,
        ));
    }
    assert_eq!(seen[0], (false, 17, 1, 2));
    assert_eq!(seen[1], (true, 256, 2, 2));
    // Skipped pieces come out empty; the line after is read whole with its number.
    assert!(seen[2..seen.len() - 1].iter().all(|s| s.1 == 0));
    assert_eq!(seen.last().unwrap(), &(false, 6, 3, 4));
}

#[test]
fn a_restart_resumes_each_file_at_its_checkpointed_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, &["first line", "second", "third"]);
    let mut tailer = tailer(dir.path(), "app.log*", options(), vec![]);
    let lines = scan_and_read(&mut tailer);
    // Shipped up to the second line; then rotated while the collector was down.
    let start = StartPosition {
        fingerprint: lines[0].fingerprint,
        offset: lines[1].offset,
        line: 2,
        path: log.clone(),
    };
    fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(&log, &["another file"]);
    let mut restarted = self::tailer(dir.path(), "app.log*", options(), vec![start]);
    let mut again = scan_and_read(&mut restarted);
    again.sort_by_key(|l| l.text.clone());
    assert_eq!(texts(&again), ["another file", "second", "third"]);
    let second = again.iter().find(|l| l.text == "second").unwrap();
    assert_eq!((second.offset, second.number), (lines[1].offset, 2));
}

#[test]
fn read_from_end_skips_what_was_there_at_the_first_start_only() {
    let dir = tempfile::tempdir().unwrap();
    append(&dir.path().join("a.log"), &["old 1", "old 2"]);
    let mut tailer = tailer(
        dir.path(),
        "*.log",
        TailOptions {
            start_at_end: true,
            ..options()
        },
        vec![],
    );
    assert!(scan_and_read(&mut tailer).is_empty());
    append(&dir.path().join("a.log"), &["new 3"]);
    append(&dir.path().join("b.log"), &["late file 1"]);
    let mut lines = scan_and_read(&mut tailer);
    lines.sort();
    let mut got: Vec<(&str, u64)> = lines.iter().map(|l| (l.text.as_str(), l.number)).collect();
    got.sort();
    assert_eq!(got, [("late file 1", 1), ("new 3", 3)]);
}
