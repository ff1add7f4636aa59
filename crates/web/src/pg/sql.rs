//! The SQL text PostgreSQL clients send, before the store sees it: statements split at
//! `;`, session commands told apart from queries, and `$n` parameters bound as literals.
//!
//! One scanner knows what is code and what is quoted (`'…'`, `"…"`, `$$…$$`, comments), so
//! a `;` or `$1` inside a string is left alone.

use std::ops::Range;

/// A piece of SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Code, quoted text or a comment: kept as it is.
    Text,
    /// `$n`.
    Param(usize),
    /// A `;` ending a statement.
    End,
}

/// The pieces of `sql`, with their byte ranges.
fn scan(sql: &str) -> Vec<(Piece, Range<usize>)> {
    let bytes = sql.as_bytes();
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut i = 0;
    // Skips from `from` past the end of a quoted run closed by `close`; `''`-style doubling
    // of the closing quote continues it.
    let skip_quoted = |from: usize, close: u8| {
        let mut j = from + 1;
        while j < bytes.len() {
            if bytes[j] == close {
                if j + 1 < bytes.len() && bytes[j + 1] == close {
                    j += 2;
                    continue;
                }
                return j + 1;
            }
            j += 1;
        }
        bytes.len()
    };
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => i = skip_quoted(i, b'\''),
            b'"' => i = skip_quoted(i, b'"'),
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2);
            }
            b'$' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if let Ok(n) = sql[i + 1..i + 1 + digits].parse::<usize>() {
                    if start < i {
                        pieces.push((Piece::Text, start..i));
                    }
                    pieces.push((Piece::Param(n), i..i + 1 + digits));
                    start = i + 1 + digits;
                }
                i += 1 + digits;
            }
            b'$' => {
                // A dollar-quoted string: $$…$$ or $tag$…$tag$.
                let tag_len = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count();
                let after = i + 1 + tag_len;
                let preceded_by_word =
                    i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
                if bytes.get(after) == Some(&b'$') && !preceded_by_word {
                    let tag = &sql[i..=after];
                    i = sql[after + 1..]
                        .find(tag)
                        .map_or(bytes.len(), |n| after + 1 + n + tag.len());
                } else {
                    i += 1;
                }
            }
            b';' => {
                if start < i {
                    pieces.push((Piece::Text, start..i));
                }
                pieces.push((Piece::End, i..i + 1));
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        pieces.push((Piece::Text, start..bytes.len()));
    }
    pieces
}

/// The statements of `sql`, without their `;`, leaving out empty ones (only blanks or
/// comments).
pub(super) fn split(sql: &str) -> Vec<&str> {
    let mut statements = Vec::new();
    let mut start = 0;
    for (piece, range) in scan(sql)
        .into_iter()
        .chain([(Piece::End, sql.len()..sql.len())])
    {
        if piece == Piece::End {
            let statement = &sql[start..range.start];
            if !skip_blanks(statement).is_empty() {
                statements.push(statement.trim());
            }
            start = range.end;
        }
    }
    statements
}

