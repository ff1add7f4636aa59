//! PostgreSQL's system catalogs (`pg_catalog`) and `information_schema`, read-only, made
//! from the store's tables and their Arrow schemas: what `psql`'s meta-commands and tools
//! such as Grafana read to list tables and columns.
//!
//! Every table of the store is a table of the schema `public`, owned by the one user, with
//! no indexes, constraints, defaults, policies or inheritance: the catalogs of those are
//! there, empty. Each table's oid is a hash of its name, so it stays the same while the
//! store gains tables.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Int16Array, Int32Array, Int64Array, RecordBatch,
    StringArray, new_null_array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use pgwire::api::Type;
use spate_store::Store;

use super::auth::USER;
use super::handler::settings;
use super::types::pg_type;

/// The one database.
pub(super) const DATABASE: &str = "spate";
/// The oid of the one user.
pub(super) const USER_OID: i64 = 10;
/// The oid of `pg_catalog`, as in PostgreSQL.
const PG_CATALOG_OID: i64 = 11;
/// The oid of `public`, as in PostgreSQL.
const PUBLIC_OID: i64 = 2200;
/// The oid of `information_schema`.
const INFORMATION_SCHEMA_OID: i64 = 13_000;
/// The oid of the database.
const DATABASE_OID: i64 = 16_384;
/// The first oid of a table of the store.
const FIRST_TABLE_OID: u32 = 16_385;
/// The first oid of a table of the catalog.
const FIRST_CATALOG_OID: u32 = 14_000;
/// The tablespaces, as in PostgreSQL.
const DEFAULT_TABLESPACE_OID: i64 = 1663;
const GLOBAL_TABLESPACE_OID: i64 = 1664;
/// The size of a page, in which `relpages` counts.
const PAGE_BYTES: u64 = 8192;
/// The access method of tables, as in PostgreSQL.
const HEAP_OID: i64 = 2;
/// The default collation, as in PostgreSQL.
const DEFAULT_COLLATION: i64 = 100;
/// PostgreSQL's `UTF8` encoding.
pub(super) const UTF8_ENCODING: i64 = 6;

/// The type of a catalog column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An oid (sent as `int8`).
    Oid,
    /// Text: `name`, `text` and `"char"` columns.
    Text,
    Bool,
    Int2,
    Int4,
    Float4,
    /// An array (`aclitem[]`, `oid[]`, `text[]`): always NULL here.
    Array,
}

use Kind::{Array, Bool, Float4, Int2, Int4, Oid, Text};

impl Kind {
    fn data_type(self) -> DataType {
        match self {
            Oid => DataType::Int64,
            Text => DataType::Utf8,
            Bool => DataType::Boolean,
            Int2 => DataType::Int16,
            Int4 => DataType::Int32,
            Float4 => DataType::Float32,
            Array => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        }
    }
}

/// A value of a catalog row.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
    Float(f32),
}

fn t(text: &str) -> V {
    V::Text(text.to_string())
}

/// The columns of one catalog table.
type Columns = &'static [(&'static str, Kind)];

