//! The 1Password accounts a user is signed in to, from 1Password's own database: account
//! email, sign-in address, account type and state. Never item data, never key material (the
//! account rows also hold encrypted keys: they are not read past the fields named here).
//!
//! - 1Password 8 keeps `1password.sqlite` (with `-wal` and `-shm`; WAL mode) in its data
//!   folder: Linux `~/.config/1Password/` (Snap `~/snap/1password/current/.config/1Password/`,
//!   Flatpak `~/.var/app/com.onepassword.OnePassword/config/1Password/`), macOS
//!   `~/Library/Group Containers/2BUA8C4S2C.com.1password/Library/Application
//!   Support/1Password/Data/`, Windows `%LOCALAPPDATA%\1Password\`. Table
//!   `accounts(id, ..., data)`, `data` a JSON object with `user_email`, `sign_in_url`,
//!   `account_type` (`B` business, `T` teams, `F` family, `I` individual) and
//!   `account_state` (`A` active). The table layout is community knowledge, not a vendor
//!   document: any other layout is `unknown`.
//! - 1Password 7: macOS `B5.sqlite`, Windows `1Password10.sqlite`, table
//!   `accounts(user_email, team_name, server, account_type)`.
//!
//! Signing out of every account removes the account rows; a locked app keeps them. A database
//! that cannot be read is `unknown`, never "signed out".

use posture_host::sqlite::{self, SqliteError};
use posture_host::{ReadError, ReadFile};
use serde::{Deserialize, Serialize};

/// The most bytes read of a 1Password database (it holds every vault's encrypted items): the
/// copy is made once per run and removed at once.
const MAX_DATABASE_BYTES: u64 = 256 * 1024 * 1024;

/// Which 1Password wrote a database, by its layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Generation {
    /// 1Password 8: `accounts.data` JSON.
    V8,
    /// 1Password 7: `accounts` columns.
    V7,
}

/// One place 1Password may keep its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    /// Absolute path of the database.
    pub path: String,
    /// How it was installed, for people: "1Password 8", "1Password 8 (Snap)".
    pub label: &'static str,
    /// The layout to expect.
    pub generation: Generation,
}

/// What one database says, as the extraction records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountList {
    /// The account rows (empty: signed out of every account).
    Accounts(Vec<Account>),
    /// The file is not a database this reader knows, and why.
    Unrecognised(String),
}

/// A 1Password account signed in on this device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The account's email address.
    pub email: String,
    /// The sign-in address as stored (`https://example.1password.com`, or a bare host).
    pub sign_in: String,
    /// `B`, `T`, `F`, `I` or another code; empty when the database does not say.
    pub account_type: String,
    /// `A` for active; empty when the database does not say.
    pub state: String,
}

impl Account {
    /// The host of the sign-in address, lower-case: `example.1password.com`.
    #[must_use]
    pub fn sign_in_host(&self) -> String {
        let s = self.sign_in.trim();
        let s = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .unwrap_or(s);
        let host = s.split(['/', '?', '#']).next().unwrap_or(s);
        let host = host.rsplit('@').next().unwrap_or(host);
        let host = host.split(':').next().unwrap_or(host);
        host.trim_end_matches('.').to_ascii_lowercase()
    }

    /// Whether the account type is a business one (Business or Teams).
    #[must_use]
    pub fn is_business(&self) -> bool {
        matches!(self.account_type.as_str(), "B" | "T")
    }

    /// The account type for people.
    #[must_use]
    pub fn type_name(&self) -> String {
        match self.account_type.as_str() {
            "B" => "business".to_owned(),
            "T" => "teams".to_owned(),
            "F" => "family".to_owned(),
            "I" => "individual".to_owned(),
            "" => "type not recorded".to_owned(),
            other => format!("type {other}"),
        }
    }

    /// Whether the account is active: state `A`, or no state recorded (1Password 7 has none).
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.state.is_empty() || self.state == "A"
    }
}

/// The places 1Password keeps its database under a Linux home, newest layouts first.
pub(crate) fn linux_locations(home: &str) -> Vec<Location> {
    let home = home.trim_end_matches('/');
    vec![
        Location {
            path: format!("{home}/.config/1Password/1password.sqlite"),
            label: "1Password 8",
            generation: Generation::V8,
        },
        Location {
            path: format!("{home}/snap/1password/current/.config/1Password/1password.sqlite"),
            label: "1Password 8 (Snap)",
            generation: Generation::V8,
        },
        Location {
            path: format!(
                "{home}/.var/app/com.onepassword.OnePassword/config/1Password/1password.sqlite"
            ),
            label: "1Password 8 (Flatpak)",
            generation: Generation::V8,
        },
    ]
}

/// The places 1Password keeps its database under a macOS home.
pub(crate) fn macos_locations(home: &str) -> Vec<Location> {
    let home = home.trim_end_matches('/');
    vec![
        Location {
            path: format!(
                "{home}/Library/Group Containers/2BUA8C4S2C.com.1password/Library/Application Support/1Password/Data/1password.sqlite"
            ),
            label: "1Password 8",
            generation: Generation::V8,
        },
        Location {
            path: format!(
                "{home}/Library/Group Containers/2BUA8C4S2C.com.agilebits/Library/Application Support/1Password/Data/B5.sqlite"
            ),
            label: "1Password 7",
            generation: Generation::V7,
        },
    ]
}

