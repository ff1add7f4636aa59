//! A statement's tokens and a cursor over them, for the parts of Flink SQL that `sqlparser`
//! cannot read (DDL, window table-valued functions), plus the translation of `sqlparser`'s
//! errors into [`SqlError`]s at script positions.

use datafusion::sql::sqlparser::ast::Expr;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::dialect::FlinkDialect;
use crate::error::{Position, Result, SqlError};
use crate::split::RawStatement;

/// The end of the tokens.
static EOF: Token = Token::EOF;

/// The statement's tokens without whitespace and comments, spans relative to its text.
pub(crate) fn tokenize(statement: &RawStatement) -> Result<Vec<TokenWithSpan>> {
    let tokens = Tokenizer::new(&FlinkDialect, &statement.text)
        .tokenize_with_location()
        .map_err(|err| SqlError::Parse {
            at: statement.locate(err.location),
            message: err.message,
            text: snippet(&statement.text, err.location),
            hint: "check quotes, literals and operators here".into(),
        })?;
    Ok(tokens
        .into_iter()
        .filter(|token| !matches!(token.token, Token::Whitespace(_)))
        .collect())
}

/// Whether `token` is the unquoted word `keyword` (case-insensitive).
pub(crate) fn is_keyword(token: &Token, keyword: &str) -> bool {
    matches!(token, Token::Word(word) if word.quote_style.is_none() && word.value.eq_ignore_ascii_case(keyword))
}

/// The byte offset of a `sqlparser` location in `text`.
pub(crate) fn byte_offset(text: &str, location: Location) -> usize {
    let mut line_start = 0;
    for _ in 1..location.line {
        match text[line_start..].find('\n') {
            Some(newline) => line_start += newline + 1,
            None => return text.len(),
        }
    }
    let line = &text[line_start..];
    let column = usize::try_from(location.column.max(1) - 1).unwrap_or(usize::MAX);
    line_start
        + line
            .char_indices()
            .nth(column)
            .map_or(line.len(), |(offset, _)| offset)
}

/// The source text a run of tokens covers.
pub(crate) fn source_text(statement: &RawStatement, tokens: &[TokenWithSpan]) -> String {
    match (tokens.first(), tokens.last()) {
        (Some(first), Some(last)) => {
            let start = byte_offset(&statement.text, first.span.start);
            let end = byte_offset(&statement.text, last.span.end);
            statement.text[start..end].to_string()
        }
        _ => String::new(),
    }
}

/// A short piece of `text` starting at `location`: up to the next whitespace.
fn snippet(text: &str, location: Location) -> String {
    let rest = &text[byte_offset(text, location)..];
    let word: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace())
        .take(32)
        .collect();
    if word.is_empty() {
        "end of statement".into()
    } else {
        word
    }
}

/// A `sqlparser` error as a [`SqlError::Parse`] at the script position it names.
pub(crate) fn parser_error(statement: &RawStatement, err: ParserError, hint: &str) -> SqlError {
    let raw = match err {
        ParserError::TokenizerError(message) | ParserError::ParserError(message) => message,
        ParserError::RecursionLimitExceeded => "expression nested too deeply".into(),
    };
    let (message, location) = match raw.rsplit_once(" at Line: ") {
        Some((message, place)) => (message.to_string(), parse_location(place)),
        None => (raw, None),
    };
    let location = location.unwrap_or(Location::new(1, 1));
    SqlError::Parse {
        at: statement.locate(location),
        message,
        text: snippet(&statement.text, location),
        hint: hint.into(),
    }
}

/// `3, Column: 5` → line 3, column 5.
fn parse_location(place: &str) -> Option<Location> {
    let (line, column) = place.split_once(", Column: ")?;
    Some(Location::new(
        line.trim().parse().ok()?,
        column.trim().parse().ok()?,
    ))
}

/// Parses a run of tokens as one expression.
pub(crate) fn parse_expr(statement: &RawStatement, tokens: &[TokenWithSpan]) -> Result<Expr> {
    let mut parser = Parser::new(&FlinkDialect).with_tokens_with_locations(tokens.to_vec());
    let expr = parser
        .parse_expr()
        .map_err(|err| parser_error(statement, err, "write a Flink SQL expression"))?;
    let rest = parser.peek_token();
    if rest.token != Token::EOF {
        return Err(SqlError::Parse {
            at: statement.locate(rest.span.start),
            message: format!("unexpected {} after the expression", rest.token),
            text: rest.token.to_string(),
            hint: "an expression ends at a comma or closing parenthesis".into(),
        });
    }
    Ok(expr)
}

