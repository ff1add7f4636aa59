//! Cutting a script into statements.
//!
//! A job file is a sequence of statements ended by `;`. Semicolons inside strings
//! (`'…'`, `''` escapes a quote), backquoted identifiers and comments (`-- …`, `/* … */`) do
//! not end a statement. `EXECUTE STATEMENT SET BEGIN … END;` and
//! `BEGIN STATEMENT SET; … END;` group the statements between them into one statement set;
//! the group markers themselves are not statements.

use datafusion::sql::sqlparser::tokenizer::Location;

use crate::error::{Position, Result, SqlError};

/// One statement of a script, as written, with where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawStatement {
    /// The statement from its first word up to, not including, its `;`.
    pub text: String,
    /// Where `text` starts in the script.
    pub start: Position,
    /// The statement set the statement belongs to, numbered from 0 in script order.
    pub statement_set: Option<usize>,
}

impl RawStatement {
    /// Maps a 1-based `line:column` inside `text` (as `sqlparser` reports it) to the script.
    pub(crate) fn locate(&self, location: Location) -> Position {
        let line = u32::try_from(location.line.max(1)).unwrap_or(u32::MAX);
        let column = u32::try_from(location.column.max(1)).unwrap_or(u32::MAX);
        if line == 1 {
            Position::new(self.start.line, self.start.column + column - 1)
        } else {
            Position::new(self.start.line + line - 1, column)
        }
    }

    /// The position just after the statement's text.
    pub(crate) fn end(&self) -> Position {
        self.start.advance(&self.text)
    }
}

/// Splits a script into its statements, in order, each with its starting position and
/// statement set.
pub fn split_script(script: &str) -> Result<Vec<RawStatement>> {
    let mut statements = Vec::new();
    let mut open_set: Option<(usize, Position)> = None;
    let mut sets = 0;
    for (text, start) in pieces(script)? {
        let words = leading_words(text, 4);
        let first: Vec<&str> = words.iter().map(|(word, _)| word.as_str()).collect();
        let (text, start) = match first.as_slice() {
            ["EXECUTE", "STATEMENT", "SET", "BEGIN"] | ["BEGIN", "STATEMENT", "SET", ..] => {
                if let Some((_, at)) = open_set {
                    return Err(SqlError::Invalid {
                        at: start,
                        message: format!("a statement set is already open (since {at})"),
                        text: text.lines().next().unwrap_or_default().to_string(),
                        hint: "close the open statement set with END; first".into(),
                    });
                }
                open_set = Some((sets, start));
                sets += 1;
                let after = words[if first[0] == "EXECUTE" { 3 } else { 2 }].1;
                let rest = skip_blank(&text[after..]);
                let offset = text.len() - rest.len();
                (rest, start.advance(&text[..offset]))
            }
            ["END"] => match open_set.take() {
                Some(_) => continue,
                None => {
                    return Err(SqlError::Invalid {
                        at: start,
                        message: "END without a statement set".into(),
                        text: text.to_string(),
                        hint: "open a set with EXECUTE STATEMENT SET BEGIN or BEGIN STATEMENT SET;"
                            .into(),
                    });
                }
            },
            _ => (text, start),
        };
        if !rest_is_blank(text) {
            statements.push(RawStatement {
                text: text.to_string(),
                start,
                statement_set: open_set.map(|(set, _)| set),
            });
        }
    }
    match open_set {
        Some((_, at)) => Err(SqlError::Invalid {
            at,
            message: "statement set is not closed".into(),
            text: "BEGIN".into(),
            hint: "end the statement set with END;".into(),
        }),
        None => Ok(statements),
    }
}

/// Lexical state of the splitter.
#[derive(Clone, Copy)]
enum State {
    Code,
    Quoted(char, Position),
    LineComment,
    BlockComment(Position),
}

