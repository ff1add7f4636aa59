//! Window table-valued functions.
//!
//! Flink windows a table with `TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND))`
//! (and `HOP`, `CUMULATE`, `SESSION`), positionally or with named arguments
//! (`DATA => TABLE t, TIMECOL => DESCRIPTOR(ts), SIZE => INTERVAL …`). `sqlparser` cannot
//! read these calls, so each is recognised here into a [`WindowTvf`] and replaced in the
//! query text by a placeholder table name (`__tvf0`, `__tvf1`, … per statement), padded
//! with blanks and keeping line breaks, so every other token keeps its line and column.
//!
//! The planner registers each placeholder as the windowed relation: the columns of
//! [`WindowTvf::table`] plus `window_start`, `window_end` and `window_time`.

use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};
use spate_engine::window::WindowKind;

use crate::error::{Position, Result, SqlError};
use crate::interval::expr_millis;
use crate::split::RawStatement;
use crate::tokens::{Cursor, byte_offset, is_keyword, parse_expr, source_text};

/// One window table-valued function call of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowTvf {
    /// The table name that replaced the call in [`ParsedQuery::sql`](crate::ParsedQuery::sql).
    pub placeholder: String,
    /// The window and its sizes in milliseconds.
    pub kind: WindowKind,
    /// The windowed table (`TABLE t`), parts of a qualified name joined with `.`.
    pub table: String,
    /// The time attribute column (`DESCRIPTOR(ts)`).
    pub time_column: String,
    /// `SESSION(TABLE t PARTITION BY k, …)`: the keys sessions are kept per.
    pub partition_by: Vec<String>,
    /// The call as written.
    pub text: String,
    /// Where the call (its `TABLE` keyword) starts.
    pub at: Position,
}

/// The window functions and their parameters in positional order.
const FUNCTIONS: &[(&str, &[&str])] = &[
    ("TUMBLE", &["DATA", "TIMECOL", "SIZE", "OFFSET"]),
    ("HOP", &["DATA", "TIMECOL", "SLIDE", "SIZE", "OFFSET"]),
    ("CUMULATE", &["DATA", "TIMECOL", "STEP", "SIZE", "OFFSET"]),
    ("SESSION", &["DATA", "TIMECOL", "GAP"]),
];

/// The parameters of window function `name`, if it is one.
fn parameters(token: &Token) -> Option<(&'static str, &'static [&'static str])> {
    FUNCTIONS
        .iter()
        .find(|(name, _)| is_keyword(token, name))
        .copied()
}

/// Finds the window TVF calls of a statement and returns its text with each call replaced
/// by its placeholder, and the calls. `TUMBLE`, `HOP` and `SESSION` outside `TABLE(…)` are
/// Flink's legacy group windows, left to [`crate::group_window`]; `CUMULATE` has no legacy
/// form and is refused there.
pub(crate) fn rewrite_windows(
    statement: &RawStatement,
    tokens: &[TokenWithSpan],
) -> Result<(String, Vec<WindowTvf>)> {
    let mut windows = Vec::new();
    let mut replacements = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let next = |n: usize| tokens.get(i + n).map(|t| &t.token);
        let is_call = |n: usize| {
            next(n).and_then(parameters).is_some() && next(n + 1) == Some(&Token::LParen)
        };
        if is_keyword(&tokens[i].token, "TABLE") && next(1) == Some(&Token::LParen) && is_call(2) {
            let inner_close = matching_paren(statement, tokens, i + 3)?;
            let outer_close = inner_close + 1;
            if tokens.get(outer_close).map(|t| &t.token) != Some(&Token::RParen) {
                return Err(SqlError::Parse {
                    at: statement.locate(tokens[outer_close.min(tokens.len() - 1)].span.start),
                    message: "TABLE(…) must hold exactly one window function call".into(),
                    text: source_text(statement, &tokens[i..=inner_close]),
                    hint: "write TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND))"
                        .into(),
                });
            }
            let call = &tokens[i..=outer_close];
            let placeholder = format!("__tvf{}", windows.len());
            windows.push(window_call(statement, call, placeholder.clone())?);
            replacements.push((
                byte_offset(&statement.text, call[0].span.start),
                byte_offset(&statement.text, call[call.len() - 1].span.end),
                placeholder,
            ));
            i = outer_close + 1;
        } else if is_call(0) && is_keyword(&tokens[i].token, "CUMULATE") {
            return Err(SqlError::Unsupported {
                at: statement.locate(tokens[i].span.start),
                construct: "CUMULATE(…) outside TABLE(…)".into(),
                text: tokens[i].token.to_string(),
                hint: "use the window TVF: FROM TABLE(CUMULATE(TABLE t, DESCRIPTOR(ts), step, \
                       size)) GROUP BY window_start, window_end"
                    .into(),
            });
        } else {
            i += 1;
        }
    }
    let mut text = statement.text.clone();
    for (start, end, placeholder) in replacements.iter().rev() {
        let blanked =
            blank(&text[*start..*end], placeholder).ok_or_else(|| SqlError::Unsupported {
                at: statement.locate(tokens[0].span.start),
                construct: "a window call split into lines this short".into(),
                text: text[*start..*end].to_string(),
                hint: "keep DESCRIPTOR(…) on one line".into(),
            })?;
        text.replace_range(*start..*end, &blanked);
    }
    Ok((text, windows))
}