/// The catalog tables that are always empty in Spate, with their columns.
const EMPTY: &[(&str, Columns)] = &[
    (
        "pg_index",
        &[
            ("indexrelid", Oid),
            ("indrelid", Oid),
            ("indnatts", Int2),
            ("indnkeyatts", Int2),
            ("indisunique", Bool),
            ("indisprimary", Bool),
            ("indisexclusion", Bool),
            ("indimmediate", Bool),
            ("indisclustered", Bool),
            ("indisvalid", Bool),
            ("indisreplident", Bool),
            ("indkey", Text),
            ("indexprs", Text),
            ("indpred", Text),
        ],
    ),
    (
        "pg_constraint",
        &[
            ("oid", Oid),
            ("conname", Text),
            ("connamespace", Oid),
            ("contype", Text),
            ("condeferrable", Bool),
            ("condeferred", Bool),
            ("convalidated", Bool),
            ("conrelid", Oid),
            ("contypid", Oid),
            ("conindid", Oid),
            ("conparentid", Oid),
            ("confrelid", Oid),
            ("confupdtype", Text),
            ("confdeltype", Text),
            ("confmatchtype", Text),
            ("conislocal", Bool),
            ("coninhcount", Int4),
            ("connoinherit", Bool),
            ("conkey", Array),
            ("confkey", Array),
            ("conbin", Text),
        ],
    ),
    (
        "pg_attrdef",
        &[
            ("oid", Oid),
            ("adrelid", Oid),
            ("adnum", Int2),
            ("adbin", Text),
        ],
    ),
    (
        "pg_collation",
        &[
            ("oid", Oid),
            ("collname", Text),
            ("collnamespace", Oid),
            ("collowner", Oid),
            ("collprovider", Text),
            ("collisdeterministic", Bool),
            ("collencoding", Int4),
            ("collcollate", Text),
            ("collctype", Text),
        ],
    ),
    (
        "pg_inherits",
        &[
            ("inhrelid", Oid),
            ("inhparent", Oid),
            ("inhseqno", Int4),
            ("inhdetachpending", Bool),
        ],
    ),
    (
        "pg_policy",
        &[
            ("oid", Oid),
            ("polname", Text),
            ("polrelid", Oid),
            ("polcmd", Text),
            ("polpermissive", Bool),
            ("polroles", Array),
            ("polqual", Text),
            ("polwithcheck", Text),
        ],
    ),
    (
        "pg_statistic_ext",
        &[
            ("oid", Oid),
            ("stxrelid", Oid),
            ("stxname", Text),
            ("stxnamespace", Oid),
            ("stxowner", Oid),
            ("stxstattarget", Int4),
            ("stxkeys", Text),
            ("stxkind", Array),
        ],
    ),
    (
        "pg_publication",
        &[
            ("oid", Oid),
            ("pubname", Text),
            ("pubowner", Oid),
            ("puballtables", Bool),
            ("pubinsert", Bool),
            ("pubupdate", Bool),
            ("pubdelete", Bool),
            ("pubtruncate", Bool),
            ("pubviaroot", Bool),
        ],
    ),
    (
        "pg_publication_namespace",
        &[("oid", Oid), ("pnpubid", Oid), ("pnnspid", Oid)],
    ),
    (
        "pg_publication_rel",
        &[
            ("oid", Oid),
            ("prpubid", Oid),
            ("prrelid", Oid),
            ("prqual", Text),
            ("prattrs", Array),
        ],
    ),
    (
        "pg_trigger",
        &[
            ("oid", Oid),
            ("tgrelid", Oid),
            ("tgparentid", Oid),
            ("tgname", Text),
            ("tgfoid", Oid),
            ("tgtype", Int2),
            ("tgenabled", Text),
            ("tgisinternal", Bool),
            ("tgconstraint", Oid),
        ],
    ),
    (
        "pg_rewrite",
        &[
            ("oid", Oid),
            ("rulename", Text),
            ("ev_class", Oid),
            ("ev_type", Text),
            ("ev_enabled", Text),
            ("is_instead", Bool),
        ],
    ),
    (
        "pg_description",
        &[
            ("objoid", Oid),
            ("classoid", Oid),
            ("objsubid", Int4),
            ("description", Text),
        ],
    ),
    (
        "pg_extension",
        &[
            ("oid", Oid),
            ("extname", Text),
            ("extowner", Oid),
            ("extnamespace", Oid),
            ("extrelocatable", Bool),
            ("extversion", Text),
        ],
    ),
    (
        "pg_proc",
        &[
            ("oid", Oid),
            ("proname", Text),
            ("pronamespace", Oid),
            ("proowner", Oid),
            ("prolang", Oid),
            ("prokind", Text),
            ("proretset", Bool),
            ("prorettype", Oid),
            ("pronargs", Int2),
            ("proargtypes", Text),
            ("prosrc", Text),
        ],
    ),
    (
        "pg_foreign_table",
        &[("ftrelid", Oid), ("ftserver", Oid), ("ftoptions", Array)],
    ),
    (
        "pg_partitioned_table",
        &[("partrelid", Oid), ("partstrat", Text), ("partnatts", Int2)],
    ),
    (
        "pg_sequence",
        &[
            ("seqrelid", Oid),
            ("seqtypid", Oid),
            ("seqstart", Oid),
            ("seqincrement", Oid),
            ("seqmax", Oid),
            ("seqmin", Oid),
            ("seqcache", Oid),
            ("seqcycle", Bool),
        ],
    ),
    (
        "pg_depend",
        &[
            ("classid", Oid),
            ("objid", Oid),
            ("objsubid", Int4),
            ("refclassid", Oid),
            ("refobjid", Oid),
            ("refobjsubid", Int4),
            ("deptype", Text),
        ],
    ),
    (
        "pg_auth_members",
        &[
            ("oid", Oid),
            ("roleid", Oid),
            ("member", Oid),
            ("grantor", Oid),
            ("admin_option", Bool),
        ],
    ),
    (
        "pg_views",
        &[
            ("schemaname", Text),
            ("viewname", Text),
            ("viewowner", Text),
            ("definition", Text),
        ],
    ),
    (
        "pg_matviews",
        &[
            ("schemaname", Text),
            ("matviewname", Text),
            ("matviewowner", Text),
            ("definition", Text),
        ],
    ),
    (
        "pg_indexes",
        &[
            ("schemaname", Text),
            ("tablename", Text),
            ("indexname", Text),
            ("tablespace", Text),
            ("indexdef", Text),
        ],
    ),
];

