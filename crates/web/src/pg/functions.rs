//! The functions of PostgreSQL's catalog that clients call (`format_type`,
//! `pg_table_is_visible`, `current_setting`, `quote_ident`, …), as DataFusion functions
//! answering from a catalog [`Snapshot`].

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListBuilder, StringArray, StringBuilder,
    new_null_array,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use super::auth::USER;
use super::catalog::{DATABASE, Snapshot, USER_OID, UTF8_ENCODING, format_type};
use super::handler::settings;

/// A function's body: its arguments (arrays of one length) and the number of rows, to the
/// array of its values.
type Body = Arc<dyn Fn(&[ArrayRef], usize) -> Result<ArrayRef> + Send + Sync>;

/// A catalog function.
struct PgFunction {
    name: &'static str,
    signature: Signature,
    returns: DataType,
    body: Body,
}

impl fmt::Debug for PgFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgFunction")
            .field("name", &self.name)
            .finish()
    }
}

impl PartialEq for PgFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for PgFunction {}

impl Hash for PgFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for PgFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { args.number_rows };
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let values = (self.body)(&arrays, rows)?;
        Ok(match scalar {
            true => ColumnarValue::Scalar(ScalarValue::try_from_array(&values, 0)?),
            false => ColumnarValue::Array(values),
        })
    }
}

/// A function of `arity` arguments (any of them).
fn function(
    name: &'static str,
    arity: &[usize],
    returns: DataType,
    body: impl Fn(&[ArrayRef], usize) -> Result<ArrayRef> + Send + Sync + 'static,
) -> ScalarUDF {
    let signature = match arity {
        [0] => Signature::nullary(Volatility::Immutable),
        [n] => Signature::any(*n, Volatility::Immutable),
        _ => Signature::one_of(
            arity.iter().map(|n| TypeSignature::Any(*n)).collect(),
            Volatility::Immutable,
        ),
    };
    ScalarUDF::new_from_impl(PgFunction {
        name,
        signature,
        returns,
        body: Arc::new(body),
    })
}

/// The values of `array` as integers.
fn ints(array: &ArrayRef) -> Result<Int64Array> {
    Ok(cast(array, &DataType::Int64)?.as_primitive().clone())
}

/// The values of `array` as text.
fn texts(array: &ArrayRef) -> Result<StringArray> {
    Ok(cast(array, &DataType::Utf8)?.as_string::<i32>().clone())
}

/// The same text on each of `rows` rows.
fn constant(text: &str, rows: usize) -> ArrayRef {
    Arc::new(StringArray::from(vec![text; rows]))
}

/// Text of each integer of the first argument, NULL for NULL.
fn map_int(args: &[ArrayRef], f: impl Fn(i64) -> Option<String>) -> Result<ArrayRef> {
    let values = ints(&args[0])?;
    Ok(Arc::new(StringArray::from_iter(
        values.iter().map(|v| v.and_then(&f)),
    )))
}

/// The integer of each text of the first argument, NULL for NULL.
fn map_text(args: &[ArrayRef], f: impl Fn(&str) -> Option<i64>) -> Result<ArrayRef> {
    let values = texts(&args[0])?;
    Ok(Arc::new(Int64Array::from_iter(
        values.iter().map(|v| v.and_then(&f)),
    )))
}

/// `text` as PostgreSQL's `quote_ident` writes it: as it is if it is a lower-case
/// identifier and not a reserved word, else in double quotes.
pub(super) fn quote_ident(text: &str) -> String {
    const RESERVED: &[&str] = &[
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "column",
        "constraint",
        "create",
        "current_date",
        "current_role",
        "current_time",
        "current_timestamp",
        "current_user",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "from",
        "grant",
        "group",
        "having",
        "in",
        "initially",
        "intersect",
        "into",
        "lateral",
        "leading",
        "limit",
        "localtime",
        "localtimestamp",
        "not",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "placing",
        "primary",
        "references",
        "returning",
        "select",
        "session_user",
        "some",
        "symmetric",
        "table",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "variadic",
        "when",
        "where",
        "window",
        "with",
    ];
    let plain = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && !RESERVED.contains(&text);
    match plain {
        true => text.to_string(),
        false => format!("\"{}\"", text.replace('"', "\"\"")),
    }
}