/// `original` with every character but line breaks blanked and `placeholder` written at
/// the start of the first line piece long enough to hold it without touching what follows.
pub(crate) fn blank(original: &str, placeholder: &str) -> Option<String> {
    let pieces: Vec<&str> = original.split('\n').collect();
    let fits = |k: usize, len: usize| {
        len > placeholder.len() || (len == placeholder.len() && k + 1 < pieces.len())
    };
    let chosen = (0..pieces.len()).find(|&k| fits(k, pieces[k].chars().count()))?;
    let lines: Vec<String> = pieces
        .iter()
        .enumerate()
        .map(|(k, piece)| {
            let len = piece.chars().count();
            if k == chosen {
                format!("{placeholder}{}", " ".repeat(len - placeholder.len()))
            } else {
                " ".repeat(len)
            }
        })
        .collect();
    Some(lines.join("\n"))
}

/// The index of the `)` closing the `(` at `open`.
pub(crate) fn matching_paren(
    statement: &RawStatement,
    tokens: &[TokenWithSpan],
    open: usize,
) -> Result<usize> {
    let mut depth = 0usize;
    for (k, token) in tokens.iter().enumerate().skip(open) {
        match token.token {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Ok(k);
                }
            }
            _ => {}
        }
    }
    Err(SqlError::Parse {
        at: statement.locate(tokens[open].span.start),
        message: "this parenthesis is never closed".into(),
        text: "(".into(),
        hint: "close the window call with ))".into(),
    })
}

/// A window argument's value.
enum Value {
    /// `TABLE t [PARTITION BY …]`.
    Data {
        table: String,
        partition_by: Vec<String>,
    },
    /// `DESCRIPTOR(c)`.
    Descriptor(String),
    /// An interval in milliseconds.
    Interval(i64),
}

impl Value {
    /// What the value is, for errors.
    fn describe(&self) -> &'static str {
        match self {
            Value::Data { .. } => "a TABLE argument",
            Value::Descriptor(_) => "a DESCRIPTOR",
            Value::Interval(_) => "an INTERVAL",
        }
    }
}

/// A bound argument: its value, where it is and its text.
struct Bound {
    value: Value,
    at: Position,
    text: String,
}

