//! Errors of the SQL front end. Every error names where it happened in the user's script
//! (`line:column`, both counted from 1, columns in characters), the text found there and a
//! hint on what to write instead.

use std::fmt;

use thiserror::Error;

/// A place in a script: 1-based line and column, columns counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1, in characters.
    pub column: u32,
}

impl Position {
    /// The position at `line:column`.
    pub const fn new(line: u32, column: u32) -> Self {
        Position { line, column }
    }

    /// The position just after `text` when `text` starts here.
    pub fn advance(self, text: &str) -> Position {
        text.chars().fold(self, Position::step)
    }

    /// The position after one character.
    pub(crate) fn step(self, ch: char) -> Position {
        if ch == '\n' {
            Position::new(self.line + 1, 1)
        } else {
            Position::new(self.line, self.column + 1)
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// What went wrong, where, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SqlError {
    /// The text is not Flink SQL.
    #[error("{at}: syntax error: {message} (at `{text}`); hint: {hint}")]
    Parse {
        /// Where.
        at: Position,
        /// What the parser expected or found.
        message: String,
        /// The offending text.
        text: String,
        /// What to write instead.
        hint: String,
    },
    /// `'connector' = '…'` names a connector Spate does not have.
    #[error("{at}: unknown connector '{text}'; hint: {hint}")]
    UnknownConnector {
        /// Where the connector name is.
        at: Position,
        /// The connector name as written.
        text: String,
        /// The connectors there are.
        hint: String,
    },
    /// A `WITH` option the table's connector does not take.
    #[error("{at}: unknown option '{text}' for connector '{connector}'; hint: {hint}")]
    UnknownOption {
        /// Where the option key is.
        at: Position,
        /// The connector.
        connector: String,
        /// The option key as written.
        text: String,
        /// The closest option, or the options there are.
        hint: String,
    },
    /// A `WITH` option the table's connector needs is missing.
    #[error("{at}: connector '{connector}' needs option '{text}'; hint: {hint}")]
    MissingOption {
        /// Where the table is declared.
        at: Position,
        /// The connector.
        connector: String,
        /// The missing option key.
        text: String,
        /// An example of the option.
        hint: String,
    },
    /// Valid Flink SQL that Spate does not support.
    #[error("{at}: {construct} is not supported (at `{text}`); hint: {hint}")]
    Unsupported {
        /// Where.
        at: Position,
        /// The construct, e.g. "MATCH_RECOGNIZE".
        construct: String,
        /// The offending text.
        text: String,
        /// What to write instead.
        hint: String,
    },
    /// A type that does not exist or does not fit.
    #[error("{at}: type error: {message} (at `{text}`); hint: {hint}")]
    Type {
        /// Where.
        at: Position,
        /// What does not fit.
        message: String,
        /// The offending text.
        text: String,
        /// What to write instead.
        hint: String,
    },
    /// Well-formed SQL that contradicts itself or the catalog: duplicate or unknown names,
    /// window sizes that do not fit, a statement outside where it may be.
    #[error("{at}: {message} (at `{text}`); hint: {hint}")]
    Invalid {
        /// Where.
        at: Position,
        /// What is wrong.
        message: String,
        /// The offending text.
        text: String,
        /// What to write instead.
        hint: String,
    },
}

impl SqlError {
    /// Where the error is in the script.
    pub fn at(&self) -> Position {
        match self {
            SqlError::Parse { at, .. }
            | SqlError::UnknownConnector { at, .. }
            | SqlError::UnknownOption { at, .. }
            | SqlError::MissingOption { at, .. }
            | SqlError::Unsupported { at, .. }
            | SqlError::Type { at, .. }
            | SqlError::Invalid { at, .. } => *at,
        }
    }

    /// The offending text.
    pub fn text(&self) -> &str {
        match self {
            SqlError::Parse { text, .. }
            | SqlError::UnknownConnector { text, .. }
            | SqlError::UnknownOption { text, .. }
            | SqlError::MissingOption { text, .. }
            | SqlError::Unsupported { text, .. }
            | SqlError::Type { text, .. }
            | SqlError::Invalid { text, .. } => text,
        }
    }

    /// What to write instead.
    pub fn hint(&self) -> &str {
        match self {
            SqlError::Parse { hint, .. }
            | SqlError::UnknownConnector { hint, .. }
            | SqlError::UnknownOption { hint, .. }
            | SqlError::MissingOption { hint, .. }
            | SqlError::Unsupported { hint, .. }
            | SqlError::Type { hint, .. }
            | SqlError::Invalid { hint, .. } => hint,
        }
    }
}

/// Results of the SQL front end.
pub type Result<T, E = SqlError> = std::result::Result<T, E>;
