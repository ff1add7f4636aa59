//! Each format on lines as servers write them, and the ways lines go wrong.

use serde_json::{Value, json};

use super::*;

/// Parses `line` as `format`; the event as JSON and what was found, or the error.
fn parse(format: &str, line: &str) -> Result<(Value, Parsed<'static>), ParseError> {
    let mut parser = Parser::new(&format.parse().unwrap()).unwrap();
    let mut out = EventBuf::new();
    out.begin();
    let leaked: &'static str = Box::leak(line.to_string().into_boxed_str());
    match parser.parse(leaked.as_bytes(), &mut out) {
        Ok(parsed) => {
            out.end();
            let value: Value = serde_json::from_slice(out.as_bytes())
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(out.as_bytes())));
            Ok((value, parsed))
        }
        Err(e) => Err(e),
    }
}

fn event(format: &str, line: &str) -> Value {
    parse(format, line)
        .unwrap_or_else(|e| panic!("{line}: {e}"))
        .0
}

#[test]
fn nginx_combined_lines() {
    let line = r#"203.0.113.7 - - [10/Oct/2023:13:55:36 +0200] "GET /v1/privacy/blur?background=blur HTTP/1.1" 200 5123 "https://example.com/upload" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36""#;
    let (value, parsed) = parse("nginx-combined", line).unwrap();
    assert_eq!(
        value,
        json!({
            "ts": "2023-10-10T11:55:36.000Z",
            "client_ip": "203.0.113.7",
            "method": "GET",
            "path": "/v1/privacy/blur",
            "query": "background=blur",
            "protocol": "HTTP/1.1",
            "status": 200,
            "bytes_out": 5123,
            "referer": "https://example.com/upload",
            "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
        })
    );
    assert_eq!(parsed.timestamp_ms, Some(1_696_938_936_000));
    assert_eq!(parsed.client_ip.as_deref(), Some("203.0.113.7"));

    // A scanner's TLS hello on the plain port, an authenticated user, IPv6, no referer or
    // agent, nginx's \x22 escape kept as written, a CRLF ending.
    let value = event(
        "nginx-combined",
        r#"2001:db8::1 - alice [01/Jan/2024:00:00:00 +0000] "\x16\x03\x01\x00\xCA\x01" 400 157 "-" "-""#,
    );
    assert_eq!(
        value,
        json!({"ts": "2024-01-01T00:00:00.000Z", "client_ip": "2001:db8::1", "user": "alice",
               "method": null, "path": null, "protocol": null,
               "request": r"\x16\x03\x01\x00\xCA\x01", "status": 400, "bytes_out": 157})
    );
    let value = event(
        "nginx-combined",
        "198.51.100.2 - - [01/Jan/2024:00:00:00 +0000] \"GET /search?q=\\x22x\\x22 HTTP/2.0\" 404 0 \"-\" \"curl/8.5.0\"\r",
    );
    assert_eq!(value["query"], r"q=\x22x\x22");
    assert_eq!(value["user_agent"], "curl/8.5.0");
    assert!(value.get("referer").is_none());
}