/// The parts of a qualified name, as PostgreSQL's `parse_ident` splits it: at dots outside
/// double quotes, unquoted parts lower-cased; `None` if it is not a name.
pub(super) fn parse_ident(text: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    '"' => break,
                    c => part.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == '.' || c.is_whitespace() {
                    break;
                }
                part.push(c.to_ascii_lowercase());
                chars.next();
            }
        }
        if part.is_empty() {
            return None;
        }
        parts.push(part);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => return Some(parts),
            Some('.') => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            Some(_) => return None,
        }
    }
}

/// A list of texts per row.
fn text_lists(lists: impl Iterator<Item = Option<Vec<String>>>) -> ArrayRef {
    let mut builder = ListBuilder::new(StringBuilder::new());
    for list in lists {
        match list {
            Some(items) => {
                for item in items {
                    builder.values().append_value(item);
                }
                builder.append(true);
            }
            None => builder.append(false),
        }
    }
    Arc::new(builder.finish())
}

/// The length of each array of the first argument in dimension 1 (the only one of Arrow
/// lists); `None` for NULL, an empty array or another dimension.
fn array_lengths(args: &[ArrayRef]) -> Result<Vec<Option<i64>>> {
    let dims = ints(&args[1])?;
    let lengths: Vec<Option<i64>> = match args[0].data_type() {
        DataType::List(_) => {
            let list = args[0].as_list::<i32>();
            (0..list.len())
                .map(|i| (!list.is_null(i)).then(|| list.value_length(i) as i64))
                .collect()
        }
        DataType::LargeList(_) => {
            let list = args[0].as_list::<i64>();
            (0..list.len())
                .map(|i| (!list.is_null(i)).then(|| list.value_length(i)))
                .collect()
        }
        DataType::FixedSizeList(_, n) => {
            let list = args[0].as_fixed_size_list();
            (0..list.len())
                .map(|i| (!list.is_null(i)).then_some(i64::from(*n)))
                .collect()
        }
        DataType::Null => vec![None; args[0].len()],
        other => return exec_err!("array_upper and array_lower take an array, not {other}"),
    };
    Ok(lengths
        .into_iter()
        .zip(dims.iter())
        .map(|(len, dim)| len.filter(|n| *n > 0 && dim == Some(1)))
        .collect())
}

/// A size as PostgreSQL's `pg_size_pretty` writes it: bytes below 10 kB, else kB, MB, GB,
/// TB or PB, rounded half up, each unit used below 20,479 of it.
pub(super) fn size_pretty(bytes: i64) -> String {
    // The units, the bits of each, whether it is rounded from halves, and its limit.
    const UNITS: [(&str, u32, bool, i64); 6] = [
        ("bytes", 0, false, 10 * 1024),
        ("kB", 10, true, 20 * 1024 - 1),
        ("MB", 20, true, 20 * 1024 - 1),
        ("GB", 30, true, 20 * 1024 - 1),
        ("TB", 40, true, 20 * 1024 - 1),
        ("PB", 50, true, i64::MAX),
    ];
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    let mut size = bytes;
    for (i, (name, bits, round, limit)) in UNITS.iter().enumerate() {
        if size.abs() < *limit || i == UNITS.len() - 1 {
            let size = if *round { half_rounded(size) } else { size };
            return format!("{size} {name}");
        }
        let (next_bits, next_round) = (UNITS[i + 1].1, UNITS[i + 1].2);
        let shift = next_bits - bits - u32::from(next_round) + u32::from(*round);
        size /= 1i64 << shift;
    }
    format!("{size} PB")
}

/// Whether the one user has the privilege `privilege` (a comma-separated list, any
/// matches): reading only.
fn may(privilege: &str) -> bool {
    privilege.split(',').any(|p| {
        matches!(
            p.trim().to_ascii_uppercase().as_str(),
            "SELECT" | "USAGE" | "CONNECT"
        )
    })
}

