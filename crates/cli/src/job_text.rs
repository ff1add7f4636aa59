//! The text of a job: its init files (`--init`, as Flink's `sql-client.sh -i`) and the job
//! file, parsed as one script, with errors placed back in the file they came from.

use std::path::{Path, PathBuf};

use anyhow::Context;
use spate_sql::SqlError;

/// Several files' SQL, one after the other.
pub struct JobText {
    /// The files' text, each ending in a line break.
    pub text: String,
    /// Each file's name and the line of [`JobText::text`] it starts on.
    files: Vec<(String, u32)>,
}

impl JobText {
    /// Reads `init` files, then `job`.
    pub fn read(init: &[PathBuf], job: &Path) -> anyhow::Result<JobText> {
        let mut files = Vec::new();
        for path in init.iter().map(PathBuf::as_path).chain([job]) {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            files.push((path.display().to_string(), text));
        }
        Ok(JobText::new(files))
    }

    /// The text of `(name, text)` files in order.
    pub fn new(files: impl IntoIterator<Item = (String, String)>) -> JobText {
        let mut job = JobText {
            text: String::new(),
            files: Vec::new(),
        };
        for (name, text) in files {
            let first_line = job.text.matches('\n').count() as u32 + 1;
            job.files.push((name, first_line));
            job.text.push_str(&text);
            if !text.ends_with('\n') {
                job.text.push('\n');
            }
        }
        job
    }

    /// The job file's name (the last file read).
    pub fn name(&self) -> &str {
        self.files
            .last()
            .map_or("the job", |(name, _)| name.as_str())
    }

    /// `error` as `file:line:column: …`, in the file it points into.
    pub fn error(&self, error: SqlError) -> anyhow::Error {
        let at = error.at();
        let (name, first_line) = self
            .files
            .iter()
            .rev()
            .find(|(_, first)| *first <= at.line)
            .or(self.files.first())
            .map_or(("", 1), |(name, first)| (name.as_str(), *first));
        let message = error.to_string();
        let rest = message.strip_prefix(&format!("{at}: ")).unwrap_or(&message);
        let line = at.line.saturating_sub(first_line) + 1;
        anyhow::anyhow!("{name}:{line}:{}: {rest}", at.column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spate_sql::parse_script;

    #[test]
    fn errors_point_into_the_file_they_are_in() {
        let job = JobText::new([
            ("ddl.sql".to_string(), "SET 'a' = 'b';\n\n".to_string()),
            (
                "job.sql".to_string(),
                "SET 'c' = 'd';\nSELEC 1;".to_string(),
            ),
        ]);
        let error = parse_script(&job.text).unwrap_err();
        let text = job.error(error).to_string();
        assert!(text.starts_with("job.sql:2:1: "), "{text}");
        let error = parse_script("\n\nSELEC 1;").unwrap_err();
        let text = JobText::new([("a.sql".to_string(), String::new())])
            .error(error)
            .to_string();
        assert!(text.starts_with("a.sql:3:1: "), "{text}");
    }
}
