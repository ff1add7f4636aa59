//! `spate demo --kafka BROKERS --postgres URL --mysql URL`: the demo's pipelines on real
//! infrastructure instead of the embedded defaults.
//!
//! - `--kafka`: the collector ships the access log to the Kafka topic `api-access` and the
//!   simulator sends telemetry to `telemetry`; the jobs read those topics (their
//!   `spate-log` source tables become `kafka` tables with a consumer group each).
//! - `--postgres`: the API analytics job also writes its tables to PostgreSQL (the JDBC sinks
//!   of `jobs/api/sinks-postgres.sql`, created first with `jobs/api/postgres-schema.sql`).
//! - `--mysql`: the fleet job also writes `vehicle_health` to MySQL/MariaDB (the JDBC sink of
//!   `jobs/fleet/sinks-mysql.sql`, created first with `jobs/fleet/mysql-schema.sql`).
//!
//! The jobs keep writing the serving store too, so the dashboards and the PostgreSQL endpoint
//! show the same results: each INSERT into a table that also has an external sink is run a
//! second time into that sink.

use std::collections::BTreeMap;

use anyhow::Context as _;

/// The real systems the demo runs on; none means the embedded defaults.
#[derive(Debug, Clone, Default)]
pub(crate) struct Infrastructure {
    /// Kafka's bootstrap servers.
    pub kafka: Option<String>,
    /// PostgreSQL for the API analytics tables.
    pub postgres: Option<Database>,
    /// MySQL/MariaDB for the fleet's vehicle health.
    pub mysql: Option<Database>,
}

/// A database given as `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` or
/// `mysql://USER[:PASSWORD]@HOST[:PORT]/DB`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Database {
    /// The URL as given (what the schema is created through).
    url: String,
    /// The JDBC URL of the sinks: `jdbc:postgresql://HOST:PORT/DB` or `jdbc:mysql://…`.
    jdbc: String,
    user: String,
    password: Option<String>,
}

impl Database {
    /// Parses `url`, which must use `scheme`.
    pub(crate) fn parse(url: &str, scheme: &str, default_port: u16) -> anyhow::Result<Database> {
        let rest = url.strip_prefix(&format!("{scheme}://")).with_context(|| {
            format!("{url}: expected {scheme}://USER[:PASSWORD]@HOST[:PORT]/DB")
        })?;
        let (credentials, place) = rest
            .split_once('@')
            .with_context(|| format!("{url}: no USER@ before the host"))?;
        let (user, password) = match credentials.split_once(':') {
            Some((user, password)) => (user, Some(password.to_string())),
            None => (credentials, None),
        };
        let (host_port, db) = place
            .split_once('/')
            .with_context(|| format!("{url}: no /DB after the host"))?;
        let db = db.split('?').next().unwrap_or_default();
        anyhow::ensure!(
            !user.is_empty() && !host_port.is_empty() && !db.is_empty(),
            "{url}: expected {scheme}://USER[:PASSWORD]@HOST[:PORT]/DB"
        );
        let host_port = match host_port.contains(':') {
            true => host_port.to_string(),
            false => format!("{host_port}:{default_port}"),
        };
        let jdbc_scheme = match scheme {
            "postgres" => "postgresql",
            other => other,
        };
        Ok(Database {
            url: url.to_string(),
            jdbc: format!("jdbc:{jdbc_scheme}://{host_port}/{db}"),
            user: user.to_string(),
            password,
        })
    }

    /// The connection options of a JDBC table.
    fn options(&self) -> String {
        let mut options = format!("'url' = '{}', 'username' = '{}'", self.jdbc, self.user);
        if let Some(password) = &self.password {
            options.push_str(&format!(
                ", 'password' = '{}'",
                password.replace('\'', "''")
            ));
        }
        options
    }

    /// Runs the statements of `schema` (`CREATE TABLE IF NOT EXISTS …`).
    async fn create(&self, schema: &'static str) -> anyhow::Result<()> {
        use sqlx::Connection as _;
        match self.url.starts_with("postgres") {
            true => {
                let mut db = sqlx::PgConnection::connect(&self.url)
                    .await
                    .with_context(|| format!("connecting to {}", self.jdbc))?;
                sqlx::raw_sql(schema).execute(&mut db).await?;
            }
            false => {
                let mut db = sqlx::MySqlConnection::connect(&self.url)
                    .await
                    .with_context(|| format!("connecting to {}", self.jdbc))?;
                sqlx::raw_sql(schema).execute(&mut db).await?;
            }
        }
        Ok(())
    }
}

