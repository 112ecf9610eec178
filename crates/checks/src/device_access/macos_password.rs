//! Whether a Mac account's password is empty, from its local directory record.
//!
//! `/var/db/dslocal/nodes/Default/users/NAME.plist` (a binary property list readable by root
//! only) holds every attribute as an array; `uid` is `["501"]` and `ShadowHashData` is one data
//! blob that is itself a binary property list. Its `SALTED-SHA512-PBKDF2` dictionary holds
//! `entropy` (the derived key, 128 bytes), `salt` (32 bytes) and `iterations` (Apple's
//! device-management schema, `PasswordHash.SALTED-SHA512-PBKDF2`). The password is empty when
//! PBKDF2-HMAC-SHA512 of the empty password with that salt and iteration count gives the
//! entropy.
//!
//! The file is read only through [`posture_host::Host::read_extracted`] with [`extract`], which
//! keeps the uid and the derived fact: a recording never holds the hash, the salt or the entropy.

use hmac::{Hmac, KeyInit, Mac};
use posture_host::plist::{self, PlistValue};
use posture_host::{ReadError, ReadFile};
use serde::{Deserialize, Serialize};
use sha2_011::Sha512;

/// Where the local accounts' records are.
pub(crate) const USERS_DIR: &str = "/var/db/dslocal/nodes/Default/users";

/// The first uid Users & Groups gives a person's account; lower ones are the system's.
pub(crate) const FIRST_HUMAN_UID: i64 = 501;

/// Accounts that ship with macOS without the `_` prefix of the other system accounts.
const SYSTEM_ACCOUNTS: [&str; 3] = ["daemon", "nobody", "root"];

/// The most PBKDF2 iterations posture computes (macOS calibrates to tens of thousands).
pub(crate) const MAX_ITERATIONS: i128 = 10_000_000;

/// The largest account record read (real ones are a few kilobytes).
const MAX_RECORD_BYTES: u64 = 1 << 20;

/// The longest derived key compared (macOS writes 128 bytes).
const MAX_ENTROPY_BYTES: usize = 512;

/// What the extraction keeps of one account record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AccountRecord {
    /// The account's uid, when the record has a readable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<i64>,
    /// What the password is.
    #[serde(flatten)]
    pub password: Password,
}

/// What an account's password is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "password", rename_all = "snake_case")]
pub(crate) enum Password {
    /// PBKDF2 of the empty password gives the stored entropy.
    Empty,
    /// It does not: the account has a password.
    Set,
    /// Not looked at: a system account (uid below [`FIRST_HUMAN_UID`]).
    NotRead,
    /// The record does not say, and why.
    Unknown {
        /// Why.
        reason: String,
    },
}

/// The account names to look at among the records in [`USERS_DIR`]: `NAME.plist` files,
/// without the system accounts (`_name`, daemon, nobody, root).
pub(crate) fn candidates(entries: &[String]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| e.strip_suffix(".plist"))
        .filter(|n| !n.is_empty() && !n.starts_with('_') && !SYSTEM_ACCOUNTS.contains(n))
        .map(str::to_owned)
        .collect()
}

/// The [`posture_host::Extract`] of an account record: its [`AccountRecord`] as JSON.
pub(crate) fn extract(read: ReadFile<'_>, path: &str) -> Result<String, ReadError> {
    let bytes = posture_host::read_to_vec(read, path, MAX_RECORD_BYTES)?;
    let record = judge(&bytes);
    Ok(serde_json::to_string(&record).expect("plain data serialises"))
}

/// Reads back what [`extract`] recorded; `None` when it is not that.
pub(crate) fn parse_extracted(text: &str) -> Option<AccountRecord> {
    serde_json::from_str(text).ok()
}

fn unknown(uid: Option<i64>, reason: impl Into<String>) -> AccountRecord {
    AccountRecord {
        uid,
        password: Password::Unknown {
            reason: reason.into(),
        },
    }
}

/// The uid of a record: `uid` is an array holding one decimal string.
fn uid(record: &PlistValue) -> Option<i64> {
    let first = record.get("uid")?.as_array()?.first()?;
    first
        .as_str()
        .and_then(|s| s.trim().parse().ok())
        .or_else(|| first.as_integer().and_then(|i| i64::try_from(i).ok()))
}

