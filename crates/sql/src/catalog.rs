//! The catalog a script declares: tables with typed columns, watermarks, keys and connector
//! options; views; functions. Names are case-sensitive, as in Flink.

use std::collections::BTreeMap;

use arrow::datatypes::{DataType, Field, Schema};
use datafusion::sql::sqlparser::ast::Expr;

use crate::connector::Connector;
use crate::error::Position;
use crate::query::ParsedQuery;

/// Everything a script declares, in declaration order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// `CREATE TABLE`s.
    pub tables: Vec<TableDef>,
    /// `CREATE [TEMPORARY] VIEW`s.
    pub views: Vec<ViewDef>,
    /// `CREATE [TEMPORARY [SYSTEM]] FUNCTION`s.
    pub functions: Vec<FunctionDef>,
    /// `CREATE [TEMPORARY] MODEL`s.
    pub models: Vec<ModelDef>,
}

impl Catalog {
    /// The table named `name`.
    pub fn table(&self, name: &str) -> Option<&TableDef> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The view named `name`.
    pub fn view(&self, name: &str) -> Option<&ViewDef> {
        self.views.iter().find(|v| v.name == name)
    }

    /// The function named `name`.
    pub fn function(&self, name: &str) -> Option<&FunctionDef> {
        self.functions.iter().find(|f| f.name == name)
    }

    /// The model named `name`.
    pub fn model(&self, name: &str) -> Option<&ModelDef> {
        self.models.iter().find(|m| m.name == name)
    }

    /// Whether a table or view is named `name`.
    pub fn has_relation(&self, name: &str) -> bool {
        self.table(name).is_some() || self.view(name).is_some()
    }
}

/// A `CREATE TABLE`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDef {
    /// The name, parts of a qualified name joined with `.`.
    pub name: String,
    /// The columns in declaration order; none for `CREATE TABLE … AS SELECT`, whose columns
    /// are the query's.
    pub columns: Vec<Column>,
    /// `PRIMARY KEY (…) NOT ENFORCED`; its columns are non-nullable.
    pub primary_key: Option<PrimaryKey>,
    /// `WATERMARK FOR …`: the rowtime column and its delay.
    pub watermark: Option<Watermark>,
    /// `PARTITIONED BY (…)` columns.
    pub partitioned_by: Vec<String>,
    /// `COMMENT '…'` of the table.
    pub comment: Option<String>,
    /// The connector named by the `connector` option.
    pub connector: Connector,
    /// The `WITH` options, `connector` included.
    pub options: BTreeMap<String, String>,
    /// `CREATE TEMPORARY TABLE`.
    pub temporary: bool,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// Where the statement starts.
    pub at: Position,
}

impl TableDef {
    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The value of option `key`.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }

    /// The columns a connector reads or writes: the physical ones, in order.
    pub fn physical_schema(&self) -> Schema {
        self.schema_of(|kind| *kind == ColumnKind::Physical)
    }

    /// The columns a source of the table produces: the physical and metadata ones, in
    /// declaration order.
    pub fn source_schema(&self) -> Schema {
        self.schema_of(|kind| !matches!(kind, ColumnKind::Computed { .. }))
    }

    /// The columns a sink of the table receives: the physical ones and the metadata ones
    /// that are not `VIRTUAL`, in declaration order.
    pub fn sink_schema(&self) -> Schema {
        self.schema_of(|kind| match kind {
            ColumnKind::Physical => true,
            ColumnKind::Metadata { is_virtual, .. } => !is_virtual,
            ColumnKind::Computed { .. } => false,
        })
    }

    /// The metadata columns, each with its key (the column's name unless `FROM 'key'`).
    pub fn metadata_columns(&self) -> impl Iterator<Item = (&Column, &str)> {
        self.columns.iter().filter_map(|c| match &c.kind {
            ColumnKind::Metadata { key, .. } => Some((c, key.as_deref().unwrap_or(&c.name))),
            _ => None,
        })
    }

    fn schema_of(&self, keep: impl Fn(&ColumnKind) -> bool) -> Schema {
        Schema::new(
            self.columns
                .iter()
                .filter(|c| keep(&c.kind))
                .filter_map(|c| {
                    let data_type = c.data_type.clone()?;
                    Some(Field::new(&c.name, data_type, c.nullable))
                })
                .collect::<Vec<_>>(),
        )
    }

    /// Whether `column` is a time attribute windows can use: the watermark's rowtime column
    /// or a `PROCTIME()` computed column.
    pub fn is_time_attribute(&self, column: &str) -> bool {
        self.watermark
            .as_ref()
            .is_some_and(|w| w.rowtime_column == column)
            || self.column(column).is_some_and(Column::is_proctime)
    }
}