/// The statements' texts between semicolons, trimmed of leading blanks and comments and of
/// trailing whitespace, with their starting positions.
fn pieces(script: &str) -> Result<Vec<(&str, Position)>> {
    let mut pieces = Vec::new();
    let mut start: Option<(usize, Position)> = None;
    let mut state = State::Code;
    let mut pos = Position::new(1, 1);
    let mut chars = script.char_indices().peekable();
    let mut close = |start: &mut Option<(usize, Position)>, end: usize| {
        if let Some((begin, at)) = start.take() {
            pieces.push((script[begin..end].trim_end(), at));
        }
    };
    while let Some((i, ch)) = chars.next() {
        let here = pos;
        pos = pos.step(ch);
        let next = chars.peek().map(|&(_, c)| c);
        state = match state {
            State::Code => match ch {
                ';' => {
                    close(&mut start, i);
                    State::Code
                }
                '-' if next == Some('-') => State::LineComment,
                '/' if next == Some('*') => {
                    chars.next();
                    pos = pos.step('*');
                    State::BlockComment(here)
                }
                c if c.is_whitespace() => State::Code,
                c => {
                    start.get_or_insert((i, here));
                    if matches!(c, '\'' | '`' | '"') {
                        State::Quoted(c, here)
                    } else {
                        State::Code
                    }
                }
            },
            State::Quoted(quote, at) if ch == quote => {
                if next == Some(quote) {
                    chars.next();
                    pos = pos.step(quote);
                    State::Quoted(quote, at)
                } else {
                    State::Code
                }
            }
            State::LineComment if ch == '\n' => State::Code,
            State::BlockComment(_) if ch == '*' && next == Some('/') => {
                chars.next();
                pos = pos.step('/');
                State::Code
            }
            unchanged => unchanged,
        };
    }
    match state {
        State::Quoted(quote, at) => Err(SqlError::Parse {
            at,
            message: "unterminated quoted text".into(),
            text: script[byte_at(script, at)..]
                .lines()
                .next()
                .unwrap_or_default()
                .into(),
            hint: format!("close it with {quote}; write {quote}{quote} for a {quote} inside"),
        }),
        State::BlockComment(at) => Err(SqlError::Parse {
            at,
            message: "unterminated comment".into(),
            text: "/*".into(),
            hint: "close the comment with */".into(),
        }),
        State::Code | State::LineComment => {
            close(&mut start, script.len());
            Ok(pieces)
        }
    }
}

/// The byte offset of `at` in `text`.
fn byte_at(text: &str, at: Position) -> usize {
    let mut pos = Position::new(1, 1);
    for (i, ch) in text.char_indices() {
        if pos == at {
            return i;
        }
        pos = pos.step(ch);
    }
    text.len()
}

/// `text` without leading whitespace and comments.
fn skip_blank(mut text: &str) -> &str {
    loop {
        text = text.trim_start();
        if let Some(rest) = text.strip_prefix("--") {
            text = rest.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(rest) = text.strip_prefix("/*") {
            text = rest.split_once("*/").map_or("", |(_, after)| after);
        } else {
            return text;
        }
    }
}

/// Whether `text` holds only whitespace and comments.
fn rest_is_blank(text: &str) -> bool {
    skip_blank(text).is_empty()
}

/// Up to `n` leading words of `text`, upper-cased, each with the byte offset just after it;
/// stops at the first token that is not a plain word.
fn leading_words(text: &str, n: usize) -> Vec<(String, usize)> {
    let mut words = Vec::new();
    let mut rest = text;
    while words.len() < n {
        rest = skip_blank(rest);
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if len == 0 {
            break;
        }
        let end = text.len() - rest.len() + len;
        words.push((rest[..len].to_ascii_uppercase(), end));
        rest = &rest[len..];
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semicolons_in_strings_and_comments_do_not_split() {
        let script = "SET 'a' = 'x;y';\n-- c; d\n/* e; f */ SELECT `g;h`, 'it''s;' FROM t";
        let statements = split_script(script).unwrap();
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[0].text, "SET 'a' = 'x;y'");
        assert_eq!(statements[1].text, "SELECT `g;h`, 'it''s;' FROM t");
        assert_eq!(statements[1].start, Position::new(3, 12));
    }

    #[test]
    fn unterminated_string_points_at_its_quote() {
        let err = split_script("SET 'a' = 'x;\n").unwrap_err();
        assert_eq!(err.at(), Position::new(1, 11));
    }

    #[test]
    fn statement_set_markers_are_not_statements() {
        let script = "EXECUTE STATEMENT SET\nBEGIN INSERT INTO a SELECT 1;\nINSERT INTO b SELECT 2;\nEND;\nBEGIN STATEMENT SET;\nINSERT INTO c SELECT 3;\nEND;";
        let statements = split_script(script).unwrap();
        let sets: Vec<_> = statements.iter().map(|s| s.statement_set).collect();
        assert_eq!(sets, [Some(0), Some(0), Some(1)]);
        assert_eq!(statements[0].text, "INSERT INTO a SELECT 1");
        assert_eq!(statements[0].start, Position::new(2, 7));
    }

    #[test]
    fn unclosed_set_and_stray_end_are_errors() {
        assert!(split_script("BEGIN STATEMENT SET; INSERT INTO a SELECT 1;").is_err());
        assert!(split_script("END;").is_err());
    }
}