impl Infrastructure {
    /// Creates the Kafka topics (2 partitions each) and the databases' tables.
    pub(crate) async fn prepare(&self) -> anyhow::Result<()> {
        if let Some(brokers) = &self.kafka {
            let properties = kafka_properties(brokers);
            for topic in ["api-access", "telemetry"] {
                let (properties, topic) = (properties.clone(), topic.to_string());
                tokio::task::spawn_blocking(move || {
                    spate_connectors::kafka::ensure_topic(&properties, &topic, 2)
                        .map_err(|e| anyhow::anyhow!("Kafka topic {topic}: {e}"))
                })
                .await??;
            }
        }
        if let Some(db) = &self.postgres {
            db.create(include_str!("../../../jobs/api/postgres-schema.sql"))
                .await?;
        }
        if let Some(db) = &self.mysql {
            db.create(include_str!("../../../jobs/fleet/mysql-schema.sql"))
                .await?;
        }
        Ok(())
    }

    /// The source tables of `sql`, reading Kafka (in the consumer group `group`) rather than
    /// the embedded log when `--kafka` is given.
    pub(crate) fn sources(&self, sql: &str, group: &str) -> String {
        match &self.kafka {
            Some(brokers) => sql.replace(
                "'connector' = 'spate-log',",
                &format!(
                    "'connector' = 'kafka', 'properties.bootstrap.servers' = '{brokers}', \
                     'properties.group.id' = '{group}',"
                ),
            ),
            None => sql.to_string(),
        }
    }

    /// The collector's sink section.
    pub(crate) fn collector_sink(&self) -> String {
        match &self.kafka {
            Some(brokers) => format!(
                "[sink]\ntype = \"kafka\"\ntopic = \"api-access\"\n\
                 properties = {{ \"bootstrap.servers\" = {brokers:?} }}\n"
            ),
            None => "[sink]\ntype = \"log\"\ntopic = \"api-access\"\npartitions = 2\n".into(),
        }
    }

    /// The simulator's `--sink`.
    pub(crate) fn telemetry_sink(&self) -> String {
        match &self.kafka {
            Some(brokers) => format!("kafka://{brokers}/telemetry"),
            None => "log://telemetry".into(),
        }
    }

    /// What the API analytics job adds to write PostgreSQL too.
    pub(crate) fn api_extra(&self, job: &str) -> anyhow::Result<String> {
        match &self.postgres {
            Some(db) => also_into(
                job,
                include_str!("../../../jobs/api/sinks-postgres.sql"),
                "postgres",
                db,
            ),
            None => Ok(String::new()),
        }
    }

    /// What the fleet job adds to write MySQL too.
    pub(crate) fn fleet_extra(&self, job: &str) -> anyhow::Result<String> {
        match &self.mysql {
            Some(db) => also_into(
                job,
                include_str!("../../../jobs/fleet/sinks-mysql.sql"),
                "mysql",
                db,
            ),
            None => Ok(String::new()),
        }
    }
}

fn kafka_properties(brokers: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("bootstrap.servers".to_string(), brokers.to_string())])
}

/// The JDBC tables of `sinks` (renamed `<prefix>_<table>`, connected to `db`), and a copy of
/// each INSERT of `job` into one of those tables, into the renamed one.
fn also_into(job: &str, sinks: &str, prefix: &str, db: &Database) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut tables = Vec::new();
    for statement in spate_sql::split_script(sinks)? {
        let text = &statement.text;
        if !text.contains("'connector' = 'jdbc'") {
            continue;
        }
        let name =
            word_after(text, "CREATE TABLE").with_context(|| format!("no table name in {text}"))?;
        let text = text.replacen(
            &format!("CREATE TABLE {name}"),
            &format!("CREATE TABLE {prefix}_{name}"),
            1,
        );
        let text = connect(&text, db)?;
        out.push_str(&text);
        out.push_str(";\n");
        tables.push(name);
    }
    for statement in spate_sql::split_script(job)? {
        let text = &statement.text;
        if let Some(name) = word_after(text, "INSERT INTO")
            && tables.contains(&name)
        {
            out.push_str(&text.replacen(
                &format!("INSERT INTO {name}"),
                &format!("INSERT INTO {prefix}_{name}"),
                1,
            ));
            out.push_str(";\n");
        }
    }
    Ok(out)
}

