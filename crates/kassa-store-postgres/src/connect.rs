//! The first connection at start-up: one attempt, answered at once, and when it fails one line
//! a person can act on ("connection refused at 127.0.0.1:5432", "database kassa does not exist —
//! create it with …"). The pool itself retries a failing connection until its acquire timeout
//! and then reports only that it timed out.

use std::io::ErrorKind;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// How long the first connection may take before the server counts as not answering.
pub(crate) const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Opens and closes one connection with `options`; the error says what is wrong in one line.
pub(crate) async fn check(options: &PgConnectOptions) -> Result<(), String> {
    match tokio::time::timeout(FIRST_CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(describe(options, &e)),
        Err(_) => Err(format!(
            "cannot connect to PostgreSQL: no answer from {} within {} s",
            server(options),
            FIRST_CONNECT_TIMEOUT.as_secs()
        )),
    }
}

/// Where the options point: `host:port`, or the Unix socket.
fn server(options: &PgConnectOptions) -> String {
    match options.get_socket() {
        Some(socket) => format!("{} (port {})", socket.display(), options.get_port()),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    }
}

/// One line, no source location, no password.
pub(crate) fn describe(options: &PgConnectOptions, e: &sqlx::Error) -> String {
    let at = server(options);
    let user = options.get_username();
    let what = match e {
        sqlx::Error::Io(io) if io.kind() == ErrorKind::ConnectionRefused => {
            format!("connection refused at {at}: is PostgreSQL running and listening there?")
        }
        sqlx::Error::Io(io) if io.kind() == ErrorKind::TimedOut => format!("no answer from {at}"),
        sqlx::Error::Io(io) if io.to_string().contains("lookup address") => {
            format!("cannot resolve the host {:?}", options.get_host())
        }
        sqlx::Error::Io(io) => format!("cannot reach {at}: {io}"),
        sqlx::Error::Tls(tls) => format!("TLS with {at} failed: {tls}"),
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            match code.as_ref() {
                // invalid_catalog_name
                "3D000" => {
                    let name = options.get_database().unwrap_or(user);
                    let (host, port) = (options.get_host(), options.get_port());
                    format!(
                        "database \"{name}\" does not exist at {at} — create it with \
                         `createdb -h {host} -p {port} -U {user} {name}` \
                         (or `CREATE DATABASE \"{name}\";` in psql)"
                    )
                }
                // invalid_password
                "28P01" => format!("password authentication failed for user \"{user}\" at {at}"),
                // invalid_authorization_specification: no such role, or pg_hba.conf refuses
                "28000" => format!("{} (at {at})", db.message()),
                // too_many_connections
                "53300" => format!("{at} has no connection slot left: {}", db.message()),
                // cannot_connect_now: starting up or shutting down
                "57P03" => format!("{at} is not accepting connections yet: {}", db.message()),
                _ => format!("{} (SQLSTATE {code}, at {at})", db.message()),
            }
        }
        other => format!("{other} (at {at})"),
    };
    format!("cannot connect to PostgreSQL: {what}")
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn options(url: &str) -> PgConnectOptions {
        PgConnectOptions::from_str(url).unwrap()
    }

    #[test]
    fn a_refused_connection_names_the_address() {
        let e = sqlx::Error::Io(std::io::Error::from(ErrorKind::ConnectionRefused));
        let line = describe(&options("postgres://u:secret@db.internal:6543/shop"), &e);
        assert_eq!(
            line,
            "cannot connect to PostgreSQL: connection refused at db.internal:6543: \
             is PostgreSQL running and listening there?"
        );
        assert!(!line.contains("secret"));
    }

    #[test]
    fn other_io_errors_stay_on_one_line() {
        let e = sqlx::Error::Io(std::io::Error::other("network unreachable"));
        let line = describe(&options("postgres://u@db.example/shop"), &e);
        assert_eq!(
            line,
            "cannot connect to PostgreSQL: cannot reach db.example:5432: network unreachable"
        );
    }
}