fn judge(bytes: &[u8]) -> AccountRecord {
    let record = match plist::parse(bytes) {
        Ok(r) => r,
        Err(e) => return unknown(None, format!("the record is not a property list: {e}")),
    };
    let uid = uid(&record);
    if uid.is_some_and(|u| u < FIRST_HUMAN_UID) {
        return AccountRecord {
            uid,
            password: Password::NotRead,
        };
    }
    let Some(blob) = record
        .get("ShadowHashData")
        .and_then(PlistValue::as_array)
        .and_then(<[PlistValue]>::first)
    else {
        return unknown(
            uid,
            "the record has no ShadowHashData (no local password hash: a network, managed or disabled account)",
        );
    };
    let PlistValue::Data(inner) = blob else {
        return unknown(
            uid,
            format!("ShadowHashData holds {}, not data", blob.describe()),
        );
    };
    let hashes = match plist::parse(inner) {
        Ok(h) => h,
        Err(e) => {
            return unknown(uid, format!("ShadowHashData is not a property list: {e}"));
        }
    };
    let Some(pbkdf2) = hashes.get("SALTED-SHA512-PBKDF2") else {
        let kinds = hashes
            .as_dict()
            .map(|d| d.keys().cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        return unknown(
            uid,
            format!(
                "ShadowHashData has no SALTED-SHA512-PBKDF2 hash (it holds: {}), the only kind posture can test",
                if kinds.is_empty() { "nothing" } else { &kinds }
            ),
        );
    };
    let field = |key: &str| match pbkdf2.get(key) {
        Some(PlistValue::Data(d)) => Ok(d.as_slice()),
        Some(other) => Err(format!(
            "SALTED-SHA512-PBKDF2 {key} is {}, not data",
            other.describe()
        )),
        None => Err(format!("SALTED-SHA512-PBKDF2 has no {key}")),
    };
    let (entropy, salt) = match (field("entropy"), field("salt")) {
        (Ok(e), Ok(s)) => (e, s),
        (Err(why), _) | (_, Err(why)) => return unknown(uid, why),
    };
    let iterations = match pbkdf2.get("iterations").and_then(PlistValue::as_integer) {
        Some(i) if (1..=MAX_ITERATIONS).contains(&i) => {
            u32::try_from(i).expect("bounded by MAX_ITERATIONS")
        }
        Some(i) => {
            return unknown(
                uid,
                format!(
                    "SALTED-SHA512-PBKDF2 has {i} iterations, outside 1..={MAX_ITERATIONS}, the most posture computes"
                ),
            );
        }
        None => return unknown(uid, "SALTED-SHA512-PBKDF2 has no integer iterations"),
    };
    if entropy.is_empty() || entropy.len() > MAX_ENTROPY_BYTES {
        return unknown(
            uid,
            format!(
                "SALTED-SHA512-PBKDF2 entropy is {} bytes, not 1..={MAX_ENTROPY_BYTES}",
                entropy.len()
            ),
        );
    }
    let password = if pbkdf2_sha512(b"", salt, iterations, entropy.len()) == entropy {
        Password::Empty
    } else {
        Password::Set
    };
    AccountRecord { uid, password }
}

/// PBKDF2 (RFC 8018) with HMAC-SHA512, `len` bytes.
pub(crate) fn pbkdf2_sha512(password: &[u8], salt: &[u8], iterations: u32, len: usize) -> Vec<u8> {
    let prf = Hmac::<Sha512>::new_from_slice(password).expect("HMAC takes a key of any length");
    let mut out = Vec::with_capacity(len);
    let mut block: u32 = 1;
    while out.len() < len {
        let mut mac = prf.clone();
        mac.update(salt);
        mac.update(&block.to_be_bytes());
        let mut u = mac.finalize().into_bytes();
        let mut t = u;
        for _ in 1..iterations {
            let mut mac = prf.clone();
            mac.update(&u);
            u = mac.finalize().into_bytes();
            for (t, u) in t.iter_mut().zip(u.iter()) {
                *t ^= u;
            }
        }
        let take = (len - out.len()).min(t.len());
        out.extend_from_slice(&t[..take]);
        block += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Records written by `tests/fixtures/credentials/macos-accounts/make_records.py`.
    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../tests/fixtures/credentials/macos-accounts/{name}.plist",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn extracted(name: &str) -> AccountRecord {
        let bytes = fixture(name);
        let read = |_: &str, max: u64, sink: &mut dyn std::io::Write| {
            assert!(bytes.len() as u64 <= max);
            sink.write_all(&bytes).unwrap();
            Ok(bytes.len() as u64)
        };
        let text = extract(&read, "/var/db/dslocal/nodes/Default/users/x.plist").unwrap();
        // Only the uid and the derived fact, never the hash material.
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        for key in value.as_object().unwrap().keys() {
            assert!(["uid", "password", "reason"].contains(&key.as_str()), "{text}");
        }
        parse_extracted(&text).unwrap()
    }

    #[test]
    fn pbkdf2_matches_python_hashlib() {
        // hashlib.pbkdf2_hmac("sha512", password, salt, iterations, 128).hex()
        let cases: [(&[u8], &[u8], u32, &str); 3] = [
            (b"", b"salt", 1, "00ef42cdbfc98d29db20976608e455567fdddf141f6eb03b5a85addd25974f5d2375bd5082b803e8f4cfa88ae1bd25256fcbddd2318676566ff2797792302aee6ca733014ec4a8969e9b4d25a196e71b38d7e3434496810e7ffedd58624f2fd53874cfa5c6c74458af83a6395b1853094f9462d02846f72b2ad6ddad6faa930f"),
            (b"", b"salt", 2, "cc5eacbb057f2a5982fce67bf70f79fccf4adf285f5cbae1a5a1c5df012a630a5cd035da88803f2a8b7ad7d3118025e9d848280b733c39c57a76d3fa895f244cf286c14d011fa4c6ecff1b1cb4d3b11aa74736c44adef1cd6273dbbef8fdaf29919b21049b259b5ce562f349132ab047a59a0b0682f970ed8bb5fa473500e2f6"),
            (b"password", b"salt", 2, "e1d9c16aa681708a45f5c7c4e215ceb66e011a2e9f0040713f18aefdb866d53cf76cab2868a39b9f7840edce4fef5a82be67335c77a6068e04112754f27ccf4e473e311ad827b68945f4e2dddb204c78e40e2495141e411cd272d020640d673cd34aa29f1e03c579d247bf63f041156031e0bf2e841c553c530933b48c40c865"),
        ];
        for (password, salt, iterations, want) in cases {
            assert_eq!(hex(&pbkdf2_sha512(password, salt, iterations, 128)), want);
        }
        // A shorter key is the prefix of the longer one.
        assert_eq!(hex(&pbkdf2_sha512(b"", b"salt", 2, 20)), &cases[1].3[..40]);
    }

    #[test]
    fn an_empty_password_is_told_from_a_set_one() {
        assert_eq!(
            extracted("empty"),
            AccountRecord {
                uid: Some(501),
                password: Password::Empty
            }
        );
        assert_eq!(
            extracted("set"),
            AccountRecord {
                uid: Some(502),
                password: Password::Set
            }
        );
    }

    #[test]
    fn without_a_pbkdf2_hash_or_with_too_many_iterations_it_stays_unknown() {
        let reason = |name: &str| match extracted(name).password {
            Password::Unknown { reason } => reason,
            other => panic!("{name}: {other:?}"),
        };
        assert!(
            reason("srp").contains("it holds: SRP-RFC5054-4096-SHA512-PBKDF2"),
            "{}",
            reason("srp")
        );
        assert!(reason("nohash").contains("no ShadowHashData"));
        assert!(reason("toomany").contains("10000001 iterations"));
        assert!(matches!(judge(b"not a plist").password, Password::Unknown { .. }));
    }

    #[test]
    fn system_accounts_are_neither_read_nor_judged() {
        assert_eq!(
            extracted("daemon"),
            AccountRecord {
                uid: Some(1),
                password: Password::NotRead
            }
        );
        let entries = ["_www.plist", "daemon.plist", "jdoe.plist", "nobody.plist", "root.plist", "notes.txt"]
            .map(str::to_owned);
        assert_eq!(candidates(&entries), ["jdoe"]);
    }

    #[test]
    fn the_recorded_text_is_small_and_round_trips() {
        let r = AccountRecord {
            uid: Some(501),
            password: Password::Unknown {
                reason: "x".to_owned(),
            },
        };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(text, r#"{"uid":501,"password":"unknown","reason":"x"}"#);
        assert_eq!(parse_extracted(&text), Some(r));
        assert_eq!(
            parse_extracted(r#"{"uid":501,"password":"set"}"#).unwrap().password,
            Password::Set
        );
    }
}