const PG_NAMESPACE: Columns = &[
    ("oid", Oid),
    ("nspname", Text),
    ("nspowner", Oid),
    ("nspacl", Array),
];

const PG_CLASS: Columns = &[
    ("oid", Oid),
    ("relname", Text),
    ("relnamespace", Oid),
    ("reltype", Oid),
    ("reloftype", Oid),
    ("relowner", Oid),
    ("relam", Oid),
    ("relfilenode", Oid),
    ("reltablespace", Oid),
    ("relpages", Int4),
    ("reltuples", Float4),
    ("relallvisible", Int4),
    ("reltoastrelid", Oid),
    ("relhasindex", Bool),
    ("relisshared", Bool),
    ("relpersistence", Text),
    ("relkind", Text),
    ("relnatts", Int2),
    ("relchecks", Int2),
    ("relhasrules", Bool),
    ("relhastriggers", Bool),
    ("relhassubclass", Bool),
    ("relrowsecurity", Bool),
    ("relforcerowsecurity", Bool),
    ("relispopulated", Bool),
    ("relreplident", Text),
    ("relispartition", Bool),
    ("relrewrite", Oid),
    ("relfrozenxid", Oid),
    ("relminmxid", Oid),
    ("relacl", Array),
    ("reloptions", Array),
    ("relpartbound", Text),
];

const PG_ATTRIBUTE: Columns = &[
    ("attrelid", Oid),
    ("attname", Text),
    ("atttypid", Oid),
    ("attstattarget", Int4),
    ("attlen", Int2),
    ("attnum", Int2),
    ("attndims", Int4),
    ("attcacheoff", Int4),
    ("atttypmod", Int4),
    ("attbyval", Bool),
    ("attalign", Text),
    ("attstorage", Text),
    ("attcompression", Text),
    ("attnotnull", Bool),
    ("atthasdef", Bool),
    ("atthasmissing", Bool),
    ("attidentity", Text),
    ("attgenerated", Text),
    ("attisdropped", Bool),
    ("attislocal", Bool),
    ("attinhcount", Int4),
    ("attcollation", Oid),
    ("attacl", Array),
    ("attoptions", Array),
    ("attfdwoptions", Array),
    ("attmissingval", Text),
];

const PG_TYPE: Columns = &[
    ("oid", Oid),
    ("typname", Text),
    ("typnamespace", Oid),
    ("typowner", Oid),
    ("typlen", Int2),
    ("typbyval", Bool),
    ("typtype", Text),
    ("typcategory", Text),
    ("typispreferred", Bool),
    ("typisdefined", Bool),
    ("typdelim", Text),
    ("typrelid", Oid),
    ("typelem", Oid),
    ("typarray", Oid),
    ("typbasetype", Oid),
    ("typtypmod", Int4),
    ("typndims", Int4),
    ("typcollation", Oid),
    ("typnotnull", Bool),
];

const PG_DATABASE: Columns = &[
    ("oid", Oid),
    ("datname", Text),
    ("datdba", Oid),
    ("encoding", Int4),
    ("datlocprovider", Text),
    ("datistemplate", Bool),
    ("datallowconn", Bool),
    ("datconnlimit", Int4),
    ("datcollate", Text),
    ("datctype", Text),
    ("daticulocale", Text),
    ("dattablespace", Oid),
    ("datacl", Array),
];

const PG_TABLESPACE: Columns = &[
    ("oid", Oid),
    ("spcname", Text),
    ("spcowner", Oid),
    ("spcacl", Array),
    ("spcoptions", Array),
];

const PG_AM: Columns = &[
    ("oid", Oid),
    ("amname", Text),
    ("amhandler", Text),
    ("amtype", Text),
];

const PG_ROLES: Columns = &[
    ("oid", Oid),
    ("rolname", Text),
    ("rolsuper", Bool),
    ("rolinherit", Bool),
    ("rolcreaterole", Bool),
    ("rolcreatedb", Bool),
    ("rolcanlogin", Bool),
    ("rolreplication", Bool),
    ("rolconnlimit", Int4),
    ("rolpassword", Text),
    ("rolvaliduntil", Text),
    ("rolbypassrls", Bool),
    ("rolconfig", Array),
];

const PG_SETTINGS: Columns = &[
    ("name", Text),
    ("setting", Text),
    ("unit", Text),
    ("context", Text),
    ("vartype", Text),
    ("source", Text),
];

const PG_TABLES: Columns = &[
    ("schemaname", Text),
    ("tablename", Text),
    ("tableowner", Text),
    ("tablespace", Text),
    ("hasindexes", Bool),
    ("hasrules", Bool),
    ("hastriggers", Bool),
    ("rowsecurity", Bool),
];

const SCHEMATA: Columns = &[
    ("catalog_name", Text),
    ("schema_name", Text),
    ("schema_owner", Text),
];

