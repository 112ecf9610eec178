//! Reading a few columns of a user's SQLite database (a password manager's account list, a
//! browser's saved logins) without touching the user's file.
//!
//! The database and its write-ahead log are read through the guarded reads of an
//! [`Extract`](crate::Extract) into a private temporary directory (mode 0700, removed at once),
//! and that copy is opened read-only. So a database the application holds locked, or writes
//! meanwhile, is never waited on, never changed and never left with our lock on it; rows that
//! live only in the write-ahead log are seen. What the copy cannot answer (not a database, a
//! missing table or column) is an error with its reason, for an `unknown` verdict.

use rusqlite::{Connection, OpenFlags, types::ValueRef};

use crate::{ReadError, ReadFile};

/// The first bytes of every SQLite 3 database.
const HEADER: &[u8] = b"SQLite format 3\0";

/// Why the columns could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqliteError {
    /// The database (or its write-ahead log) could not be read.
    #[error("could not read {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        error: ReadError,
    },
    /// The file is not a SQLite database, or SQLite refused it (malformed, truncated while
    /// being written), with SQLite's words.
    #[error("{0}")]
    Unreadable(String),
    /// The table is not in the database.
    #[error("the database has no table {0}")]
    NoTable(String),
    /// The table lacks columns the reader needs: a layout this reader does not know.
    #[error("table {table} has no column {missing} (columns: {present})")]
    MissingColumns {
        /// The table.
        table: String,
        /// The columns missing, comma-separated.
        missing: String,
        /// The columns it has, comma-separated.
        present: String,
    },
}

/// One row: the asked columns in order; text as it is, numbers in decimal, blobs as lossy
/// UTF-8, NULL as `None`.
pub type Row = Vec<Option<String>>;

/// The rows of `columns` of `table` in the database at `path`, at most `max_bytes` for the
/// database and again for its `-wal`. Column and table names are the caller's constants.
pub fn read_columns(
    read: ReadFile<'_>,
    path: &str,
    max_bytes: u64,
    table: &str,
    columns: &[&str],
) -> Result<Vec<Row>, SqliteError> {
    let unreadable =
        |e: std::io::Error| SqliteError::Unreadable(format!("could not make a private copy: {e}"));
    // A private folder (mode 0700), removed with everything in it when this returns.
    let dir = tempfile::Builder::new()
        .prefix(".posture-sqlite-")
        .tempdir()
        .map_err(unreadable)?;
    let copy = dir.path().join("copy.sqlite");
    let mut file = fs_err::File::create(&copy).map_err(unreadable)?;
    read(path, max_bytes, &mut file).map_err(|error| SqliteError::Read {
        path: path.to_owned(),
        error,
    })?;
    drop(file);
    let mut header = [0_u8; 16];
    let header_read =
        fs_err::File::open(&copy).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header));
    if header_read.is_err() || header != HEADER {
        return Err(SqliteError::Unreadable(format!(
            "{path} is not a SQLite 3 database (its header is not \"SQLite format 3\")"
        )));
    }
    let wal_path = format!("{path}-wal");
    let wal_copy = dir.path().join("copy.sqlite-wal");
    let mut wal = fs_err::File::create(&wal_copy).map_err(unreadable)?;
    match read(&wal_path, max_bytes, &mut wal) {
        Ok(_) => {}
        Err(ReadError::NotFound) => {
            drop(wal);
            fs_err::remove_file(&wal_copy).map_err(unreadable)?;
        }
        Err(error) => {
            return Err(SqliteError::Read {
                path: wal_path,
                error,
            });
        }
    }
    let sqlite = |e: rusqlite::Error| SqliteError::Unreadable(format!("SQLite: {e}"));
    let conn = Connection::open_with_flags(
        &copy,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    let present = table_columns(&conn, table).map_err(sqlite)?;
    if present.is_empty() {
        return Err(SqliteError::NoTable(table.to_owned()));
    }
    let missing: Vec<&str> = columns
        .iter()
        .copied()
        .filter(|c| !present.iter().any(|p| p == c))
        .collect();
    if !missing.is_empty() {
        return Err(SqliteError::MissingColumns {
            table: table.to_owned(),
            missing: missing.join(", "),
            present: present.join(", "),
        });
    }
    let list = columns
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    let mut stmt = conn
        .prepare(&format!("SELECT {list} FROM {}", quote(table)))
        .map_err(sqlite)?;
    let rows = stmt
        .query_map([], |row| {
            (0..columns.len())
                .map(|i| {
                    Ok(match row.get_ref(i)? {
                        ValueRef::Null => None,
                        ValueRef::Integer(n) => Some(n.to_string()),
                        ValueRef::Real(x) => Some(x.to_string()),
                        ValueRef::Text(t) | ValueRef::Blob(t) => {
                            Some(String::from_utf8_lossy(t).into_owned())
                        }
                    })
                })
                .collect::<Result<Row, rusqlite::Error>>()
        })
        .map_err(sqlite)?
        .collect::<Result<Vec<Row>, _>>()
        .map_err(sqlite)?;
    Ok(rows)
}