/// Reads `TABLE(NAME(args…))` (the tokens of the whole call).
fn window_call(
    statement: &RawStatement,
    call: &[TokenWithSpan],
    placeholder: String,
) -> Result<WindowTvf> {
    let at = statement.locate(call[0].span.start);
    let (name, params) = parameters(&call[2].token).unwrap_or(FUNCTIONS[0]);
    let mut bound: Vec<(&str, Bound)> = Vec::new();
    let mut named = false;
    for (position, arg) in split_args(&call[4..call.len() - 2]).into_iter().enumerate() {
        let arg_at = statement.locate(arg.first().map_or(call[3].span.end, |t| t.span.start));
        let (param, value_tokens) = match arg {
            [
                TokenWithSpan {
                    token: Token::Word(word),
                    ..
                },
                TokenWithSpan {
                    token: Token::RArrow,
                    ..
                },
                rest @ ..,
            ] => {
                named = true;
                let wanted = word.value.to_ascii_uppercase();
                let param =
                    params
                        .iter()
                        .find(|p| **p == wanted)
                        .ok_or_else(|| SqlError::Invalid {
                            at: arg_at,
                            message: format!("{name} has no parameter {}", word.value),
                            text: word.value.clone(),
                            hint: format!("{name} takes {}", params.join(", ")),
                        })?;
                (*param, rest)
            }
            _ if named => {
                return Err(SqlError::Invalid {
                    at: arg_at,
                    message: "a positional argument after a named one".into(),
                    text: source_text(statement, arg),
                    hint: "name every argument after the first named one".into(),
                });
            }
            _ => match params.get(position) {
                Some(param) => (*param, arg),
                None => {
                    return Err(SqlError::Invalid {
                        at: arg_at,
                        message: format!("{name} takes at most {} arguments", params.len()),
                        text: source_text(statement, arg),
                        hint: format!("{name} takes {}", params.join(", ")),
                    });
                }
            },
        };
        if bound.iter().any(|(p, _)| *p == param) {
            return Err(SqlError::Invalid {
                at: arg_at,
                message: format!("{param} is given twice"),
                text: source_text(statement, arg),
                hint: format!("{name} takes {}", params.join(", ")),
            });
        }
        let value = argument(statement, value_tokens, arg_at)?;
        bound.push((
            param,
            Bound {
                value,
                at: arg_at,
                text: source_text(statement, arg),
            },
        ));
    }
    let take = |param: &str| bound.iter().find(|(p, _)| *p == param).map(|(_, b)| b);
    let missing = |param: &str| SqlError::Invalid {
        at,
        message: format!("{name} needs its {param} argument"),
        text: name.into(),
        hint: format!("{name} takes {}", params.join(", ")),
    };
    if let Some(offset) = take("OFFSET") {
        return Err(SqlError::Unsupported {
            at: offset.at,
            construct: "a window OFFSET".into(),
            text: offset.text.clone(),
            hint: "windows are aligned to the epoch; drop the offset".into(),
        });
    }
    let Some(Bound {
        value: Value::Data {
            table,
            partition_by,
        },
        ..
    }) = take("DATA")
    else {
        return Err(wrong_type(take("DATA"), "a TABLE argument", "TABLE t")
            .unwrap_or_else(|| missing("DATA")));
    };
    let Some(Bound {
        value: Value::Descriptor(time_column),
        ..
    }) = take("TIMECOL")
    else {
        return Err(
            wrong_type(take("TIMECOL"), "a DESCRIPTOR", "DESCRIPTOR(ts)")
                .unwrap_or_else(|| missing("TIMECOL")),
        );
    };
    let millis = |param: &str| match take(param) {
        Some(Bound {
            value: Value::Interval(ms),
            ..
        }) => Ok(*ms),
        other => Err(wrong_type(other, "an INTERVAL", "INTERVAL '10' SECOND")
            .unwrap_or_else(|| missing(param))),
    };
    let kind = match name {
        "TUMBLE" => WindowKind::Tumble {
            size_ms: millis("SIZE")?,
        },
        "HOP" => WindowKind::Hop {
            slide_ms: millis("SLIDE")?,
            size_ms: millis("SIZE")?,
        },
        "CUMULATE" => WindowKind::Cumulate {
            step_ms: millis("STEP")?,
            max_size_ms: millis("SIZE")?,
        },
        _ => WindowKind::Session {
            gap_ms: millis("GAP")?,
        },
    };
    let text = source_text(statement, call);
    kind.validate().map_err(|message| SqlError::Invalid {
        at,
        message,
        text: text.clone(),
        hint: "window sizes are positive; CUMULATE's size is a multiple of its step".into(),
    })?;
    if !partition_by.is_empty() && name != "SESSION" {
        return Err(SqlError::Unsupported {
            at,
            construct: format!("PARTITION BY in {name}"),
            text,
            hint: "only SESSION windows are partitioned; group by the keys instead".into(),
        });
    }
    Ok(WindowTvf {
        placeholder,
        kind,
        table: table.clone(),
        time_column: time_column.clone(),
        partition_by: partition_by.clone(),
        text,
        at,
    })
}

