//! The newest hours of a telemetry archive, as the fleet job writes it (`dt=YYYY-MM-DD/hour=HH`
//! partitions): what the drift watch compares with the live model's training data, so that a
//! recent change is not diluted by months of history.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// A partition of the archive: its directory and the hour it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Partition {
    dir: PathBuf,
    hour: NaiveDateTime,
}

/// The `dt=…/hour=…` partitions anywhere under `archive`, in no particular order.
fn partitions(archive: &Path) -> anyhow::Result<Vec<Partition>> {
    let mut found = Vec::new();
    let mut pending = vec![archive.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if !path.is_dir() {
                continue;
            }
            let date =
                name_value(&dir, "dt").and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
            let hour = name_value(&path, "hour").and_then(|h| h.parse::<u32>().ok());
            match (date, hour.and_then(|h| NaiveTime::from_hms_opt(h, 0, 0))) {
                (Some(date), Some(time)) => found.push(Partition {
                    dir: path,
                    hour: date.and_time(time),
                }),
                _ => pending.push(path),
            }
        }
    }
    Ok(found)
}

/// `value` of a directory named `key=value`.
fn name_value(dir: &Path, key: &str) -> Option<String> {
    let name = dir.file_name()?.to_str()?;
    name.strip_prefix(key)?
        .strip_prefix('=')
        .map(str::to_string)
}

/// The partitions of the last `window` of event time before the newest partition's end.
fn newest(mut partitions: Vec<Partition>, window: Duration) -> Vec<Partition> {
    let Some(last) = partitions.iter().map(|p| p.hour).max() else {
        return partitions;
    };
    let end = last + chrono::Duration::hours(1);
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    partitions.retain(|p| p.hour + chrono::Duration::hours(1) > end - window);
    partitions.sort_by_key(|p| p.hour);
    partitions
}

/// The newest `window` of the archive at `archive` (a local folder of `dt=`/`hour=`
/// partitions) linked into `work` with the same layout: a folder to read in its place. An
/// archive without such partitions, or in object storage, is read whole: `archive` itself.
pub(crate) fn newest_hours(
    archive: &Path,
    window: Duration,
    work: &Path,
) -> anyhow::Result<PathBuf> {
    if !archive.is_dir() {
        return Ok(archive.to_path_buf());
    }
    let chosen = newest(partitions(archive)?, window);
    if chosen.is_empty() {
        return Ok(archive.to_path_buf());
    }
    let out = work.join("newest");
    for partition in &chosen {
        let relative = partition
            .dir
            .strip_prefix(archive)
            .expect("under the archive");
        let target = out.join(relative);
        std::fs::create_dir_all(&target)?;
        for file in std::fs::read_dir(&partition.dir)? {
            let file = file?.path();
            // Part files only (not the job's success markers or files being written).
            let part = file.extension().is_some_and(|e| e == "parquet")
                && !file
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if part {
                let link = target.join(file.file_name().expect("a file name"));
                std::fs::hard_link(&file, &link)
                    .or_else(|_| std::fs::copy(&file, &link).map(|_| ()))
                    .with_context(|| format!("linking {}", file.display()))?;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"part").unwrap();
    }

    #[test]
    fn only_the_newest_hours_are_read() {
        let archive = tempfile::tempdir().unwrap();
        let a = archive.path();
        for (dt, hour) in [
            ("2026-01-01", "22"),
            ("2026-01-01", "23"),
            ("2026-01-02", "00"),
            ("2026-01-02", "01"),
        ] {
            touch(&a.join(format!("dt={dt}/hour={hour}/part-0.parquet")));
        }
        touch(&a.join("dt=2026-01-02/hour=01/_SUCCESS"));
        touch(&a.join("dt=2026-01-02/hour=01/.part-1.parquet.inprogress"));
        touch(&a.join("not-a-partition/part-9.parquet"));
        let work = tempfile::tempdir().unwrap();
        let out = newest_hours(a, Duration::from_secs(2 * 3600), work.path()).unwrap();
        let mut files: Vec<String> = walk(&out)
            .iter()
            .map(|p| p.strip_prefix(&out).unwrap().display().to_string())
            .collect();
        files.sort();
        assert_eq!(
            files,
            [
                "dt=2026-01-02/hour=00/part-0.parquet",
                "dt=2026-01-02/hour=01/part-0.parquet"
            ]
        );
        // Three hours reach back over midnight.
        let work = tempfile::tempdir().unwrap();
        let out = newest_hours(a, Duration::from_secs(3 * 3600), work.path()).unwrap();
        assert_eq!(walk(&out).len(), 3);
        // A file, or a folder of no partitions, is read whole.
        let file = a.join("telemetry/dt=2026-01-01/hour=22/part-0.parquet");
        assert_eq!(
            newest_hours(&file, Duration::from_secs(3600), work.path()).unwrap(),
            file
        );
        let plain = a.join("not-a-partition");
        assert_eq!(
            newest_hours(&plain, Duration::from_secs(3600), work.path()).unwrap(),
            plain
        );
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            match path.is_dir() {
                true => files.extend(walk(&path)),
                false => files.push(path),
            }
        }
        files
    }
}
