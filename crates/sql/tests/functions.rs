//! Flink's built-in scalar functions on the planner's DataFusion session: expected values are
//! the examples of Flink's "System (Built-in) Functions" documentation (session time zone
//! UTC), Flink's NULL and edge-case behaviour, and planning errors for wrong arguments.
//!
//! Queries are parsed with Flink's dialect and [`functions::rewrite`], and run without
//! DataFusion's logical optimizer, as Spate's planner runs them: nothing is folded into a
//! constant before the functions themselves evaluate it.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::MemTable;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::parser::Parser;
use spate_sql::FlinkDialect;
use spate_sql::functions;

/// A session like the planner's (case-sensitive names, Flink functions), without logical
/// optimization, with a table `t`:
///
/// | s | n | ts |
/// |---|---|---|
/// | `Jack,John,Mary` | 0 | 1994-09-27 13:14:15.123 |
/// | `a,,b` | 2 | NULL |
/// | NULL | NULL | 2003-01-02 10:00:00 |
fn session() -> SessionContext {
    let mut config = SessionConfig::new();
    config.options_mut().sql_parser.enable_ident_normalization = false;
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_optimizer_rules(Vec::new())
        .build();
    let ctx = SessionContext::new_with_state(state);
    functions::register(&ctx);
    let schema = Arc::new(Schema::new(vec![
        Field::new("s", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from(vec![
                Some("Jack,John,Mary"),
                Some("a,,b"),
                None,
            ])),
            Arc::new(Int64Array::from(vec![Some(0), Some(2), None])),
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(780_671_655_123),
                None,
                Some(1_041_501_600_000),
            ])),
        ],
    )
    .unwrap();
    ctx.register_table(
        "t",
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()),
    )
    .unwrap();
    ctx
}

/// Runs `sql`; the first column of its rows as text (`NULL` for nulls), or the error.
fn run(sql: &str) -> Result<Vec<String>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ctx = session();
        let mut statement = Parser::new(&FlinkDialect)
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_statement())
            .map_err(|e| e.to_string())?;
        functions::rewrite(&mut statement);
        let plan = ctx
            .state()
            .statement_to_plan(DFStatement::Statement(Box::new(statement)))
            .await
            .map_err(|e| e.strip_backtrace())?;
        let batches = ctx
            .execute_logical_plan(plan)
            .await
            .map_err(|e| e.strip_backtrace())?
            .collect()
            .await
            .map_err(|e| e.strip_backtrace())?;
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for batch in batches {
            let column: &ArrayRef = batch.column(0);
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options).unwrap();
            rows.extend((0..batch.num_rows()).map(|i| formatter.value(i).to_string()));
        }
        Ok(rows)
    })
}

/// The value of `expr` (without a FROM clause).
fn eval(expr: &str) -> String {
    let rows = run(&format!("SELECT {expr}")).unwrap_or_else(|e| panic!("{expr}: {e}"));
    assert_eq!(rows.len(), 1, "{expr}");
    rows.into_iter().next().unwrap()
}

/// The values of `expr` over the rows of `t`.
fn eval_t(expr: &str) -> Vec<String> {
    run(&format!("SELECT {expr} FROM t")).unwrap_or_else(|e| panic!("{expr}: {e}"))
}

/// The type of `expr`'s value.
fn type_of(expr: &str) -> String {
    eval(&format!("arrow_typeof({expr})"))
}

/// The planning error of `expr`, which must mention every one of `words`.
fn error(expr: &str, words: &[&str]) {
    let error = match run(&format!("SELECT {expr} FROM t")) {
        Ok(rows) => panic!("{expr} should fail, gave {rows:?}"),
        Err(e) => e,
    };
    for word in words {
        assert!(
            error.contains(word),
            "{expr}: '{error}' should mention '{word}'"
        );
    }
}