/// The catalog's functions over `snapshot`.
pub(super) fn functions(snapshot: &Arc<Snapshot>) -> Vec<ScalarUDF> {
    let visible = |name| {
        function(name, &[1], DataType::Boolean, |args, _| {
            Ok(Arc::new(BooleanArray::from_iter(
                ints(&args[0])?.iter().map(|v| v.map(|_| true)),
            )) as ArrayRef)
        })
    };
    let user = |name| {
        function(name, &[0], DataType::Utf8, |_, rows| {
            Ok(constant(USER, rows))
        })
    };
    let description = |name| {
        function(name, &[1, 2], DataType::Utf8, |args, rows| {
            Ok(new_null_array(
                &DataType::Utf8,
                args.first().map_or(rows, |a| a.len()),
            ))
        })
    };
    // has_*_privilege([user,] object, [column,] privilege).
    let privilege = |name| {
        function(name, &[2, 3, 4], DataType::Boolean, |args, _| {
            let privileges = texts(&args[args.len() - 1])?;
            Ok(Arc::new(BooleanArray::from_iter(
                privileges.iter().map(|p| p.map(may)),
            )) as ArrayRef)
        })
    };
    let mut out = vec![
        visible("pg_type_is_visible"),
        visible("pg_function_is_visible"),
        user("user"),
        user("current_user"),
        user("session_user"),
        function("pg_get_userbyid", &[1], DataType::Utf8, |args, _| {
            map_int(args, |oid| {
                Some(match oid == USER_OID {
                    true => USER.to_string(),
                    false => format!("unknown (OID={oid})"),
                })
            })
        }),
        // Every expression column of the catalog is NULL: there is nothing to decompile.
        function("pg_get_expr", &[2, 3], DataType::Utf8, |args, _| {
            Ok(Arc::new(texts(&args[0])?) as ArrayRef)
        }),
        function("pg_encoding_to_char", &[1], DataType::Utf8, |args, _| {
            map_int(args, |e| {
                Some(match e == UTF8_ENCODING {
                    true => "UTF8".to_string(),
                    false => String::new(),
                })
            })
        }),
        function("current_setting", &[1, 2], DataType::Utf8, |args, _| {
            let names = texts(&args[0])?;
            let missing_ok = match args.get(1) {
                Some(a) => cast(a, &DataType::Boolean)?.as_boolean().clone(),
                None => BooleanArray::from(vec![false; names.len()]),
            };
            let settings = settings();
            let mut values = Vec::with_capacity(names.len());
            for (i, name) in names.iter().enumerate() {
                let Some(name) = name else {
                    values.push(None);
                    continue;
                };
                let key = name.to_ascii_lowercase();
                match settings.iter().find(|(k, _)| *k == key) {
                    Some((_, v)) => values.push(Some(v.to_string())),
                    None if missing_ok.value(i) => values.push(None),
                    None => {
                        return exec_err!("unrecognized configuration parameter \"{name}\"");
                    }
                }
            }
            Ok(Arc::new(StringArray::from(values)) as ArrayRef)
        }),
        function("current_schema", &[0], DataType::Utf8, |_, rows| {
            Ok(constant("public", rows))
        }),
        function("current_database", &[0], DataType::Utf8, |_, rows| {
            Ok(constant(DATABASE, rows))
        }),
        function(
            "current_schemas",
            &[1],
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            |args, _| {
                let implicit = cast(&args[0], &DataType::Boolean)?;
                let implicit = implicit.as_boolean();
                Ok(text_lists(implicit.iter().map(|v| {
                    v.map(|with_catalog| {
                        let mut schemas = Vec::new();
                        if with_catalog {
                            schemas.push("pg_catalog".to_string());
                        }
                        schemas.push("public".to_string());
                        schemas
                    })
                })))
            },
        ),
        function("quote_ident", &[1], DataType::Utf8, |args, _| {
            Ok(Arc::new(StringArray::from_iter(
                texts(&args[0])?.iter().map(|v| v.map(quote_ident)),
            )) as ArrayRef)
        }),
        function(
            "parse_ident",
            &[1],
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            |args, _| {
                let names = texts(&args[0])?;
                let mut lists = Vec::with_capacity(names.len());
                for name in names.iter() {
                    lists.push(match name {
                        None => None,
                        Some(name) => match parse_ident(name) {
                            Some(parts) => Some(parts),
                            None => {
                                return exec_err!("string is not a valid identifier: \"{name}\"");
                            }
                        },
                    });
                }
                Ok(text_lists(lists.into_iter()))
            },
        ),
        // Nothing has a comment: pg_description is empty.
        description("obj_description"),
        description("col_description"),
        description("shobj_description"),
        privilege("has_table_privilege"),
        privilege("has_schema_privilege"),
        privilege("has_database_privilege"),
        privilege("has_column_privilege"),
        privilege("has_any_column_privilege"),
        function("pg_has_role", &[2, 3], DataType::Boolean, |args, _| {
            // The one user is a member of itself only.
            let roles = texts(&args[args.len() - 2])?;
            Ok(Arc::new(BooleanArray::from_iter(
                roles.iter().map(|r| r.map(|r| r == USER)),
            )) as ArrayRef)
        }),
        // The tablespaces are the default ones, in the data directory: no location.
        function("pg_tablespace_location", &[1], DataType::Utf8, |args, _| {
            map_int(args, |_| Some(String::new()))
        }),
        function("pg_size_pretty", &[1], DataType::Utf8, |args, _| {
            map_int(args, |bytes| Some(size_pretty(bytes)))
        }),
        function("array_lower", &[2], DataType::Int64, |args, _| {
            Ok(Arc::new(Int64Array::from_iter(
                array_lengths(args)?.into_iter().map(|n| n.map(|_| 1)),
            )) as ArrayRef)
        }),
        function("array_upper", &[2], DataType::Int64, |args, _| {
            Ok(Arc::new(Int64Array::from(array_lengths(args)?)) as ArrayRef)
        }),
    ];
    // A table is visible when its schema is on the search path (pg_catalog, public): not
    // information_schema's. NULL for no table.
    let s = Arc::clone(snapshot);
    out.push(function(
        "pg_table_is_visible",
        &[1],
        DataType::Boolean,
        move |args, _| {
            Ok(
                Arc::new(BooleanArray::from_iter(ints(&args[0])?.iter().map(|oid| {
                    oid.and_then(|oid| s.tables.iter().find(|t| t.oid == oid))
                        .map(|t| t.namespace.1 != "information_schema")
                }))) as ArrayRef,
            )
        },
    ));
    // Sizes on disk: a table's Parquet files and write-ahead log; NULL for another oid.
    for name in [
        "pg_table_size",
        "pg_relation_size",
        "pg_total_relation_size",
    ] {
        let s = Arc::clone(snapshot);
        out.push(function(name, &[1, 2], DataType::Int64, move |args, _| {
            Ok(
                Arc::new(Int64Array::from_iter(ints(&args[0])?.iter().map(|oid| {
                    oid.and_then(|oid| s.tables.iter().find(|t| t.oid == oid))
                        .map(|t| t.bytes as i64)
                }))) as ArrayRef,
            )
        }));
    }
    let s = Arc::clone(snapshot);
    out.push(function(
        "pg_database_size",
        &[1],
        DataType::Int64,
        move |args, rows| {
            let total: u64 = s.tables.iter().map(|t| t.bytes).sum();
            let rows = args.first().map_or(rows, |a| a.len());
            Ok(Arc::new(Int64Array::from(vec![total as i64; rows])) as ArrayRef)
        },
    ));
    let s = Arc::clone(snapshot);
    out.push(function(
        "format_type",
        &[2],
        DataType::Utf8,
        move |args, _| {
            let oids = ints(&args[0])?;
            let typmods = ints(&args[1])?;
            Ok(
                Arc::new(StringArray::from_iter(oids.iter().zip(typmods.iter()).map(
                    |(oid, typmod)| oid.map(|oid| format_type(&s.types, oid, typmod)),
                ))) as ArrayRef,
            )
        },
    ));
    // `oid::regclass` and the like: the object's name (its oid if there is none, as
    // PostgreSQL writes it); `'name'::regclass`: the oid of the object of that name.
    let s = Arc::clone(snapshot);
    out.push(function(
        "regclass_name",
        &[1],
        DataType::Utf8,
        move |args, _| {
            map_int(args, |oid| {
                // Qualified when its schema is not on the search path.
                Some(s.tables.iter().find(|t| t.oid == oid).map_or_else(
                    || oid.to_string(),
                    |t| match t.namespace.1 {
                        "information_schema" => {
                            format!("{}.{}", t.namespace.1, quote_ident(&t.name))
                        }
                        _ => quote_ident(&t.name),
                    },
                ))
            })
        },
    ));
    let s = Arc::clone(snapshot);
    out.push(function(
        "to_regclass",
        &[1],
        DataType::Int64,
        move |args, _| {
            map_text(args, |name| {
                let parts = parse_ident(name)?;
                // Unqualified: a table of the search path, pg_catalog and public.
                let (schema, table) = match parts.as_slice() {
                    [table] => (None, table),
                    [schema, table] => (Some(schema.as_str()), table),
                    _ => return None,
                };
                s.tables
                    .iter()
                    .find(|t| {
                        &t.name == table
                            && match schema {
                                Some(schema) => t.namespace.1 == schema,
                                None => t.namespace.1 != "information_schema",
                            }
                    })
                    .map(|t| t.oid)
            })
        },
    ));
    let s = Arc::clone(snapshot);
    out.push(function(
        "regtype_name",
        &[1],
        DataType::Utf8,
        move |args, _| {
            map_int(args, |oid| {
                Some(
                    s.types
                        .iter()
                        .find(|t| i64::from(t.ty.oid()) == oid)
                        .map_or_else(|| oid.to_string(), |t| t.display.to_string()),
                )
            })
        },
    ));
    let s = Arc::clone(snapshot);
    out.push(function(
        "to_regtype",
        &[1],
        DataType::Int64,
        move |args, _| {
            map_text(args, |name| {
                let name = name.trim().to_ascii_lowercase();
                s.types
                    .iter()
                    .find(|t| t.ty.name() == name || t.display == name)
                    .map(|t| i64::from(t.ty.oid()))
            })
        },
    ));
    out.push(function(
        "regnamespace_name",
        &[1],
        DataType::Utf8,
        |args, _| {
            map_int(args, |oid| {
                Some(
                    Snapshot::namespaces()
                        .iter()
                        .find(|(o, _)| *o == oid)
                        .map_or_else(|| oid.to_string(), |(_, n)| n.to_string()),
                )
            })
        },
    ));
    out.push(function(
        "to_regnamespace",
        &[1],
        DataType::Int64,
        |args, _| {
            map_text(args, |name| {
                let name = parse_ident(name)?.join(".");
                Snapshot::namespaces()
                    .iter()
                    .find(|(_, n)| *n == name)
                    .map(|(o, _)| *o)
            })
        },
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_parsed_as_postgres_does() {
        assert_eq!(quote_ident("metrics"), "metrics");
        assert_eq!(quote_ident("Metrics"), "\"Metrics\"");
        assert_eq!(quote_ident("my-table"), "\"my-table\"");
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(parse_ident("metrics").unwrap(), ["metrics"]);
        assert_eq!(
            parse_ident("Public.\"My.Table\"").unwrap(),
            ["public", "My.Table"]
        );
        assert!(parse_ident("a..b").is_none());
        assert!(parse_ident("\"open").is_none());
    }

    #[test]
    fn sizes_are_written_as_postgres_writes_them() {
        // As PostgreSQL 15's pg_size_pretty writes them.
        assert_eq!(size_pretty(0), "0 bytes");
        assert_eq!(size_pretty(10 * 1024 - 1), "10239 bytes");
        assert_eq!(size_pretty(10 * 1024), "10 kB");
        assert_eq!(size_pretty(1_000_000), "977 kB");
        assert_eq!(size_pretty(123_456_789), "118 MB");
        assert_eq!(size_pretty(-123_456_789), "-118 MB");
        assert_eq!(size_pretty(20 * 1024 * 1024 * 1024), "20 GB");
        assert!(may("SELECT") && may("usage, create") && !may("INSERT"));
    }
}