const TABLES: Columns = &[
    ("table_catalog", Text),
    ("table_schema", Text),
    ("table_name", Text),
    ("table_type", Text),
    ("is_insertable_into", Text),
    ("is_typed", Text),
];

const COLUMNS: Columns = &[
    ("table_catalog", Text),
    ("table_schema", Text),
    ("table_name", Text),
    ("column_name", Text),
    ("ordinal_position", Int4),
    ("column_default", Text),
    ("is_nullable", Text),
    ("data_type", Text),
    ("character_maximum_length", Int4),
    ("numeric_precision", Int4),
    ("numeric_scale", Int4),
    ("datetime_precision", Int4),
    ("udt_catalog", Text),
    ("udt_schema", Text),
    ("udt_name", Text),
];

/// The tables of the catalog that have rows, by schema and name.
const FILLED: &[(&str, &str, Columns)] = &[
    ("pg_catalog", "pg_namespace", PG_NAMESPACE),
    ("pg_catalog", "pg_class", PG_CLASS),
    ("pg_catalog", "pg_attribute", PG_ATTRIBUTE),
    ("pg_catalog", "pg_type", PG_TYPE),
    ("pg_catalog", "pg_database", PG_DATABASE),
    ("pg_catalog", "pg_am", PG_AM),
    ("pg_catalog", "pg_roles", PG_ROLES),
    ("pg_catalog", "pg_settings", PG_SETTINGS),
    ("pg_catalog", "pg_tables", PG_TABLES),
    ("pg_catalog", "pg_tablespace", PG_TABLESPACE),
    ("information_schema", "schemata", SCHEMATA),
    ("information_schema", "tables", TABLES),
    ("information_schema", "columns", COLUMNS),
];

/// The catalog's tables that are views in PostgreSQL.
const VIEWS: &[&str] = &[
    "pg_roles",
    "pg_settings",
    "pg_tables",
    "pg_views",
    "pg_matviews",
    "pg_indexes",
    "schemata",
    "tables",
    "columns",
];

/// Every table of the catalog: its schema, name and columns.
fn relations() -> impl Iterator<Item = (&'static str, &'static str, Columns)> {
    EMPTY
        .iter()
        .map(|(name, columns)| ("pg_catalog", *name, *columns))
        .chain(FILLED.iter().copied())
}

/// Whether `name` is an array column of the catalog: all of them are always NULL.
pub(super) fn is_null_array_column(name: &str) -> bool {
    relations().any(|(_, _, columns)| columns.iter().any(|(n, k)| *n == name && *k == Array))
}

/// Whether `name` is a table of `pg_catalog`.
pub(super) fn is_pg_catalog_table(name: &str) -> bool {
    relations().any(|(schema, n, _)| schema == "pg_catalog" && n == name)
}

/// Whether the `pg_catalog` table `name` never has rows in Spate.
pub(super) fn is_empty_table(name: &str) -> bool {
    EMPTY.iter().any(|(n, _)| *n == name)
}

/// A PostgreSQL type the store's columns are sent as.
#[derive(Debug, Clone)]
pub(super) struct PgType {
    /// The type.
    pub(super) ty: Type,
    /// Its name as `format_type` writes it.
    pub(super) display: &'static str,
    len: i16,
    by_value: bool,
    align: &'static str,
    storage: &'static str,
    category: &'static str,
    collation: i64,
}

/// The types of the catalog: those of [`pg_type`], and those of the catalogs' columns.
pub(super) fn pg_types() -> Vec<PgType> {
    let ty = |ty: Type, display, len, by_value, align, storage, category, collation| PgType {
        ty,
        display,
        len,
        by_value,
        align,
        storage,
        category,
        collation,
    };
    vec![
        ty(Type::BOOL, "boolean", 1, true, "c", "p", "B", 0),
        ty(Type::BYTEA, "bytea", -1, false, "i", "x", "U", 0),
        ty(Type::CHAR, "\"char\"", 1, true, "c", "p", "Z", 0),
        ty(Type::NAME, "name", 64, false, "c", "p", "S", 950),
        ty(Type::INT8, "bigint", 8, true, "d", "p", "N", 0),
        ty(Type::INT2, "smallint", 2, true, "s", "p", "N", 0),
        ty(Type::INT4, "integer", 4, true, "i", "p", "N", 0),
        ty(
            Type::TEXT,
            "text",
            -1,
            false,
            "i",
            "x",
            "S",
            DEFAULT_COLLATION,
        ),
        ty(Type::OID, "oid", 4, true, "i", "p", "N", 0),
        ty(Type::FLOAT4, "real", 4, true, "i", "p", "N", 0),
        ty(Type::FLOAT8, "double precision", 8, true, "d", "p", "N", 0),
        ty(
            Type::VARCHAR,
            "character varying",
            -1,
            false,
            "i",
            "x",
            "S",
            DEFAULT_COLLATION,
        ),
        ty(Type::DATE, "date", 4, true, "i", "p", "D", 0),
        ty(
            Type::TIMESTAMP,
            "timestamp without time zone",
            8,
            true,
            "d",
            "p",
            "D",
            0,
        ),
        ty(
            Type::TIMESTAMPTZ,
            "timestamp with time zone",
            8,
            true,
            "d",
            "p",
            "D",
            0,
        ),
        ty(Type::NUMERIC, "numeric", -1, false, "i", "m", "N", 0),
    ]
}