#[test]
fn string_functions_datafusion_already_has() {
    assert_eq!(eval("CHAR_LENGTH('hello')"), "5");
    assert_eq!(eval("CHARACTER_LENGTH('héllo')"), "5");
    assert_eq!(eval("UPPER('hello')"), "HELLO");
    assert_eq!(eval("LOWER('HeLLo')"), "hello");
    assert_eq!(
        eval("INITCAP('hello wORLD-foo bar_baz')"),
        "Hello World-Foo Bar_Baz"
    );
    assert_eq!(eval("POSITION('b' IN 'abc')"), "2");
    assert_eq!(eval("POSITION('x' IN 'abc')"), "0");
    assert_eq!(eval("INSTR('hello', 'l')"), "3");
    assert_eq!(
        eval("REPEAT('This is a test String.', 2)"),
        "This is a test String.This is a test String."
    );
    assert_eq!(eval("REPEAT('x', -1)"), "");
    assert_eq!(eval("REVERSE('hello')"), "olleh");
    assert_eq!(
        eval("REPLACE('hello world', 'world', 'flink')"),
        "hello flink"
    );
    assert_eq!(eval("REPLACE('ababab', 'abab', 'z')"), "zab");
    assert_eq!(
        eval("CONCAT_WS('~', 'AA', CAST(NULL AS STRING), 'BB', '', 'CC')"),
        "AA~BB~~CC"
    );
    assert_eq!(eval("CONCAT_WS(CAST(NULL AS STRING), 'AA', 'BB')"), "NULL");
    assert_eq!(eval("TRIM('  hi  ')"), "hi");
    assert_eq!(eval("TRIM(BOTH 'x' FROM 'xxhixx')"), "hi");
    assert_eq!(eval("TRIM(LEADING 'x' FROM 'xxhixx')"), "hixx");
    assert_eq!(eval("TRIM(TRAILING 'x' FROM 'xxhixx')"), "xxhi");
    assert_eq!(
        eval("LTRIM(' This is a test String.')"),
        "This is a test String."
    );
    assert_eq!(
        eval("RTRIM('This is a test String. ')"),
        "This is a test String."
    );
    assert_eq!(eval("'ab' || 'cd'"), "abcd");
    assert_eq!(eval("'ab' || CAST(NULL AS STRING)"), "NULL");
    assert_eq!(eval_t("CHAR_LENGTH(s)"), ["14", "4", "NULL"]);
}

#[test]
fn substring_counts_from_one_and_from_the_end() {
    assert_eq!(eval("SUBSTRING('hello' FROM 2 FOR 3)"), "ell");
    assert_eq!(eval("SUBSTRING('hello' FROM 2)"), "ello");
    assert_eq!(eval("SUBSTR('hello', 2, 3)"), "ell");
    assert_eq!(eval("SUBSTRING('hello', 0, 2)"), "he");
    assert_eq!(eval("SUBSTR('hello', -3, 2)"), "ll");
    assert_eq!(eval("SUBSTR('hello', -3)"), "llo");
    assert_eq!(eval("SUBSTR('hello', -9, 2)"), "");
    assert_eq!(eval("SUBSTR('hello', 10)"), "");
    assert_eq!(eval("SUBSTR('hello', 2, -1)"), "NULL");
    assert_eq!(eval("SUBSTR('héllo', 2, 2)"), "él");
    assert_eq!(eval_t("SUBSTR(s, n + 1, 3)"), ["Jac", ",b", "NULL"]);
}

#[test]
fn string_functions_with_flink_semantics() {
    assert_eq!(eval("CONCAT('AA', 'BB', 'CC')"), "AABBCC");
    assert_eq!(eval("CONCAT('AA', CAST(NULL AS STRING), 'CC')"), "NULL");
    assert_eq!(eval("LEFT('hello', 2)"), "he");
    assert_eq!(eval("LEFT('hello', -1)"), "");
    assert_eq!(eval("LEFT('hi', 5)"), "hi");
    assert_eq!(eval("RIGHT('hello', 2)"), "lo");
    assert_eq!(eval("RIGHT('hello', -1)"), "");
    assert_eq!(eval("RIGHT(CAST(NULL AS STRING), 1)"), "NULL");
    assert_eq!(eval("LPAD('hi', 4, '??')"), "??hi");
    assert_eq!(eval("LPAD('hi', 1, '??')"), "h");
    assert_eq!(eval("RPAD('hi', 4, '??')"), "hi??");
    assert_eq!(eval("RPAD('hi', 1, '??')"), "h");
    assert_eq!(eval("LPAD('hi', -1, '?')"), "NULL");
    assert_eq!(eval("LOCATE('bar', 'foobarbar')"), "4");
    assert_eq!(eval("LOCATE('bar', 'foobarbar', 5)"), "7");
    assert_eq!(eval("LOCATE('baz', 'foobarbar')"), "0");
    assert_eq!(eval("LOCATE('é', 'aébé', 3)"), "4");
    assert_eq!(eval("LOCATE(CAST(NULL AS STRING), 'a')"), "NULL");
    assert_eq!(eval("LOCATE('', 'abc', 2)"), "1");
    assert_eq!(eval("LOCATE('a', 'abca', 0)"), "1");
    assert_eq!(eval("LOCATE('a', 'abca', 9)"), "0");
    assert_eq!(
        eval("OVERLAY('xxxxxtest' PLACING 'xxxx' FROM 6)"),
        "xxxxxxxxx"
    );
    assert_eq!(
        eval("OVERLAY('xxxxxtest' PLACING 'xxxx' FROM 6 FOR 2)"),
        "xxxxxxxxxst"
    );
    assert_eq!(eval("OVERLAY('abc' PLACING 'x' FROM 5)"), "abc");
    assert_eq!(eval("OVERLAY('abc' PLACING 'x' FROM 0)"), "abc");
    assert_eq!(eval("OVERLAY('héllo' PLACING 'E' FROM 2 FOR 1)"), "hEllo");
    assert_eq!(eval("CHR(97)"), "a");
    assert_eq!(eval("CHR(353)"), "a");
    assert_eq!(eval("CHR(-1)"), "");
    assert_eq!(eval("SPLIT_INDEX('Jack,John,Mary', ',', 2)"), "Mary");
    assert_eq!(eval("SPLIT_INDEX('Jack,John,Mary', ',', 3)"), "NULL");
    assert_eq!(eval("SPLIT_INDEX('Jack,John,Mary', ',', -1)"), "NULL");
    assert_eq!(eval("SPLIT_INDEX('a--b--c', '--', 1)"), "b");
    assert_eq!(
        eval("SPLIT_INDEX('Jack,John,Mary', CAST(NULL AS STRING), 0)"),
        "NULL"
    );
    assert_eq!(eval_t("SPLIT_INDEX(s, ',', n)"), ["Jack", "b", "NULL"]);
    assert_eq!(eval_t("SPLIT_INDEX(s, ',', 1)"), ["John", "", "NULL"]);
}