/// A column of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The name.
    pub name: String,
    /// The type; `None` for a computed column whose type only the planner can tell.
    pub data_type: Option<DataType>,
    /// Whether values may be null.
    pub nullable: bool,
    /// Physical, computed or metadata.
    pub kind: ColumnKind,
    /// Where the column is declared.
    pub at: Position,
}

impl Column {
    /// Whether the column is `name AS PROCTIME()`.
    pub fn is_proctime(&self) -> bool {
        matches!(&self.kind, ColumnKind::Computed { text, .. }
            if text.replace(' ', "").eq_ignore_ascii_case("PROCTIME()"))
    }
}

/// Where a column's values come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnKind {
    /// Read from (or written to) the connector.
    Physical,
    /// `name AS expr`: computed from other columns.
    Computed {
        /// The expression.
        expr: Box<Expr>,
        /// The expression as written.
        text: String,
    },
    /// `name TYPE METADATA [FROM 'key'] [VIRTUAL]`: a value the connector provides
    /// (e.g. a record's timestamp).
    Metadata {
        /// The metadata key; `None` means the column's name.
        key: Option<String>,
        /// `VIRTUAL`: read-only, not written by sinks.
        is_virtual: bool,
    },
}

/// `[CONSTRAINT name] PRIMARY KEY (…) NOT ENFORCED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryKey {
    /// The constraint's name.
    pub name: Option<String>,
    /// The key columns.
    pub columns: Vec<String>,
}

/// `WATERMARK FOR rowtime AS rowtime - INTERVAL …`: bounded out-of-orderness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    /// The rowtime (event-time) column.
    pub rowtime_column: String,
    /// How far behind the largest rowtime seen the watermark stays, in milliseconds.
    pub max_out_of_orderness_ms: i64,
    /// The watermark expression as written.
    pub text: String,
}

/// A `CREATE [TEMPORARY] VIEW name [(columns)] AS query`.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewDef {
    /// The name.
    pub name: String,
    /// Column names given after the view's name.
    pub columns: Vec<String>,
    /// The query.
    pub query: ParsedQuery,
    /// `TEMPORARY`.
    pub temporary: bool,
    /// Where the statement starts.
    pub at: Position,
}

/// A `CREATE [TEMPORARY [SYSTEM]] FUNCTION [IF NOT EXISTS] name AS 'class'
/// [LANGUAGE …] [USING JAR '…', …]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionDef {
    /// The name.
    pub name: String,
    /// The implementing class (or Python function) as written.
    pub class_name: String,
    /// `JAVA` (the default), `SCALA` or `PYTHON`.
    pub language: String,
    /// `USING JAR '…'` paths.
    pub jars: Vec<String>,
    /// `TEMPORARY`.
    pub temporary: bool,
    /// `TEMPORARY SYSTEM`.
    pub system: bool,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// Where the statement starts.
    pub at: Position,
}

/// A `CREATE [TEMPORARY] MODEL [IF NOT EXISTS] name INPUT (…) OUTPUT (…) [COMMENT '…']
/// WITH (…)`: a model `ML_PREDICT` calls.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDef {
    /// The name.
    pub name: String,
    /// The input columns: names and types, in order.
    pub inputs: Vec<ModelColumn>,
    /// The output columns: names and types, in order.
    pub outputs: Vec<ModelColumn>,
    /// `COMMENT '…'`.
    pub comment: Option<String>,
    /// The `WITH` options; `provider` names who serves the model.
    pub options: BTreeMap<String, String>,
    /// `TEMPORARY`.
    pub temporary: bool,
    /// Where the statement starts.
    pub at: Position,
}

/// An input or output column of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelColumn {
    /// The name.
    pub name: String,
    /// The type.
    pub data_type: DataType,
    /// Where it is declared.
    pub at: Position,
}

impl ModelDef {
    /// The option `key`.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }
}