/// `format_type(oid, typmod)`: the type's name, with its modifier (precision, length) if
/// it has one; `???` for an unknown type, as PostgreSQL writes it.
pub(super) fn format_type(types: &[PgType], oid: i64, typmod: Option<i64>) -> String {
    let Some(ty) = types.iter().find(|t| i64::from(t.ty.oid()) == oid) else {
        return "???".to_string();
    };
    let typmod = typmod.filter(|m| *m >= 0);
    match (ty.ty.clone(), typmod) {
        (Type::VARCHAR, Some(m)) if m >= 4 => format!("character varying({})", m - 4),
        (Type::TIMESTAMP, Some(p)) => format!("timestamp({p}) without time zone"),
        (Type::TIMESTAMPTZ, Some(p)) => format!("timestamp({p}) with time zone"),
        (Type::NUMERIC, Some(m)) if m >= 4 => {
            format!("numeric({},{})", ((m - 4) >> 16) & 0xffff, (m - 4) & 0xffff)
        }
        _ => ty.display.to_string(),
    }
}

/// The type modifier of a column of Arrow type `data_type`: a timestamp's precision, a
/// decimal's precision and scale; -1 without one.
fn typmod(data_type: &DataType) -> i64 {
    match data_type {
        DataType::Timestamp(TimeUnit::Second, _) => 0,
        DataType::Timestamp(TimeUnit::Millisecond, _) => 3,
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => ((i64::from(*p) << 16) | i64::from(*s as u8)) + 4,
        _ => -1,
    }
}

