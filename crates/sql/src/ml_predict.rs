//! Model inference: Flink's `ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(c1, c2, …))`.
//!
//! `sqlparser` cannot read the call, so each is recognised here into an [`MlPredictCall`]
//! and replaced in the statement's text by a placeholder table name (`__ml0`, `__ml1`, … per
//! statement), padded with blanks and keeping line breaks, as window TVFs are
//! ([`window`](crate::window)). The planner registers each placeholder as the rows of `t`
//! with the model's `OUTPUT` columns after its own, the model fed the `DESCRIPTOR`'s columns
//! in the order of its `INPUT` columns.

use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::error::{Position, Result, SqlError};
use crate::split::RawStatement;
use crate::tokens::{Cursor, byte_offset, is_keyword, source_text};
use crate::window::{blank, matching_paren, split_args};

/// One `ML_PREDICT` call of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlPredictCall {
    /// The table name that replaced the call in the statement's text.
    pub placeholder: String,
    /// The table whose rows are scored (`TABLE t`).
    pub table: String,
    /// The model (`MODEL m`).
    pub model: String,
    /// The columns fed to the model (`DESCRIPTOR(…)`), in the order of its inputs.
    pub columns: Vec<String>,
    /// The call as written.
    pub text: String,
    /// Where the call starts.
    pub at: Position,
}

const USAGE: &str = "write ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(col1, col2, …))";

/// Finds the `ML_PREDICT` calls of a statement; when there are any, returns the statement
/// with each replaced by its placeholder (every other token where it was), and the calls.
pub(crate) fn rewrite_ml_predicts(
    statement: &RawStatement,
    tokens: &[TokenWithSpan],
) -> Result<Option<(RawStatement, Vec<MlPredictCall>)>> {
    let mut calls = Vec::new();
    let mut replacements = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let opens = tokens.get(i + 1).map(|t| &t.token) == Some(&Token::LParen);
        if !(is_keyword(&tokens[i].token, "ML_PREDICT") && opens) {
            i += 1;
            continue;
        }
        let close = matching_paren(statement, tokens, i + 1)?;
        let call = &tokens[i..=close];
        let placeholder = format!("__ml{}", calls.len());
        calls.push(ml_predict_call(statement, call, placeholder.clone())?);
        replacements.push((
            byte_offset(&statement.text, call[0].span.start),
            byte_offset(&statement.text, call[call.len() - 1].span.end),
            placeholder,
        ));
        i = close + 1;
    }
    if calls.is_empty() {
        return Ok(None);
    }
    let mut text = statement.text.clone();
    for (start, end, placeholder) in replacements.iter().rev() {
        let blanked =
            blank(&text[*start..*end], placeholder).ok_or_else(|| SqlError::Unsupported {
                at: statement.locate(tokens[0].span.start),
                construct: "an ML_PREDICT call split into lines this short".into(),
                text: text[*start..*end].to_string(),
                hint: "keep ML_PREDICT(TABLE t on one line".into(),
            })?;
        text.replace_range(*start..*end, &blanked);
    }
    let rewritten = RawStatement {
        text,
        start: statement.start,
        statement_set: statement.statement_set,
    };
    Ok(Some((rewritten, calls)))
}

/// Reads `ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(c, …))` (the tokens of the whole call).
fn ml_predict_call(
    statement: &RawStatement,
    call: &[TokenWithSpan],
    placeholder: String,
) -> Result<MlPredictCall> {
    let at = statement.locate(call[0].span.start);
    let text = source_text(statement, call);
    let args = split_args(&call[2..call.len() - 1]);
    if args.len() != 3 {
        let (construct, hint) = if args.len() == 4 {
            (
                "an ML_PREDICT configuration map",
                "drop the MAP[…] argument; set the model's options in CREATE MODEL … WITH (…)",
            )
        } else {
            ("ML_PREDICT with other than three arguments", USAGE)
        };
        return Err(SqlError::Unsupported {
            at,
            construct: construct.into(),
            text,
            hint: hint.into(),
        });
    }
    let mut table = Cursor::new(statement, args[0]);
    table.expect_words(&["TABLE"], USAGE)?;
    let table_name = table.name("the scored table")?;
    table.expect_end(USAGE)?;
    let mut model = Cursor::new(statement, args[1]);
    model.expect_words(&["MODEL"], USAGE)?;
    let model_name = model.name("the model")?;
    model.expect_end(USAGE)?;
    let mut descriptor = Cursor::new(statement, args[2]);
    descriptor.expect_words(&["DESCRIPTOR"], USAGE)?;
    descriptor.expect(&Token::LParen, USAGE)?;
    let mut columns = Vec::new();
    loop {
        columns.push(descriptor.ident("a column of the scored table")?);
        if !descriptor.eat(&Token::Comma) {
            break;
        }
    }
    descriptor.expect(&Token::RParen, USAGE)?;
    descriptor.expect_end(USAGE)?;
    Ok(MlPredictCall {
        placeholder,
        table: table_name,
        model: model_name,
        columns,
        text,
        at,
    })
}