/// The column names of a table; empty when there is no such table.
fn table_columns(conn: &Connection, table: &str) -> Result<Vec<String>, rusqlite::Error> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
    stmt.query_map([table], |row| row.get::<_, String>(0))?
        .collect()
}

/// An SQL identifier in double quotes.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(dir: &std::path::Path, wal: bool) -> std::path::PathBuf {
        let path = dir.join("db.sqlite");
        let conn = Connection::open(&path).unwrap();
        if wal {
            conn.pragma_update(None, "journal_mode", "wal").unwrap();
            // Keep the rows in the log: no checkpoint when the connection closes.
            conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        }
        conn.execute_batch(
            "CREATE TABLE accounts(id INTEGER PRIMARY KEY, data TEXT);
             INSERT INTO accounts(data) VALUES ('{\"a\":1}'), (NULL);",
        )
        .unwrap();
        if wal {
            // Leaves the rows in the -wal file as a running application would.
            std::mem::forget(conn);
        }
        path
    }

    fn reader(path: &str, max: u64, sink: &mut dyn std::io::Write) -> Result<u64, ReadError> {
        match fs_err::read(path) {
            Ok(b) if b.len() as u64 > max => Err(ReadError::Refused("too large".into())),
            Ok(b) => {
                sink.write_all(&b).unwrap();
                Ok(b.len() as u64)
            }
            Err(e) => Err(ReadError::from_io(&e)),
        }
    }

    #[test]
    fn rows_that_live_only_in_the_write_ahead_log_are_read_from_the_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(dir.path(), true);
        assert!(dir.path().join("db.sqlite-wal").exists());
        let p = path.to_str().unwrap();
        let rows = read_columns(&reader, p, 1 << 20, "accounts", &["id", "data"]).unwrap();
        assert_eq!(
            rows,
            [
                vec![Some("1".into()), Some("{\"a\":1}".into())],
                vec![Some("2".into()), None]
            ]
        );
    }

    #[test]
    fn a_missing_table_or_column_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(dir.path(), false);
        let p = path.to_str().unwrap();
        assert_eq!(
            read_columns(&reader, p, 1 << 20, "items", &["id"]),
            Err(SqliteError::NoTable("items".into()))
        );
        let err = read_columns(&reader, p, 1 << 20, "accounts", &["id", "user_email"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "table accounts has no column user_email (columns: id, data)"
        );
    }

    #[test]
    fn a_file_that_is_not_a_database_or_too_large_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sqlite");
        fs_err::write(&path, "not sqlite").unwrap();
        let p = path.to_str().unwrap();
        assert!(matches!(
            read_columns(&reader, p, 1 << 20, "t", &["c"]),
            Err(SqliteError::Unreadable(_))
        ));
        let path = database(dir.path(), false);
        let p = path.to_str().unwrap();
        assert!(matches!(
            read_columns(&reader, p, 10, "accounts", &["id"]),
            Err(SqliteError::Read { .. })
        ));
    }
}