/// The places 1Password keeps its database under a Windows user's local application data
/// folder (`C:/Users/NAME/AppData/Local`, `/`-separated).
pub(crate) fn windows_locations(local_app_data: &str) -> Vec<Location> {
    let base = local_app_data.trim_end_matches(['/', '\\']);
    vec![
        Location {
            path: format!("{base}/1Password/1password.sqlite"),
            label: "1Password 8",
            generation: Generation::V8,
        },
        Location {
            path: format!("{base}/1Password/data/1Password10.sqlite"),
            label: "1Password 7",
            generation: Generation::V7,
        },
    ]
}

/// The [`posture_host::Extract`] of a 1Password 8 database: its [`AccountList`] as JSON.
pub(crate) fn extract_v8(read: ReadFile<'_>, path: &str) -> Result<String, ReadError> {
    let list = match sqlite::read_columns(read, path, MAX_DATABASE_BYTES, "accounts", &["data"]) {
        Ok(rows) => accounts_from_v8_rows(&rows),
        Err(e) => from_error(path, e)?,
    };
    Ok(serde_json::to_string(&list).expect("plain data serialises"))
}

/// The [`posture_host::Extract`] of a 1Password 7 database.
pub(crate) fn extract_v7(read: ReadFile<'_>, path: &str) -> Result<String, ReadError> {
    let columns = ["user_email", "server", "account_type"];
    let list = match sqlite::read_columns(read, path, MAX_DATABASE_BYTES, "accounts", &columns) {
        Ok(rows) => AccountList::Accounts(
            rows.into_iter()
                .map(|r| Account {
                    email: r.first().cloned().flatten().unwrap_or_default(),
                    sign_in: r.get(1).cloned().flatten().unwrap_or_default(),
                    account_type: r.get(2).cloned().flatten().unwrap_or_default(),
                    state: String::new(),
                })
                .collect(),
        ),
        Err(e) => from_error(path, e)?,
    };
    Ok(serde_json::to_string(&list).expect("plain data serialises"))
}

/// A failure to read the database file itself is a read error (absent, denied, refused); any
/// other failure is a fact about its content.
fn from_error(path: &str, e: SqliteError) -> Result<AccountList, ReadError> {
    match e {
        SqliteError::Read { path: p, error } if p == path => Err(error),
        other => Ok(AccountList::Unrecognised(other.to_string())),
    }
}

/// The accounts in 1Password 8 `accounts.data` values; any row that is not the JSON object
/// this reader knows makes the whole list unrecognised.
pub(crate) fn accounts_from_v8_rows(rows: &[Vec<Option<String>>]) -> AccountList {
    let mut accounts = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let Some(Some(text)) = row.first() else {
            return AccountList::Unrecognised(format!("accounts row {}: data is empty", i + 1));
        };
        let Ok(serde_json::Value::Object(data)) = serde_json::from_str(text) else {
            return AccountList::Unrecognised(format!(
                "accounts row {}: data is not a JSON object",
                i + 1
            ));
        };
        let field = |key: &str| data.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let (Some(email), Some(sign_in)) = (field("user_email"), field("sign_in_url")) else {
            return AccountList::Unrecognised(format!(
                "accounts row {}: data has no user_email or sign_in_url",
                i + 1
            ));
        };
        accounts.push(Account {
            email,
            sign_in,
            account_type: field("account_type").unwrap_or_default(),
            state: field("account_state")
                .or_else(|| field("user_state"))
                .unwrap_or_default(),
        });
    }
    AccountList::Accounts(accounts)
}

/// Reads back what an extraction recorded; `None` when it is not that.
pub(crate) fn parse_extracted(text: &str) -> Option<AccountList> {
    serde_json::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(sign_in: &str) -> Account {
        Account {
            email: "a@example.com".into(),
            sign_in: sign_in.into(),
            account_type: "B".into(),
            state: "A".into(),
        }
    }

    #[test]
    fn the_sign_in_host_is_compared_as_a_host() {
        assert_eq!(
            account("https://Example.1Password.com/").sign_in_host(),
            "example.1password.com"
        );
        assert_eq!(
            account("example.1password.com").sign_in_host(),
            "example.1password.com"
        );
        assert_eq!(
            account("https://example.1password.com.evil.test/x").sign_in_host(),
            "example.1password.com.evil.test"
        );
        assert_eq!(
            account("https://example.1password.eu").sign_in_host(),
            "example.1password.eu"
        );
    }

    #[test]
    fn rows_that_are_not_the_known_json_make_the_list_unrecognised() {
        let ok = r#"{"user_email":"a@x","sign_in_url":"https://x.1password.com","account_type":"B","account_state":"A"}"#;
        assert!(matches!(
            accounts_from_v8_rows(&[vec![Some(ok.into())]]),
            AccountList::Accounts(a) if a.len() == 1 && a[0].is_business() && a[0].is_active()
        ));
        for bad in [None, Some("[1]".to_owned()), Some(r#"{"email":"a@x"}"#.to_owned())] {
            assert!(matches!(
                accounts_from_v8_rows(&[vec![bad.clone()]]),
                AccountList::Unrecognised(_)
            ), "{bad:?}");
        }
    }

    #[test]
    fn a_suspended_account_is_not_active() {
        let mut a = account("https://x.1password.com");
        a.state = "S".into();
        assert!(!a.is_active());
    }
}