#[test]
fn apache_common_and_combined_lines() {
    // The examples of Apache's log documentation.
    let value = event(
        "apache-common",
        r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#,
    );
    assert_eq!(
        value,
        json!({"ts": "2000-10-10T20:55:36.000Z", "client_ip": "127.0.0.1", "user": "frank",
               "method": "GET", "path": "/apache_pb.gif", "protocol": "HTTP/1.0",
               "status": 200, "bytes_out": 2326})
    );
    let value = event(
        "apache-combined",
        r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#,
    );
    assert_eq!(value["referer"], "http://www.example.com/start.html");
    assert_eq!(value["user_agent"], "Mozilla/4.08 [en] (Win98; I ;Nav)");
    // `-` bytes (a 304), an ident, and Apache's \" escape inside the user agent.
    let value = event(
        "apache-combined",
        r#"192.0.2.10 ident42 - [10/Oct/2000:13:55:36 -0700] "HEAD / HTTP/1.1" 304 - "-" "Agent \"quoted\" v1""#,
    );
    assert_eq!(value["bytes_out"], 0);
    assert_eq!(value["ident"], "ident42");
    assert_eq!(value["user_agent"], r#"Agent \"quoted\" v1"#);
    // nginx never writes `-` for the byte count.
    assert!(matches!(
        parse(
            "nginx-combined",
            r#"192.0.2.10 - - [10/Oct/2000:13:55:36 -0700] "HEAD / HTTP/1.1" 304 - "-" "-""#
        ),
        Err(ParseError::Invalid("byte count", _))
    ));
}

#[test]
fn malformed_clf_lines_say_what_is_wrong() {
    let cases = [
        ("", "empty line"),
        ("just some text", "expected [time]"),
        (
            r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700 "GET / HTTP/1.1" 200 1 "-" "-""#,
            "expected the closing ] of the time",
        ),
        (
            r#"1.2.3.4 - - [99/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "-""#,
            "invalid time",
        ),
        (
            r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1 200 1 "-" "-"#,
            "expected the status",
        ),
        (
            r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 2000 1 "-" "-""#,
            "invalid status",
        ),
        (
            r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 12x "-" "-""#,
            "invalid byte count",
        ),
        (
            r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "curl"#,
            "unterminated quoted user agent",
        ),
        (
            r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "-" "10.0.0.1""#,
            "unexpected text after the last field",
        ),
        (
            r#""1.2.3.4" - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "-""#,
            "invalid client address",
        ),
    ];
    for (line, reason) in cases {
        let error = parse("nginx-combined", line).unwrap_err().to_string();
        assert!(error.starts_with(reason), "{line}: {error}");
    }
    assert_eq!(
        parse(
            "apache-common",
            "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 extra"
        )
        .unwrap_err(),
        ParseError::Invalid("byte count", "1 extra".into())
    );
    let mut parser = Parser::new(&Format::NginxCombined).unwrap();
    let mut out = EventBuf::new();
    out.begin();
    assert_eq!(
        parser.parse(b"1.2.3.4 \xff\xfe", &mut out).unwrap_err(),
        ParseError::NotUtf8(8)
    );
}

#[test]
fn json_lines_of_the_privacy_api() {
    let line = r#"{"ts":"2024-05-01T12:00:00.250Z","request_id":"a1b2","client_ip":"198.51.100.23","api_key":"acme-prod","method":"POST","path":"/v1/privacy/blur","status":200,"latency_ms":87.5,"bytes_in":204800,"bytes_out":198000,"user_agent":"python-requests/2.31.0","detections":{"face":2,"plate":1}}"#;
    let (value, parsed) = parse("json", line).unwrap();
    let original: Value = serde_json::from_str(line).unwrap();
    assert_eq!(value, original);
    assert_eq!(parsed.timestamp_ms, Some(1_714_564_800_250));
    assert_eq!(parsed.client_ip.as_deref(), Some("198.51.100.23"));
    assert_eq!(parsed.user_agent.as_deref(), Some("python-requests/2.31.0"));

    // Escaped keys and values, null fields, and a field the collector adds itself.
    let (value, parsed) = parse(
        "json",
        r#"{"we\"ird":"a\tb","client_ip":null,"user_agent":"x\u00e9","event_id":"forged"}"#,
    )
    .unwrap();
    assert_eq!(
        value,
        json!({"we\"ird": "a\tb", "client_ip": null, "user_agent": "xé"})
    );
    assert_eq!(parsed.client_ip, None);
    assert_eq!(parsed.user_agent.as_deref(), Some("xé"));
    let (_, parsed) = parse("json", r#"{"user_agent":null}"#).unwrap();
    assert_eq!(parsed.user_agent.as_deref(), Some(""));
    let (_, parsed) = parse("json", r#"{"a":1}"#).unwrap();
    assert_eq!(parsed.user_agent, None);
    assert_eq!(parsed.timestamp_ms, None);

    assert_eq!(parse("json", "").unwrap_err(), ParseError::Empty);
    for bad in [
        "[1,2]",
        "42",
        r#"{"a":1"#,
        r#"{"a":1} trailing"#,
        r#"{"a":}"#,
    ] {
        assert!(
            matches!(parse("json", bad), Err(ParseError::Json(_))),
            "{bad:?} was accepted"
        );
    }
}

#[test]
fn regex_with_named_groups() {
    // A HAProxy-like line read with a custom pattern.
    let format = r"regex:^(?P<client_ip>[\d.]+):\d+ \[(?P<ts>[^\]]+)\] (?P<backend>\S+) (?P<status>\d{3}) (?:(?P<user_agent>.+))?$";
    let (value, parsed) = parse(
        format,
        "192.0.2.44:53211 [10/Oct/2000:13:55:36 -0700] api/srv1 503 Wget/1.21",
    )
    .unwrap();
    assert_eq!(
        value,
        json!({"client_ip": "192.0.2.44", "ts": "10/Oct/2000:13:55:36 -0700",
               "backend": "api/srv1", "status": "503", "user_agent": "Wget/1.21"})
    );
    assert_eq!(parsed.timestamp_ms, Some(971_211_336_000));
    assert_eq!(parsed.user_agent.as_deref(), Some("Wget/1.21"));
    // An optional group that did not take part is left out.
    let value = event(format, "192.0.2.44:1 [x] b 200 ");
    assert!(value.get("user_agent").is_none(), "{value}");
    assert_eq!(parse(format, "nothing like it"), Err(ParseError::NoMatch));

    for bad in ["regex:(unclosed", r"regex:\d+", r"regex:(?P<event_id>\d+)"] {
        assert!(Parser::new(&bad.parse().unwrap()).is_err(), "{bad}");
    }
}

#[test]
fn formats_round_trip_through_their_names() {
    for name in [
        "json",
        "nginx-combined",
        "apache-combined",
        "apache-common",
        "regex:^(?P<a>.*)$",
    ] {
        assert_eq!(name.parse::<Format>().unwrap().to_string(), name);
    }
    assert!("syslog".parse::<Format>().is_err());
}
