//! Helpers shared by the CLI tests.

use std::path::Path;

/// The committed rows of a filesystem sink directory (its `part-*` files), sorted.
pub fn committed_rows(dir: &Path) -> Vec<String> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().starts_with("part-") {
            rows.extend(
                std::fs::read_to_string(entry.path())
                    .unwrap()
                    .lines()
                    .map(String::from),
            );
        }
    }
    rows.sort();
    rows
}