#[test]
fn regular_expressions() {
    assert_eq!(
        eval("REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 2)"),
        "bar"
    );
    assert_eq!(
        eval("REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 1)"),
        "the"
    );
    assert_eq!(
        eval("REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 0)"),
        "foothebar"
    );
    // Without a group index Flink extracts group 0, the whole match.
    assert_eq!(eval("REGEXP_EXTRACT('foothebar', 'o+t')"), "oot");
    assert_eq!(
        eval("REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 3)"),
        "NULL"
    );
    assert_eq!(eval("REGEXP_EXTRACT('foothebar', 'x(y)', 1)"), "NULL");
    assert_eq!(eval("REGEXP_EXTRACT('ab', 'a(x)?b', 1)"), "NULL");
    assert_eq!(eval("REGEXP_EXTRACT(CAST(NULL AS STRING), 'a')"), "NULL");
    assert_eq!(eval("REGEXP_REPLACE('foobar', 'oo|ar', '')"), "fb");
    assert_eq!(eval("REGEXP_REPLACE('a1b22c', '[0-9]+', '#')"), "a#b#c");
    // The replacement is literal, as Flink quotes it.
    assert_eq!(eval("REGEXP_REPLACE('ab', '(a)', '$1$1')"), "$1$1b");
    assert_eq!(eval("REGEXP('abc', 'b')"), "true");
    assert_eq!(eval("REGEXP('abc', '^b')"), "false");
    assert_eq!(eval("REGEXP('abc', '')"), "false");
    assert_eq!(
        eval_t("REGEXP('x', CONCAT(s, '('))"),
        ["false", "false", "NULL"]
    );
    assert_eq!(
        eval_t("REGEXP_EXTRACT(s, '([a-z]+),', 1)"),
        ["ack", "a", "NULL"]
    );
    // A pattern from data that does not compile gives NULL, as in Flink.
    assert_eq!(
        eval_t("REGEXP_REPLACE('x', CONCAT(s, '('), 'y')"),
        ["NULL", "NULL", "NULL"]
    );
}

#[test]
fn conditional_functions() {
    assert_eq!(eval("IFNULL(CAST(NULL AS INT), 5)"), "5");
    assert_eq!(eval("IFNULL(3, 5)"), "3");
    assert_eq!(eval("NULLIF(5, 5)"), "NULL");
    assert_eq!(eval("NULLIF(5, 0)"), "5");
    assert_eq!(eval("COALESCE(CAST(NULL AS STRING), 'default')"), "default");
    assert_eq!(
        eval_t("COALESCE(s, 'default')"),
        ["Jack,John,Mary", "a,,b", "default"]
    );
    assert_eq!(eval("GREATEST(1, 3, 2)"), "3");
    assert_eq!(eval("LEAST(1, 3, 2)"), "1");
    assert_eq!(eval("IF(5 > 3, 5, 3)"), "5");
}