/// The highest `$n` in `sql` (0 without parameters).
pub(super) fn parameters(sql: &str) -> usize {
    scan(sql)
        .into_iter()
        .filter_map(|(piece, _)| match piece {
            Piece::Param(n) => Some(n),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// `sql` with each `$n` replaced by `values[n - 1]` (SQL literals).
pub(super) fn bind(sql: &str, values: &[String]) -> Result<String, String> {
    let mut out = String::with_capacity(sql.len());
    for (piece, range) in scan(sql) {
        match piece {
            Piece::Param(n) => {
                let value = n
                    .checked_sub(1)
                    .and_then(|i| values.get(i))
                    .ok_or_else(|| {
                        format!("the query uses ${n}, and {} values are bound", values.len())
                    })?;
                out.push_str(value);
            }
            Piece::Text | Piece::End => out.push_str(&sql[range]),
        }
    }
    Ok(out)
}

/// `statement` past its leading blanks and comments.
fn skip_blanks(statement: &str) -> &str {
    let mut rest = statement;
    loop {
        rest = rest.trim_start();
        if let Some(comment) = rest.strip_prefix("--") {
            rest = comment.find('\n').map_or("", |n| &comment[n + 1..]);
        } else if let Some(comment) = rest.strip_prefix("/*") {
            rest = comment.find("*/").map_or("", |n| &comment[n + 2..]);
        } else {
            return rest;
        }
    }
}

/// The first word of a statement, upper-cased, past blanks and comments.
fn first_word(statement: &str) -> Option<String> {
    let word: String = skip_blanks(statement)
        .chars()
        .take_while(|c| c.is_ascii_alphabetic() || *c == '_')
        .collect();
    (!word.is_empty()).then(|| word.to_ascii_uppercase())
}

/// What Spate does with one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Command {
    /// A query for the store.
    Query,
    /// `SHOW name` (lower-cased; `all` for `SHOW ALL`).
    Show(String),
    /// `BEGIN` or `START TRANSACTION`: accepted; every query reads its own snapshot.
    Begin,
    /// `COMMIT`, `END`, `ROLLBACK` or `ABORT`, answered with this tag.
    End(&'static str),
    /// A session command accepted and ignored (`SET`, `RESET`, `DISCARD`, …), answered
    /// with this tag.
    Accept(&'static str),
}

/// What `statement` is.
pub(super) fn command(statement: &str) -> Command {
    let Some(word) = first_word(statement) else {
        return Command::Query;
    };
    match word.as_str() {
        "SET" => Command::Accept("SET"),
        "RESET" => Command::Accept("RESET"),
        "DISCARD" => Command::Accept("DISCARD ALL"),
        "DEALLOCATE" => Command::Accept("DEALLOCATE"),
        "LISTEN" => Command::Accept("LISTEN"),
        "UNLISTEN" => Command::Accept("UNLISTEN"),
        "BEGIN" | "START" => Command::Begin,
        "COMMIT" | "END" => Command::End("COMMIT"),
        "ROLLBACK" | "ABORT" => Command::End("ROLLBACK"),
        "SHOW" => {
            // The first word is SHOW: four ASCII letters.
            let name = skip_blanks(statement)[4..]
                .trim()
                .trim_matches('"')
                .to_ascii_lowercase();
            Command::Show(name.split_whitespace().collect::<Vec<_>>().join(" "))
        }
        _ => Command::Query,
    }
}

/// `text` as a SQL string literal.
pub(super) fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_at_semicolons_outside_quotes_and_comments() {
        let sql = "SET x = 'a;b'; SELECT \";\" FROM t -- c;\n; /* ; */ ;SELECT $$;$$";
        assert_eq!(
            split(sql),
            ["SET x = 'a;b'", "SELECT \";\" FROM t -- c;", "SELECT $$;$$"]
        );
        assert!(split(" ; -- nothing\n;").is_empty());
        assert_eq!(
            split("(SELECT 1) UNION (SELECT 2);"),
            ["(SELECT 1) UNION (SELECT 2)"]
        );
    }

    #[test]
    fn parameters_are_bound_outside_quotes_only() {
        let sql = "SELECT '$1', a FROM t WHERE a = $1 AND b = $2 -- $3\n";
        assert_eq!(parameters(sql), 2);
        assert_eq!(
            bind(sql, &["5".into(), quote("it's")]).unwrap(),
            "SELECT '$1', a FROM t WHERE a = 5 AND b = 'it''s' -- $3\n"
        );
        assert!(bind(sql, &["5".into()]).unwrap_err().contains("$2"));
        assert_eq!(parameters("SELECT 1"), 0);
    }

    #[test]
    fn session_commands_are_told_from_queries() {
        assert_eq!(
            command("  /* x */ set extra_float_digits = 3"),
            Command::Accept("SET")
        );
        assert_eq!(
            command("SHOW TRANSACTION ISOLATION LEVEL"),
            Command::Show("transaction isolation level".into())
        );
        assert_eq!(
            command("show \"TimeZone\""),
            Command::Show("timezone".into())
        );
        assert_eq!(command("BEGIN"), Command::Begin);
        assert_eq!(command("rollback"), Command::End("ROLLBACK"));
        assert_eq!(command("SELECT 1"), Command::Query);
        assert_eq!(
            command("WITH a AS (SELECT 1) SELECT * FROM a"),
            Command::Query
        );
    }
}