/// A cursor over a statement's tokens.
pub(crate) struct Cursor<'a> {
    statement: &'a RawStatement,
    tokens: &'a [TokenWithSpan],
    index: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the first of `tokens`.
    pub(crate) fn new(statement: &'a RawStatement, tokens: &'a [TokenWithSpan]) -> Self {
        Cursor {
            statement,
            tokens,
            index: 0,
        }
    }

    /// The token `n` ahead of the current one.
    pub(crate) fn peek_nth(&self, n: usize) -> &'a Token {
        self.tokens.get(self.index + n).map_or(&EOF, |t| &t.token)
    }

    /// The current token.
    pub(crate) fn peek(&self) -> &'a Token {
        self.peek_nth(0)
    }

    /// The script position of the current token (the statement's end at the end).
    pub(crate) fn position(&self) -> Position {
        match self.tokens.get(self.index) {
            Some(token) => self.statement.locate(token.span.start),
            None => self.statement.end(),
        }
    }

    /// The rest of the statement from the current token, as a statement of its own (the query
    /// of `CREATE TABLE … AS SELECT`), keeping its place in the script.
    pub(crate) fn rest_as_statement(&self) -> RawStatement {
        let offset = self
            .tokens
            .get(self.index)
            .map_or(self.statement.text.len(), |t| {
                byte_offset(&self.statement.text, t.span.start)
            });
        RawStatement {
            text: self.statement.text[offset..].to_string(),
            start: self.position(),
            statement_set: self.statement.statement_set,
        }
    }

    /// Moves past the current token.
    pub(crate) fn advance(&mut self) -> Option<&'a TokenWithSpan> {
        let token = self.tokens.get(self.index)?;
        self.index += 1;
        Some(token)
    }

    /// Whether the current token is the unquoted word `keyword`.
    pub(crate) fn is_word(&self, keyword: &str) -> bool {
        is_keyword(self.peek(), keyword)
    }

    /// Moves past the words `keywords` if they come next, all of them.
    pub(crate) fn eat_words(&mut self, keywords: &[&str]) -> bool {
        let all = keywords
            .iter()
            .enumerate()
            .all(|(n, keyword)| is_keyword(self.peek_nth(n), keyword));
        if all {
            self.index += keywords.len();
        }
        all
    }

    /// Moves past the word `keyword` if it comes next.
    pub(crate) fn eat_word(&mut self, keyword: &str) -> bool {
        self.eat_words(&[keyword])
    }

    /// Moves past the words `keywords`, or fails with `hint`.
    pub(crate) fn expect_words(&mut self, keywords: &[&str], hint: &str) -> Result<()> {
        if self.eat_words(keywords) {
            Ok(())
        } else {
            Err(self.error(format!("expected {}", keywords.join(" ")), hint))
        }
    }

    /// Moves past `token` if it comes next.
    pub(crate) fn eat(&mut self, token: &Token) -> bool {
        let found = self.peek() == token;
        if found {
            self.index += 1;
        }
        found
    }

    /// Moves past `token`, or fails with `hint`.
    pub(crate) fn expect(&mut self, token: &Token, hint: &str) -> Result<()> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.error(format!("expected {token}"), hint))
        }
    }

    /// An identifier, quoted or not; `what` names it for the error.
    pub(crate) fn ident(&mut self, what: &str) -> Result<String> {
        match self.peek() {
            Token::Word(word) => {
                self.index += 1;
                Ok(word.value.clone())
            }
            _ => Err(self.error(
                format!("expected {what}"),
                "identifiers are words; backquote reserved words, e.g. `path`",
            )),
        }
    }

    /// A possibly qualified name, `a`, `db.a` or `cat.db.a`, its parts joined with `.`.
    pub(crate) fn name(&mut self, what: &str) -> Result<String> {
        let mut name = self.ident(what)?;
        while self.eat(&Token::Period) {
            name.push('.');
            name.push_str(&self.ident(what)?);
        }
        Ok(name)
    }

    /// A single-quoted string literal; `what` names it for the error.
    pub(crate) fn string(&mut self, what: &str) -> Result<String> {
        match self.peek() {
            Token::SingleQuotedString(value) => {
                self.index += 1;
                Ok(value.clone())
            }
            _ => Err(self.error(
                format!("expected {what} as a string"),
                "strings are single-quoted, e.g. 'value'",
            )),
        }
    }

    /// An unsigned integer literal; `what` names it for the error.
    pub(crate) fn integer(&mut self, what: &str) -> Result<u32> {
        if let Token::Number(digits, _) = self.peek()
            && let Ok(value) = digits.parse()
        {
            self.index += 1;
            return Ok(value);
        }
        Err(self.error(format!("expected {what}"), "write a whole number, e.g. 3"))
    }

    /// The tokens up to the next `,` or `)` outside parentheses, or a `stop` word, or the end.
    pub(crate) fn until_delimiter(&mut self, stop: &[&str]) -> &'a [TokenWithSpan] {
        let start = self.index;
        let mut depth = 0usize;
        while let Some(token) = self.tokens.get(self.index) {
            match &token.token {
                Token::LParen => depth += 1,
                Token::RParen if depth == 0 => break,
                Token::RParen => depth -= 1,
                Token::Comma if depth == 0 => break,
                word if depth == 0 && stop.iter().any(|s| is_keyword(word, s)) => break,
                _ => {}
            }
            self.index += 1;
        }
        &self.tokens[start..self.index]
    }

    /// An expression up to the next `,` or `)` outside parentheses or a `stop` word, with
    /// its source text.
    pub(crate) fn expression(&mut self, stop: &[&str]) -> Result<(Expr, String)> {
        let at = self.position();
        let tokens = self.until_delimiter(stop);
        if tokens.is_empty() {
            return Err(SqlError::Parse {
                at,
                message: "expected an expression".into(),
                text: self.peek().to_string(),
                hint: "write an expression, e.g. ts - INTERVAL '2' SECOND".into(),
            });
        }
        Ok((
            parse_expr(self.statement, tokens)?,
            source_text(self.statement, tokens),
        ))
    }

    /// Fails unless all tokens are consumed.
    pub(crate) fn expect_end(&self, hint: &str) -> Result<()> {
        match self.peek() {
            Token::EOF => Ok(()),
            token => Err(self.error(format!("unexpected {token}"), hint)),
        }
    }

    /// A [`SqlError::Parse`] at the current token.
    pub(crate) fn error(&self, message: impl Into<String>, hint: &str) -> SqlError {
        SqlError::Parse {
            at: self.position(),
            message: message.into(),
            text: self.found(),
            hint: hint.into(),
        }
    }

    /// The current token as text, for errors.
    pub(crate) fn found(&self) -> String {
        match self.peek() {
            Token::EOF => "end of statement".into(),
            token => token.to_string(),
        }
    }
}