#[test]
fn json_functions() {
    assert_eq!(eval(r#"JSON_VALUE('{"a": true}', '$.a')"#), "true");
    assert_eq!(
        eval(r#"JSON_VALUE('{"a": true}', '$.a' RETURNING BOOLEAN)"#),
        "true"
    );
    assert_eq!(
        type_of(r#"JSON_VALUE('{"a": true}', '$.a' RETURNING BOOLEAN)"#),
        "Boolean"
    );
    assert_eq!(eval(r#"JSON_VALUE('{"a": true}', 'lax $.b')"#), "NULL");
    assert_eq!(eval(r#"JSON_VALUE('{"a": true}', 'strict $.b')"#), "NULL");
    assert_eq!(
        eval(r#"JSON_VALUE('{"a.b": [0.998,0.996]}', '$.["a.b"][0]' RETURNING DOUBLE)"#),
        "0.998"
    );
    assert_eq!(
        eval(r#"JSON_VALUE('{"contains blank": "right"}', 'strict $.[''contains blank'']')"#),
        "right"
    );
    assert_eq!(
        eval(r#"JSON_VALUE('{"a": {"b": [1, 2]}}', '$.a.b[1]')"#),
        "2"
    );
    assert_eq!(eval(r#"JSON_VALUE('{"a": {"b": 1}}', '$.a')"#), "NULL");
    assert_eq!(eval(r#"JSON_VALUE('{"a": null}', '$.a')"#), "NULL");
    assert_eq!(
        eval(r#"JSON_VALUE('{"a": "x"}', '$.a' RETURNING INTEGER)"#),
        "NULL"
    );
    assert_eq!(
        eval(r#"JSON_VALUE('{"a": 42}', '$.a' RETURNING INTEGER)"#),
        "42"
    );
    assert_eq!(eval("JSON_VALUE('not json', '$.a')"), "NULL");
    assert_eq!(eval("JSON_VALUE(CAST(NULL AS STRING), '$.a')"), "NULL");
    assert_eq!(eval(r#"JSON_EXISTS('{"a": true}', '$.a')"#), "true");
    assert_eq!(eval(r#"JSON_EXISTS('{"a": true}', '$.b')"#), "false");
    assert_eq!(
        eval(r#"JSON_EXISTS('{"a": [{ "b": 1 }]}', '$.a[0].b')"#),
        "true"
    );
    assert_eq!(eval(r#"JSON_EXISTS('{"a": true}', 'strict $.b')"#), "false");
    assert_eq!(eval(r#"JSON_EXISTS('{"a": null}', '$.a')"#), "true");
    assert_eq!(eval("JSON_EXISTS('not json', '$')"), "false");
    assert_eq!(eval("JSON_EXISTS(CAST(NULL AS STRING), '$')"), "NULL");
    assert_eq!(
        eval_t(r#"JSON_VALUE(CONCAT('{"n": ', CAST(n AS STRING), '}'), '$.n')"#),
        ["0", "2", "NULL"]
    );
}

#[test]
fn math_functions() {
    assert_eq!(eval("LOG(1)"), "0.0");
    assert_eq!(eval("ROUND(LOG(EXP(2)), 10)"), "2.0");
    assert_eq!(eval("LOG(2, 8)"), "3.0");
    assert_eq!(eval("LOG10(100)"), "2.0");
    assert_eq!(eval("LOG2(8)"), "3.0");
    assert_eq!(eval("LN(1)"), "0.0");
    assert_eq!(eval("POWER(2, 3)"), "8.0");
    assert_eq!(eval("ABS(-2)"), "2");
    assert_eq!(eval("SQRT(16)"), "4.0");
    assert_eq!(eval("ROUND(2.5)"), "3.0");
    assert_eq!(eval("ROUND(3.14159, 2)"), "3.14");
    assert_eq!(eval("BIN(4)"), "100");
    assert_eq!(eval("BIN(12)"), "1100");
    assert_eq!(eval("BIN(CAST(NULL AS INT))"), "NULL");
    assert_eq!(eval("HEX(20)"), "14");
    assert_eq!(eval("HEX(100)"), "64");
    assert_eq!(eval("HEX(-1)"), "FFFFFFFFFFFFFFFF");
    assert_eq!(eval("HEX('hello,world')"), "68656C6C6F2C776F726C64");
    assert_eq!(eval("TRUNCATE(42.324, 2)"), "42.32");
    assert_eq!(eval("TRUNCATE(42.324)"), "42.0");
    assert_eq!(eval("TRUNCATE(-42.329, 2)"), "-42.32");
    assert_eq!(eval("TRUNCATE(1234, -2)"), "1200");
    assert_eq!(eval("TRUNCATE(CAST(42.324 AS DECIMAL(10, 3)), 1)"), "42.3");
    assert_eq!(
        type_of("TRUNCATE(CAST(42.324 AS DECIMAL(10, 3)), 1)"),
        "Decimal128(9, 1)"
    );
    assert_eq!(
        eval("TRUNCATE(CAST(-1234.5 AS DECIMAL(6, 1)), -2)"),
        "-1200"
    );
    assert_eq!(eval("TRUNCATE(CAST(42.3 AS DECIMAL(6, 1)), 3)"), "42.3");
    assert_eq!(eval("TRUNCATE(CAST(NULL AS DOUBLE), 1)"), "NULL");
    assert_eq!(eval("SIGN(-5)"), "-1");
    assert_eq!(eval("SIGN(2.5)"), "1.0");
    assert_eq!(eval("SIGN(0)"), "0");
    assert_eq!(eval("E()"), std::f64::consts::E.to_string());
    assert_eq!(eval("PI()"), std::f64::consts::PI.to_string());
    assert_eq!(eval("MOD(-7, 3)"), "-1");
    assert_eq!(eval("MOD(7, -3)"), "1");
    assert_eq!(eval("MOD(7.5, 2)"), "1.5");
    assert_eq!(eval("CHAR_LENGTH(UUID())"), "36");
}

#[test]
fn random_numbers_follow_javas_generator() {
    // java.util.Random(42): nextDouble() and nextInt(10) as Flink draws them.
    assert_eq!(eval("RAND(42)"), "0.7275636800328681");
    assert_eq!(eval_t("RAND_INTEGER(42, 10)"), ["0", "3", "8"]);
    for v in eval_t("RAND()") {
        let v: f64 = v.parse().unwrap();
        assert!((0.0..1.0).contains(&v));
    }
    for v in eval_t("RAND_INTEGER(5)") {
        let v: i32 = v.parse().unwrap();
        assert!((0..5).contains(&v));
    }
    assert!(
        run("SELECT RAND_INTEGER(0)")
            .unwrap_err()
            .contains("RAND_INTEGER")
    );
}

#[test]
fn hash_functions_return_lower_case_hex() {
    assert_eq!(eval("MD5('hello')"), "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(
        eval("SHA1('hello')"),
        "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
    );
    assert_eq!(
        eval("SHA224('hello')"),
        "ea09ae9cc6768c50fcee903ed054556e5bfc8347907f12598aa24193"
    );
    let sha256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    assert_eq!(eval("SHA256('hello')"), sha256);
    assert_eq!(eval("SHA2('hello', 256)"), sha256);
    assert_eq!(
        eval("SHA384('hello')"),
        "59e1748777448c69de6b800d7a33bbfb9ff1b463e44354c3553bcdb9c666fa90125a3c79f90397bdf5f6a13de828684f"
    );
    assert_eq!(
        eval("SHA512('hello')"),
        "9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043"
    );
    assert_eq!(eval("SHA1(CAST(NULL AS STRING))"), "NULL");
    assert_eq!(eval("MD5(CAST(NULL AS STRING))"), "NULL");
    assert_eq!(eval("SHA2('hello', CAST(NULL AS INT))"), "NULL");
    assert_eq!(type_of("SHA256('hello')"), "Utf8");
}

#[test]
fn formatting_and_parsing_times() {
    assert_eq!(
        eval("DATE_FORMAT(TIMESTAMP '1994-09-27 13:14:15.123', 'yyyy-MM-dd HH:mm:ss')"),
        "1994-09-27 13:14:15"
    );
    assert_eq!(
        eval("DATE_FORMAT(TIMESTAMP '1994-09-27 13:14:15.123', 'EEE, d MMM yy hh:mm:ss.SSS a')"),
        "Tue, 27 Sep 94 01:14:15.123 PM"
    );
    assert_eq!(
        eval("DATE_FORMAT(DATE '1994-09-27', 'yyyy/MM/dd')"),
        "1994/09/27"
    );
    assert_eq!(
        eval("DATE_FORMAT('1994-09-27 13:14:15', 'HH''h''mm')"),
        "13h14"
    );
    assert_eq!(eval("DATE_FORMAT('not a time', 'yyyy')"), "NULL");
    assert_eq!(
        eval_t("DATE_FORMAT(ts, 'yyyyMMdd')"),
        ["19940927", "NULL", "20030102"]
    );
    assert_eq!(
        eval("DATE_FORMAT(TO_TIMESTAMP_LTZ(44000, 3), 'yyyy-MM-dd HH:mm:ss XXX')"),
        "1970-01-01 00:00:44 Z"
    );

    assert_eq!(
        eval("TO_TIMESTAMP('2023-01-05 10:00:00')"),
        "2023-01-05T10:00:00"
    );
    assert_eq!(
        eval("TO_TIMESTAMP('2023-1-5 7:08:09.25')"),
        "2023-01-05T07:08:09.250"
    );
    assert_eq!(eval("TO_TIMESTAMP('2023-01-05')"), "2023-01-05T00:00:00");
    assert_eq!(
        eval("TO_TIMESTAMP('05/01/2023 10:00', 'dd/MM/yyyy HH:mm')"),
        "2023-01-05T10:00:00"
    );
    assert_eq!(eval("TO_TIMESTAMP('2023-13-05 10:00:00')"), "NULL");
    assert_eq!(eval("TO_TIMESTAMP('garbage', 'yyyy')"), "NULL");
    assert_eq!(
        type_of("TO_TIMESTAMP('2023-01-05 10:00:00')"),
        "Timestamp(ms)"
    );

    assert_eq!(eval("TO_DATE('2023-01-05')"), "2023-01-05");
    assert_eq!(eval("TO_DATE('20230105', 'yyyyMMdd')"), "2023-01-05");
    assert_eq!(eval("TO_DATE('2023-01-05 10:00:00')"), "NULL");

    assert_eq!(eval("FROM_UNIXTIME(44)"), "1970-01-01 00:00:44");
    assert_eq!(
        eval("FROM_UNIXTIME(44, 'yyyy/MM/dd HH:mm')"),
        "1970/01/01 00:00"
    );
    assert_eq!(eval("FROM_UNIXTIME(CAST(NULL AS BIGINT))"), "NULL");

    assert_eq!(
        eval("UNIX_TIMESTAMP('1970-01-01 08:00:01.001', 'yyyy-MM-dd HH:mm:ss.SSS')"),
        "28801"
    );
    assert_eq!(
        eval("UNIX_TIMESTAMP('1970-01-01 08:00:01.001 +0800', 'yyyy-MM-dd HH:mm:ss.SSS X')"),
        "1"
    );
    assert_eq!(
        eval("UNIX_TIMESTAMP('1970-01-01 08:00:01.001 +0800', 'yyyy-MM-dd HH:mm:ss.SSS')"),
        "28801"
    );
    assert_eq!(
        eval("UNIX_TIMESTAMP('1970-01-01 08:00:01.001', 'yyyy-MM-dd HH:mm:ss.SSS X')"),
        i64::MIN.to_string()
    );
    assert_eq!(eval("UNIX_TIMESTAMP('1970-01-01 00:01:00')"), "60");
    assert_eq!(eval("UNIX_TIMESTAMP(CAST(NULL AS STRING))"), "NULL");

    assert_eq!(eval("TO_TIMESTAMP_LTZ(1000, 0)"), "1970-01-01T00:16:40Z");
    assert_eq!(eval("TO_TIMESTAMP_LTZ(1500)"), "1970-01-01T00:00:01.500Z");
    assert_eq!(eval("TO_TIMESTAMP_LTZ(1.5, 0)"), "1970-01-01T00:00:01.500Z");
    assert_eq!(type_of("TO_TIMESTAMP_LTZ(0, 3)"), "Timestamp(ms, \"UTC\")");
}

#[test]
fn time_arithmetic() {
    assert_eq!(
        eval("TIMESTAMPADD(WEEK, 1, DATE '2003-01-02')"),
        "2003-01-09"
    );
    assert_eq!(
        eval("TIMESTAMPADD(HOUR, 3, TIMESTAMP '2003-01-02 22:00:00')"),
        "2003-01-03T01:00:00"
    );
    assert_eq!(
        eval("TIMESTAMPADD(MONTH, 1, TIMESTAMP '2003-01-31 10:00:00')"),
        "2003-02-28T10:00:00"
    );
    assert_eq!(
        eval("TIMESTAMPADD(YEAR, -1, DATE '2004-02-29')"),
        "2003-02-28"
    );
    assert_eq!(
        eval("TIMESTAMPADD(HOUR, 1, DATE '2003-01-02')"),
        "2003-01-02T01:00:00"
    );
    assert_eq!(
        eval_t("TIMESTAMPADD(MINUTE, 30, ts)"),
        ["1994-09-27T13:44:15.123", "NULL", "2003-01-02T10:30:00"]
    );
    assert_eq!(
        eval(
            "TIMESTAMPDIFF(DAY, TIMESTAMP '2003-01-02 10:00:00', TIMESTAMP '2003-01-03 10:00:00')"
        ),
        "1"
    );
    assert_eq!(
        eval(
            "TIMESTAMPDIFF(DAY, TIMESTAMP '2003-01-02 10:00:00', TIMESTAMP '2003-01-03 09:00:00')"
        ),
        "0"
    );
    assert_eq!(
        eval(
            "TIMESTAMPDIFF(HOUR, TIMESTAMP '2003-01-03 10:00:00', TIMESTAMP '2003-01-02 09:30:00')"
        ),
        "-24"
    );
    assert_eq!(
        eval(
            "TIMESTAMPDIFF(MONTH, TIMESTAMP '2003-01-31 10:00:00', TIMESTAMP '2003-02-28 10:00:00')"
        ),
        "1"
    );
    assert_eq!(
        eval("TIMESTAMPDIFF(YEAR, DATE '2000-02-29', DATE '2004-02-28')"),
        "3"
    );
    assert_eq!(
        eval("TIMESTAMPDIFF(QUARTER, DATE '2000-01-01', DATE '2000-12-31')"),
        "3"
    );
    assert_eq!(
        eval_t("TIMESTAMPDIFF(SECOND, ts, TIMESTAMP '2003-01-02 10:00:01')"),
        ["260829945", "NULL", "1"]
    );
    assert_eq!(
        type_of("TIMESTAMPDIFF(DAY, DATE '2000-01-01', DATE '2000-01-02')"),
        "Int32"
    );
}

#[test]
fn extracting_and_rounding_times() {
    assert_eq!(eval("EXTRACT(DAY FROM DATE '2006-06-05')"), "5");
    assert_eq!(eval("YEAR(DATE '1994-09-27')"), "1994");
    assert_eq!(eval("QUARTER(DATE '1994-09-27')"), "3");
    assert_eq!(eval("MONTH(DATE '1994-09-27')"), "9");
    assert_eq!(eval("WEEK(DATE '1994-09-27')"), "39");
    assert_eq!(eval("DAYOFYEAR(DATE '1994-09-27')"), "270");
    assert_eq!(eval("DAYOFMONTH(DATE '1994-09-27')"), "27");
    assert_eq!(eval("DAYOFWEEK(DATE '1994-09-27')"), "3");
    assert_eq!(eval("HOUR(TIMESTAMP '1994-09-27 13:14:15')"), "13");
    assert_eq!(eval("MINUTE(TIMESTAMP '1994-09-27 13:14:15')"), "14");
    assert_eq!(eval("SECOND(TIMESTAMP '1994-09-27 13:14:15')"), "15");
    assert_eq!(eval("EXTRACT(DOW FROM DATE '1994-09-27')"), "3");
    assert_eq!(eval("EXTRACT(DOY FROM DATE '1994-09-27')"), "270");
    assert_eq!(
        eval("EXTRACT(MILLISECOND FROM TIMESTAMP '1994-09-27 13:14:15.123')"),
        "15123"
    );
    assert_eq!(
        eval("EXTRACT(EPOCH FROM TIMESTAMP '1970-01-02 00:00:01')"),
        "86401"
    );
    assert_eq!(eval("EXTRACT(HOUR FROM TIME '12:44:31')"), "12");
    assert_eq!(type_of("EXTRACT(YEAR FROM DATE '1994-09-27')"), "Int64");
    assert_eq!(eval_t("HOUR(ts)"), ["13", "NULL", "10"]);
    assert_eq!(eval_t("EXTRACT(MONTH FROM ts)"), ["9", "NULL", "1"]);

    assert_eq!(eval("FLOOR(TIME '12:44:31' TO MINUTE)"), "12:44:00");
    assert_eq!(eval("CEIL(TIME '12:44:31' TO MINUTE)"), "12:45:00");
    assert_eq!(
        eval("FLOOR(TIMESTAMP '1994-09-27 13:14:15' TO DAY)"),
        "1994-09-27T00:00:00"
    );
    assert_eq!(
        eval("CEIL(TIMESTAMP '1994-09-27 13:14:15' TO DAY)"),
        "1994-09-28T00:00:00"
    );
    assert_eq!(
        eval("CEIL(TIMESTAMP '1994-09-27 00:00:00' TO DAY)"),
        "1994-09-27T00:00:00"
    );
    assert_eq!(
        eval("FLOOR(TIMESTAMP '1994-09-27 13:14:15' TO MONTH)"),
        "1994-09-01T00:00:00"
    );
    assert_eq!(eval("CEIL(DATE '1994-09-27' TO YEAR)"), "1995-01-01");
    assert_eq!(eval("FLOOR(DATE '1994-09-27' TO WEEK)"), "1994-09-25");
    assert_eq!(
        eval_t("FLOOR(ts TO HOUR)"),
        ["1994-09-27T13:00:00", "NULL", "2003-01-02T10:00:00"]
    );
    assert_eq!(eval("FLOOR(2.5)"), "2.0");
    assert_eq!(eval("CEIL(2.5)"), "3.0");
}

#[test]
fn clock_functions_evaluate_at_run_time() {
    let now = chrono::Utc::now().timestamp();
    let unix: i64 = eval("UNIX_TIMESTAMP()").parse().unwrap();
    assert!((unix - now).abs() <= 5, "{unix} vs {now}");
    for (expr, t) in [
        ("NOW()", "Timestamp(ms, \"UTC\")"),
        ("CURRENT_TIMESTAMP", "Timestamp(ms, \"UTC\")"),
        ("CURRENT_ROW_TIMESTAMP()", "Timestamp(ms, \"UTC\")"),
        ("PROCTIME()", "Timestamp(ms, \"UTC\")"),
        ("LOCALTIMESTAMP", "Timestamp(ms)"),
        ("CURRENT_DATE", "Date32"),
        ("CURRENT_TIME", "Time32(ms)"),
        ("LOCALTIME", "Time32(ms)"),
    ] {
        assert_eq!(type_of(expr), t, "{expr}");
        assert_ne!(eval(expr), "NULL", "{expr}");
    }
    let year: i64 = eval("YEAR(CURRENT_TIMESTAMP)").parse().unwrap();
    assert!(year >= 2025);
    assert_eq!(
        eval("DATE_FORMAT(CURRENT_TIMESTAMP, 'yyyy-MM-dd')"),
        eval("DATE_FORMAT(CURRENT_DATE, 'yyyy-MM-dd')")
    );
    assert_eq!(
        eval_t("TIMESTAMPDIFF(DAY, NOW(), LOCALTIMESTAMP)"),
        ["0", "0", "0"]
    );
}

#[test]
fn wrong_arguments_are_planning_errors_naming_the_function() {
    error(
        "SPLIT_INDEX(1, ',', 0)",
        &["SPLIT_INDEX", "argument 1 must be a string"],
    );
    error(
        "SPLIT_INDEX(s, ',', 'x')",
        &["SPLIT_INDEX", "argument 3 must be an integer"],
    );
    error("LPAD('a')", &["LPAD", "takes 3 argument(s), got 1"]);
    error("CONCAT()", &["CONCAT", "1 or more"]);
    error(
        "REGEXP_EXTRACT(s, '(?<=a)b')",
        &["REGEXP_EXTRACT", "look-around"],
    );
    error("REGEXP_REPLACE(s, '(', 'x')", &["REGEXP_REPLACE", "'('"]);
    error(
        "DATE_FORMAT(ts, 'yyyy-bb')",
        &["DATE_FORMAT", "unknown pattern letter 'b'"],
    );
    error(
        "DATE_FORMAT(n, 'yyyy')",
        &["DATE_FORMAT", "argument 1 must be a DATE, TIME"],
    );
    error(
        "TO_TIMESTAMP(s, 'yyyy''')",
        &["TO_TIMESTAMP", "unclosed quote"],
    );
    error(
        "TIMESTAMPADD(FORTNIGHT, 1, ts)",
        &["TIMESTAMPADD", "unknown time unit 'FORTNIGHT'"],
    );
    error(
        "TIMESTAMPDIFF(DAY, s, ts)",
        &["TIMESTAMPDIFF", "argument 2"],
    );
    error("EXTRACT(DAY FROM s)", &["EXTRACT", "argument 2"]);
    error(
        "JSON_VALUE(s, '$.a[*]')",
        &["JSON_VALUE", "unsupported JSON path"],
    );
    error("JSON_EXISTS(s, 'a.b')", &["JSON_EXISTS", "starts with $"]);
    error("SHA2(s, 128)", &["SHA2", "224, 256, 384 or 512"]);
    error("TO_TIMESTAMP_LTZ(n, 6)", &["TO_TIMESTAMP_LTZ", "precision"]);
    error("HEX(1.5)", &["HEX", "argument 1"]);
    error("YEAR(s)", &["YEAR", "DATE, TIME or TIMESTAMP"]);
}

#[test]
fn percentile_is_exact_and_interpolates() {
    // Flink's documented examples: PERCENTILE(col, 0.3) over 0, 10, 10 is 6.0.
    let over = |values: &str, p: &str| {
        run(&format!(
            "SELECT PERCENTILE(col, {p}) FROM (VALUES {values}) AS v(col)"
        ))
        .unwrap()
    };
    assert_eq!(over("(0), (10), (10)", "0.3"), ["6.0"]);
    assert_eq!(over("(1), (2), (3), (4)", "0.5"), ["2.5"]);
    assert_eq!(over("(7), (NULL), (3)", "1.0"), ["7.0"]);
    assert_eq!(over("(CAST(NULL AS INT))", "0.5"), ["NULL"]);
}