/// One table: of the store, or of the catalog.
#[derive(Debug, Clone)]
pub(super) struct StoreTable {
    /// Its oid.
    pub(super) oid: i64,
    /// Its schema's oid and name.
    pub(super) namespace: (i64, &'static str),
    /// Its name.
    pub(super) name: String,
    /// `r` for a table, `v` for a view (as PostgreSQL has the catalog's).
    pub(super) kind: &'static str,
    /// Its columns.
    pub(super) schema: SchemaRef,
    /// Its committed rows.
    pub(super) rows: u64,
    /// What it takes on disk: its Parquet files and its write-ahead log.
    pub(super) bytes: u64,
}

/// The catalog as it is when a query starts: the store's tables, with their oids, and the
/// catalog's own.
#[derive(Debug, Clone)]
pub(super) struct Snapshot {
    /// The store's tables by name, then the catalog's.
    pub(super) tables: Vec<StoreTable>,
    /// The types.
    pub(super) types: Vec<PgType>,
}

/// The oid of each of `names` (sorted), from `first` up: a hash of the name, the next
/// free one if two collide.
fn table_oids(names: &[String], first: u32, end: u32) -> Vec<i64> {
    let mut used = HashSet::new();
    names
        .iter()
        .map(|name| {
            // FNV-1a.
            let hash = name.bytes().fold(0x811c_9dc5u32, |h, b| {
                (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
            });
            let span = end - first;
            let mut oid = first + hash % span;
            while !used.insert(oid) {
                oid = first + (oid - first + 1) % span;
            }
            i64::from(oid)
        })
        .collect()
}

impl Snapshot {
    /// The catalog of `store` now.
    pub(super) fn of(store: &Store) -> Snapshot {
        let mut names = store.table_names();
        names.sort();
        let oids = table_oids(&names, FIRST_TABLE_OID, i32::MAX as u32);
        let mut tables: Vec<StoreTable> = names
            .into_iter()
            .zip(oids)
            .filter_map(|(name, oid)| {
                // A table dropped since the names were read is left out.
                let table = store.table(&name).ok()?;
                let snapshot = table.snapshot();
                let files: u64 = snapshot
                    .files
                    .iter()
                    .filter_map(|(path, _)| std::fs::metadata(path).ok())
                    .map(|m| m.len())
                    .sum();
                Some(StoreTable {
                    oid,
                    namespace: (PUBLIC_OID, "public"),
                    name,
                    kind: "r",
                    schema: table.schema(),
                    rows: snapshot.memory_rows() as u64 + snapshot.file_rows(),
                    bytes: files + table.stats().wal_bytes,
                })
            })
            .collect();
        let catalog: Vec<_> = relations().collect();
        let names: Vec<String> = catalog.iter().map(|(s, n, _)| format!("{s}.{n}")).collect();
        let oids = table_oids(&names, FIRST_CATALOG_OID, FIRST_TABLE_OID);
        for ((schema, name, columns), oid) in catalog.into_iter().zip(oids) {
            let namespace = Self::namespaces()
                .into_iter()
                .find(|(_, n)| *n == schema)
                .unwrap_or((PG_CATALOG_OID, "pg_catalog"));
            tables.push(StoreTable {
                oid,
                namespace,
                name: name.to_string(),
                kind: if VIEWS.contains(&name) { "v" } else { "r" },
                schema: schema_of(columns),
                rows: 0,
                bytes: 0,
            });
        }
        Snapshot {
            tables,
            types: pg_types(),
        }
    }

    /// The schemas, with their oids.
    pub(super) fn namespaces() -> [(i64, &'static str); 3] {
        [
            (PG_CATALOG_OID, "pg_catalog"),
            (PUBLIC_OID, "public"),
            (INFORMATION_SCHEMA_OID, "information_schema"),
        ]
    }

    /// Every table of the catalog, by schema (`pg_catalog` or `information_schema`) and
    /// name.
    pub(super) fn tables(
        &self,
    ) -> Result<Vec<(&'static str, &'static str, RecordBatch)>, ArrowError> {
        relations()
            .map(|(schema, name, columns)| {
                let rows = match name {
                    "pg_namespace" => self.pg_namespace(),
                    "pg_class" => self.pg_class(),
                    "pg_attribute" => self.pg_attribute(),
                    "pg_type" => self.pg_type(),
                    "pg_database" => pg_database(),
                    "pg_am" => pg_am(),
                    "pg_roles" => pg_roles(),
                    "pg_settings" => pg_settings(),
                    "pg_tables" => self.pg_tables(),
                    "pg_tablespace" => pg_tablespace(),
                    "schemata" => schemata(),
                    "tables" => self.is_tables(),
                    "columns" => self.is_columns(),
                    _ => Vec::new(),
                };
                Ok((schema, name, batch(columns, &rows)?))
            })
            .collect()
    }

    fn pg_namespace(&self) -> Vec<Vec<V>> {
        Self::namespaces()
            .iter()
            .map(|(oid, name)| vec![V::Int(*oid), t(name), V::Int(USER_OID), V::Null])
            .collect()
    }

    fn pg_class(&self) -> Vec<Vec<V>> {
        self.tables
            .iter()
            .map(|table| {
                vec![
                    V::Int(table.oid),
                    t(&table.name),
                    V::Int(table.namespace.0),
                    V::Int(0),
                    V::Int(0),
                    V::Int(USER_OID),
                    V::Int(HEAP_OID),
                    V::Int(table.oid),
                    V::Int(0),
                    V::Int(table.bytes.div_ceil(PAGE_BYTES) as i64),
                    V::Float(table.rows as f32),
                    V::Int(0),
                    V::Int(0),
                    V::Bool(false),
                    V::Bool(false),
                    t("p"),
                    t(table.kind),
                    V::Int(table.schema.fields().len() as i64),
                    V::Int(0),
                    V::Bool(false),
                    V::Bool(false),
                    V::Bool(false),
                    V::Bool(false),
                    V::Bool(false),
                    V::Bool(true),
                    // As in PostgreSQL: the default replica identity, none for the
                    // catalog's own tables.
                    t(if table.namespace.0 == PUBLIC_OID {
                        "d"
                    } else {
                        "n"
                    }),
                    V::Bool(false),
                    V::Int(0),
                    V::Int(0),
                    V::Int(0),
                    V::Null,
                    V::Null,
                    V::Null,
                ]
            })
            .collect()
    }

    /// The PostgreSQL type of a column of Arrow type `data_type`.
    fn type_of(&self, data_type: &DataType) -> Option<&PgType> {
        let ty = pg_type(data_type);
        self.types.iter().find(|t| t.ty == ty)
    }

    fn pg_attribute(&self) -> Vec<Vec<V>> {
        let mut rows = Vec::new();
        for table in &self.tables {
            for (i, field) in table.schema.fields().iter().enumerate() {
                let Some(ty) = self.type_of(field.data_type()) else {
                    continue;
                };
                rows.push(vec![
                    V::Int(table.oid),
                    t(field.name()),
                    V::Int(i64::from(ty.ty.oid())),
                    V::Int(-1),
                    V::Int(i64::from(ty.len)),
                    V::Int(i as i64 + 1),
                    V::Int(0),
                    V::Int(-1),
                    V::Int(typmod(field.data_type())),
                    V::Bool(ty.by_value),
                    t(ty.align),
                    t(ty.storage),
                    t(""),
                    V::Bool(!field.is_nullable()),
                    V::Bool(false),
                    V::Bool(false),
                    t(""),
                    t(""),
                    V::Bool(false),
                    V::Bool(true),
                    V::Int(0),
                    V::Int(ty.collation),
                    V::Null,
                    V::Null,
                    V::Null,
                    V::Null,
                ]);
            }
        }
        rows
    }

    fn pg_type(&self) -> Vec<Vec<V>> {
        self.types
            .iter()
            .map(|ty| {
                vec![
                    V::Int(i64::from(ty.ty.oid())),
                    t(ty.ty.name()),
                    V::Int(PG_CATALOG_OID),
                    V::Int(USER_OID),
                    V::Int(i64::from(ty.len)),
                    V::Bool(ty.by_value),
                    t("b"),
                    t(ty.category),
                    V::Bool(false),
                    V::Bool(true),
                    t(","),
                    V::Int(0),
                    V::Int(0),
                    V::Int(0),
                    V::Int(0),
                    V::Int(-1),
                    V::Int(0),
                    V::Int(ty.collation),
                    V::Bool(false),
                ]
            })
            .collect()
    }

    fn pg_tables(&self) -> Vec<Vec<V>> {
        self.tables
            .iter()
            .filter(|table| table.kind == "r")
            .map(|table| {
                vec![
                    t(table.namespace.1),
                    t(&table.name),
                    t(USER),
                    V::Null,
                    V::Bool(false),
                    V::Bool(false),
                    V::Bool(false),
                    V::Bool(false),
                ]
            })
            .collect()
    }

    fn is_tables(&self) -> Vec<Vec<V>> {
        self.tables
            .iter()
            .map(|table| {
                vec![
                    t(DATABASE),
                    t(table.namespace.1),
                    t(&table.name),
                    t(if table.kind == "v" {
                        "VIEW"
                    } else {
                        "BASE TABLE"
                    }),
                    t("NO"),
                    t("NO"),
                ]
            })
            .collect()
    }

    fn is_columns(&self) -> Vec<Vec<V>> {
        let mut rows = Vec::new();
        for table in &self.tables {
            for (i, field) in table.schema.fields().iter().enumerate() {
                let Some(ty) = self.type_of(field.data_type()) else {
                    continue;
                };
                let (precision, scale) = match (ty.ty.clone(), field.data_type()) {
                    (Type::INT2, _) => (V::Int(16), V::Int(0)),
                    (Type::INT4, _) => (V::Int(32), V::Int(0)),
                    (Type::INT8, _) => (V::Int(64), V::Int(0)),
                    (Type::FLOAT4, _) => (V::Int(24), V::Null),
                    (Type::FLOAT8, _) => (V::Int(53), V::Null),
                    (
                        Type::NUMERIC,
                        DataType::Decimal32(p, s)
                        | DataType::Decimal64(p, s)
                        | DataType::Decimal128(p, s)
                        | DataType::Decimal256(p, s),
                    ) => (V::Int(i64::from(*p)), V::Int(i64::from(*s))),
                    _ => (V::Null, V::Null),
                };
                let datetime_precision = match field.data_type() {
                    DataType::Date32 | DataType::Date64 => V::Int(0),
                    DataType::Timestamp(unit, _) => V::Int(match unit {
                        TimeUnit::Second => 0,
                        TimeUnit::Millisecond => 3,
                        TimeUnit::Microsecond | TimeUnit::Nanosecond => 6,
                    }),
                    _ => V::Null,
                };
                rows.push(vec![
                    t(DATABASE),
                    t(table.namespace.1),
                    t(&table.name),
                    t(field.name()),
                    V::Int(i as i64 + 1),
                    V::Null,
                    t(if field.is_nullable() { "YES" } else { "NO" }),
                    t(ty.display),
                    V::Null,
                    precision,
                    scale,
                    datetime_precision,
                    t(DATABASE),
                    t("pg_catalog"),
                    t(ty.ty.name()),
                ]);
            }
        }
        rows
    }
}

fn pg_database() -> Vec<Vec<V>> {
    vec![vec![
        V::Int(DATABASE_OID),
        t(DATABASE),
        V::Int(USER_OID),
        V::Int(UTF8_ENCODING),
        t("c"),
        V::Bool(false),
        V::Bool(true),
        V::Int(-1),
        t("C"),
        t("C"),
        V::Null,
        V::Int(DEFAULT_TABLESPACE_OID),
        V::Null,
    ]]
}

fn pg_tablespace() -> Vec<Vec<V>> {
    vec![
        vec![
            V::Int(DEFAULT_TABLESPACE_OID),
            t("pg_default"),
            V::Int(USER_OID),
            V::Null,
            V::Null,
        ],
        vec![
            V::Int(GLOBAL_TABLESPACE_OID),
            t("pg_global"),
            V::Int(USER_OID),
            V::Null,
            V::Null,
        ],
    ]
}

fn pg_am() -> Vec<Vec<V>> {
    vec![
        vec![
            V::Int(HEAP_OID),
            t("heap"),
            t("heap_tableam_handler"),
            t("t"),
        ],
        vec![V::Int(403), t("btree"), t("bthandler"), t("i")],
    ]
}

fn pg_roles() -> Vec<Vec<V>> {
    vec![vec![
        V::Int(USER_OID),
        t(USER),
        V::Bool(false),
        V::Bool(true),
        V::Bool(false),
        V::Bool(false),
        V::Bool(true),
        V::Bool(false),
        V::Int(-1),
        t("********"),
        V::Null,
        V::Bool(false),
        V::Null,
    ]]
}

fn pg_settings() -> Vec<Vec<V>> {
    settings()
        .into_iter()
        .map(|(name, setting)| {
            vec![
                t(name),
                t(setting),
                V::Null,
                t("user"),
                t("string"),
                t("default"),
            ]
        })
        .collect()
}

fn schemata() -> Vec<Vec<V>> {
    Snapshot::namespaces()
        .iter()
        .map(|(_, name)| vec![t(DATABASE), t(name), t(USER)])
        .collect()
}

/// The Arrow schema of a catalog table of `columns`.
fn schema_of(columns: &[(&str, Kind)]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, kind)| Field::new(*name, kind.data_type(), true))
            .collect::<Vec<_>>(),
    ))
}