/// The word after `keyword` at the start of `text`.
fn word_after(text: &str, keyword: &str) -> Option<String> {
    let rest = text.trim_start().strip_prefix(keyword)?;
    let name: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// `text` with its `'url' = '…'` and `'username' = '…'` options replaced by `db`'s.
fn connect(text: &str, db: &Database) -> anyhow::Result<String> {
    let options = regex::Regex::new(
        r"'url'\s*=\s*'[^']*'(,\s*'table-name'\s*=\s*'[^']*')?,\s*'username'\s*=\s*'[^']*'",
    )
    .expect("a valid pattern");
    let found = options
        .captures(text)
        .with_context(|| format!("no 'url' and 'username' options in {text}"))?;
    let table_name = found.get(1).map_or("", |m| m.as_str());
    let replaced = format!("{}{table_name}", db.options());
    Ok(text.replacen(
        found.get(0).expect("the whole match").as_str(),
        &replaced,
        1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_become_jdbc_options() {
        let pg = Database::parse(
            "postgres://app:s3cr'et@db.internal/analytics",
            "postgres",
            5432,
        )
        .unwrap();
        assert_eq!(pg.jdbc, "jdbc:postgresql://db.internal:5432/analytics");
        assert_eq!(
            pg.options(),
            "'url' = 'jdbc:postgresql://db.internal:5432/analytics', 'username' = 'app', \
             'password' = 's3cr''et'"
        );
        let my = Database::parse("mysql://root@127.0.0.1:3306/test", "mysql", 3306).unwrap();
        assert_eq!(my.jdbc, "jdbc:mysql://127.0.0.1:3306/test");
        assert!(Database::parse("mysql://127.0.0.1/test", "mysql", 3306).is_err());
        assert!(Database::parse("postgres://u@h/db", "mysql", 3306).is_err());
    }

    #[test]
    fn inserts_into_tables_with_an_external_sink_are_run_into_it_too() {
        let db =
            Database::parse("postgres://spate@10.0.0.5:6432/metrics", "postgres", 5432).unwrap();
        let job = include_str!("../../../jobs/api/analytics.sql");
        let extra = also_into(
            job,
            include_str!("../../../jobs/api/sinks-postgres.sql"),
            "postgres",
            &db,
        )
        .unwrap();
        for table in [
            "api_metrics_10s",
            "geo_metrics_1m",
            "key_usage_1m",
            "client_scores",
            "attack_alerts",
        ] {
            assert!(
                extra.contains(&format!("CREATE TABLE postgres_{table} (")),
                "{extra}"
            );
            assert!(
                extra.contains(&format!("INSERT INTO postgres_{table}\n")),
                "{extra}"
            );
            assert!(
                extra.contains(&format!("'table-name' = '{table}'")),
                "{extra}"
            );
        }
        assert_eq!(
            extra
                .matches("jdbc:postgresql://10.0.0.5:6432/metrics")
                .count(),
            5
        );
        assert!(!extra.contains("127.0.0.1"), "{extra}");
        // The whole job parses with them.
        let sources = include_str!("../../../jobs/api/source.sql");
        let store = include_str!("../../../jobs/api/sinks-store.sql");
        let script = format!("{sources}\n{store}\n{job}\n{extra}");
        let parsed = spate_sql::parse_script(&script).unwrap();
        assert_eq!(parsed.inserts.len(), 10);

        let fleet = also_into(
            include_str!("../../../jobs/fleet/pipeline.sql"),
            include_str!("../../../jobs/fleet/sinks-mysql.sql"),
            "mysql",
            &Database::parse("mysql://root@127.0.0.1:3306/test", "mysql", 3306).unwrap(),
        )
        .unwrap();
        assert!(
            fleet.contains("CREATE TABLE mysql_vehicle_health ("),
            "{fleet}"
        );
        assert!(
            !fleet.contains("telemetry_rejects"),
            "the log sink stays: {fleet}"
        );
        assert_eq!(fleet.matches("INSERT INTO mysql_vehicle_health").count(), 1);
    }

    #[test]
    fn kafka_replaces_the_embedded_log_in_sources() {
        let infra = Infrastructure {
            kafka: Some("127.0.0.1:9092".into()),
            ..Infrastructure::default()
        };
        let sql = infra.sources(include_str!("../../../jobs/fleet/source.sql"), "g");
        assert!(sql.contains(
            "'connector' = 'kafka', 'properties.bootstrap.servers' = '127.0.0.1:9092', \
             'properties.group.id' = 'g',"
        ));
        assert!(!sql.contains("spate-log"));
        assert!(infra.collector_sink().contains("type = \"kafka\""));
        assert_eq!(infra.telemetry_sink(), "kafka://127.0.0.1:9092/telemetry");
    }
}
