//! [`FlinkDialect`]: Flink SQL's lexical rules for `sqlparser`.
//!
//! What a dialect cannot express is handled around the parser: `WATERMARK FOR`, computed and
//! metadata columns and Flink's types are read by [`ddl`](crate::ddl), and window
//! table-valued functions are rewritten away by [`window`](crate::window) before a query
//! reaches `sqlparser`.

use datafusion::sql::sqlparser::dialect::Dialect;

/// Flink SQL for `sqlparser`: backquoted identifiers (so reserved words such as `method` and
/// `path` can name columns), `''`-escaped strings without backslash escapes,
/// `COUNT(*) FILTER (WHERE …)`, `FOR SYSTEM_TIME AS OF` on a table, named function arguments
/// with `=>`, and intervals that always carry a unit.
#[derive(Debug, Default, Clone, Copy)]
pub struct FlinkDialect;

impl Dialect for FlinkDialect {
    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_alphabetic() || ch == '_'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_alphanumeric() || ch == '_' || ch == '$'
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '`'
    }

    fn identifier_quote_style(&self, _identifier: &str) -> Option<char> {
        Some('`')
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        true
    }

    fn supports_table_versioning(&self) -> bool {
        true
    }

    fn supports_named_fn_args_with_rarrow_operator(&self) -> bool {
        true
    }

    fn supports_group_by_expr(&self) -> bool {
        true
    }

    fn require_interval_qualifier(&self) -> bool {
        true
    }
}