/// A batch of `columns` with `rows`.
fn batch(columns: &[(&str, Kind)], rows: &[Vec<V>]) -> Result<RecordBatch, ArrowError> {
    let schema = schema_of(columns);
    let int = |i: usize| -> Vec<Option<i64>> {
        rows.iter()
            .map(|r| match &r[i] {
                V::Int(v) => Some(*v),
                _ => None,
            })
            .collect()
    };
    let arrays = columns
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| -> ArrayRef {
            match kind {
                Oid => Arc::new(Int64Array::from(int(i))),
                Int4 => Arc::new(Int32Array::from_iter(
                    int(i).into_iter().map(|v| v.map(|v| v as i32)),
                )),
                Int2 => Arc::new(Int16Array::from_iter(
                    int(i).into_iter().map(|v| v.map(|v| v as i16)),
                )),
                Float4 => Arc::new(Float32Array::from_iter(rows.iter().map(|r| match &r[i] {
                    V::Float(v) => Some(*v),
                    _ => None,
                }))),
                Text => Arc::new(StringArray::from_iter(rows.iter().map(|r| match &r[i] {
                    V::Text(v) => Some(v.as_str()),
                    _ => None,
                }))),
                Bool => Arc::new(BooleanArray::from_iter(rows.iter().map(|r| match &r[i] {
                    V::Bool(v) => Some(*v),
                    _ => None,
                }))),
                Array => new_null_array(&kind.data_type(), rows.len()),
            }
        })
        .collect();
    RecordBatch::try_new(schema, arrays)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_are_stable_and_distinct() {
        let names = vec!["a".to_string(), "b".to_string(), "metrics".to_string()];
        let oids = table_oids(&names, FIRST_TABLE_OID, i32::MAX as u32);
        assert_eq!(oids, table_oids(&names, FIRST_TABLE_OID, i32::MAX as u32));
        assert_eq!(
            oids[2],
            table_oids(&["metrics".to_string()], FIRST_TABLE_OID, i32::MAX as u32)[0]
        );
        // Colliding names take the next free oid.
        assert_eq!(table_oids(&names[..2], 100, 102).len(), 2);
        assert_ne!(
            table_oids(&names[..2], 100, 102)[0],
            table_oids(&names[..2], 100, 102)[1]
        );
        assert!(oids.iter().all(|o| *o >= i64::from(FIRST_TABLE_OID)));
        assert_eq!(oids.iter().collect::<HashSet<_>>().len(), 3);
    }

    #[test]
    fn types_are_named_as_postgres_names_them() {
        let types = pg_types();
        let oid = |ty: Type| i64::from(ty.oid());
        assert_eq!(
            format_type(&types, oid(Type::TIMESTAMP), Some(3)),
            "timestamp(3) without time zone"
        );
        assert_eq!(
            format_type(&types, oid(Type::FLOAT8), Some(-1)),
            "double precision"
        );
        assert_eq!(
            format_type(&types, oid(Type::NUMERIC), Some((10 << 16 | 2) + 4)),
            "numeric(10,2)"
        );
        assert_eq!(format_type(&types, 4242, None), "???");
        assert_eq!(typmod(&DataType::Timestamp(TimeUnit::Millisecond, None)), 3);
        assert_eq!(typmod(&DataType::Decimal128(10, 2)), (10 << 16 | 2) + 4);
    }
}