/// A [`SqlError::Type`] when an argument is there but of the wrong kind.
fn wrong_type(bound: Option<&Bound>, expected: &str, example: &str) -> Option<SqlError> {
    bound.map(|b| SqlError::Type {
        at: b.at,
        message: format!("expected {expected}, found {}", b.value.describe()),
        text: b.text.clone(),
        hint: format!("write {example}"),
    })
}

/// The call's arguments: the tokens between top-level commas.
pub(crate) fn split_args(tokens: &[TokenWithSpan]) -> Vec<&[TokenWithSpan]> {
    let mut args = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (k, token) in tokens.iter().enumerate() {
        match token.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::Comma if depth == 0 => {
                args.push(&tokens[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    if start < tokens.len() || !args.is_empty() {
        args.push(&tokens[start..]);
    }
    args
}

/// One argument's value.
fn argument(statement: &RawStatement, tokens: &[TokenWithSpan], at: Position) -> Result<Value> {
    if tokens.is_empty() {
        return Err(SqlError::Parse {
            at,
            message: "empty argument".into(),
            text: ",".into(),
            hint: "remove the extra comma".into(),
        });
    }
    let mut c = Cursor::new(statement, tokens);
    if c.eat_word("TABLE") {
        let table = c.name("a table name")?;
        let partition_by = if c.eat_words(&["PARTITION", "BY"]) {
            if c.eat(&Token::LParen) {
                let mut keys = vec![c.ident("a key column")?];
                while c.eat(&Token::Comma) {
                    keys.push(c.ident("a key column")?);
                }
                c.expect(&Token::RParen, "close the key list with )")?;
                keys
            } else {
                vec![c.ident("a key column")?]
            }
        } else {
            Vec::new()
        };
        c.expect_end("write TABLE t or TABLE t PARTITION BY (k1, k2)")?;
        return Ok(Value::Data {
            table,
            partition_by,
        });
    }
    if c.eat_word("DESCRIPTOR") {
        c.expect(&Token::LParen, "write DESCRIPTOR(ts)")?;
        let column = c.ident("the time column")?;
        c.expect(
            &Token::RParen,
            "a window takes one time column: DESCRIPTOR(ts)",
        )?;
        c.expect_end("write DESCRIPTOR(ts)")?;
        return Ok(Value::Descriptor(column));
    }
    let text = source_text(statement, tokens);
    match expr_millis(&parse_expr(statement, tokens)?) {
        Some(Ok(ms)) => Ok(Value::Interval(ms)),
        Some(Err(construct)) => Err(SqlError::Unsupported {
            at,
            construct,
            text,
            hint: "write INTERVAL 'n' MILLISECOND, SECOND, MINUTE, HOUR or DAY".into(),
        }),
        None => Err(SqlError::Type {
            at,
            message: "expected an INTERVAL".into(),
            text,
            hint: "window sizes are intervals, e.g. INTERVAL '10' SECOND".into(),
        }),
    }
}
