//! Whether a file is an SSH private key and whether a passphrase protects it, from the key's
//! own format: never from a `.pub` beside it, never by trying to load it.
//!
//! - OpenSSH (`-----BEGIN OPENSSH PRIVATE KEY-----`) looks the same encrypted or not: the base64
//!   body starts `openssh-key-v1\0`, then the cipher name (`none` when plain), the KDF name and
//!   options, the key count and the first public key, whose first string is the key type
//!   (PROTOCOL.key in OpenSSH's sources).
//! - PEM (`BEGIN RSA|DSA|EC PRIVATE KEY`): encrypted when the headers say
//!   `Proc-Type: 4,ENCRYPTED` (RFC 1421).
//! - PKCS#8: `BEGIN ENCRYPTED PRIVATE KEY` versus `BEGIN PRIVATE KEY` (RFC 5958).
//! - PuTTY (`PuTTY-User-Key-File-2|3: TYPE`): the `Encryption:` line, `none` when plain.
//!
//! A key held by a security key (`sk-*` types) is a handle, useless without the device: it
//! counts as protected. Only the format, type and protection leave the host; never key material.

use base64::Engine as _;
use posture_host::{ReadError, ReadFile};
use serde::{Deserialize, Serialize};

/// The most bytes read of one file in `~/.ssh`: private keys are a few kilobytes (RSA 16384
/// bits is under 13 KiB); anything larger is not one.
pub(crate) const MAX_KEY_BYTES: u64 = 64 * 1024;

/// What a file in `~/.ssh` is, as the extraction records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum KeyFile {
    /// Not a private key (a public key, `known_hosts`, `config`, anything else).
    NotAKey,
    /// A private key.
    PrivateKey {
        /// `openssh`, `pem`, `pkcs8` or `putty`.
        format: String,
        /// Key type where the format names it (`ssh-ed25519`, `rsa`, ...), else `unknown`.
        key_type: String,
        /// How it is protected.
        protection: Protection,
    },
}

/// How a private key is protected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protection {
    /// Encrypted with a passphrase.
    Passphrase,
    /// Held by a hardware security key; the file alone cannot sign.
    SecurityKey,
    /// Not encrypted: anyone who reads the file can use the key.
    None,
    /// The file says it is a private key but its body could not be read, and why.
    Unknown(String),
}

/// The [`posture_host::Extract`] of a file in `~/.ssh`: its [`KeyFile`] as JSON.
pub(crate) fn extract(read: ReadFile<'_>, path: &str) -> Result<String, ReadError> {
    let file = match posture_host::read_to_vec(read, path, MAX_KEY_BYTES) {
        Ok(bytes) => classify(&bytes),
        // Larger than any key: not one.
        Err(ReadError::Refused(why)) if why.starts_with("larger than") => KeyFile::NotAKey,
        Err(e) => return Err(e),
    };
    Ok(serde_json::to_string(&file).expect("plain data serialises"))
}

/// Reads back what [`extract`] recorded; `None` when it is not that.
pub(crate) fn parse_extracted(text: &str) -> Option<KeyFile> {
    serde_json::from_str(text).ok()
}

/// What the bytes of a file are.
#[must_use]
pub fn classify(bytes: &[u8]) -> KeyFile {
    let text = String::from_utf8_lossy(bytes);
    let key = |format: &str, key_type: &str, protection: Protection| KeyFile::PrivateKey {
        format: format.to_owned(),
        key_type: key_type.to_owned(),
        protection,
    };
    if let Some(body) = pem_body(&text, "OPENSSH PRIVATE KEY") {
        let (key_type, protection) = openssh(&body);
        return key("openssh", &key_type, protection);
    }
    for (label, key_type) in [
        ("RSA PRIVATE KEY", "rsa"),
        ("DSA PRIVATE KEY", "dsa"),
        ("EC PRIVATE KEY", "ecdsa"),
    ] {
        if let Some(body) = pem_block(&text, label) {
            let encrypted = body
                .lines()
                .any(|l| l.trim().replace(' ', "") == "Proc-Type:4,ENCRYPTED");
            let protection = if encrypted {
                Protection::Passphrase
            } else {
                Protection::None
            };
            return key("pem", key_type, protection);
        }
    }
    if pem_block(&text, "ENCRYPTED PRIVATE KEY").is_some() {
        return key("pkcs8", "unknown", Protection::Passphrase);
    }
    if let Some(body) = pem_body(&text, "PRIVATE KEY") {
        return key("pkcs8", &pkcs8_type(&body), Protection::None);
    }
    let mut lines = text.lines();
    if let Some(first) = lines.next()
        && let Some((version, key_type)) = first.split_once(':')
        && version.starts_with("PuTTY-User-Key-File-")
    {
        let protection = match text
            .lines()
            .find_map(|l| l.strip_prefix("Encryption:"))
            .map(str::trim)
        {
            Some("none") => Protection::None,
            Some(_) => Protection::Passphrase,
            None => Protection::Unknown("the PuTTY key has no Encryption line".to_owned()),
        };
        return key("putty", key_type.trim(), protection);
    }
    KeyFile::NotAKey
}

/// The text between `-----BEGIN {label}-----` and its END line, headers included.
fn pem_block(text: &str, label: &str) -> Option<String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let rest = &text[start..];
    let stop = rest.find(&end).unwrap_or(rest.len());
    Some(rest[..stop].to_owned())
}

/// The base64 body of a PEM block, without whitespace.
fn pem_body(text: &str, label: &str) -> Option<String> {
    pem_block(text, label).map(|b| b.chars().filter(|c| !c.is_whitespace()).collect())
}

/// The key type of a plain PKCS#8 body, from the algorithm's object identifier near its start
/// (rsaEncryption, id-ecPublicKey, id-Ed25519); `unknown` otherwise.
fn pkcs8_type(body: &str) -> String {
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(body) else {
        return "unknown".to_owned();
    };
    let head = &der[..der.len().min(32)];
    let has = |oid: &[u8]| head.windows(oid.len()).any(|w| w == oid);
    if has(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]) {
        "rsa"
    } else if has(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]) {
        "ecdsa"
    } else if has(&[0x06, 0x03, 0x2b, 0x65, 0x70]) {
        "ed25519"
    } else {
        "unknown"
    }
    .to_owned()
}

/// Key type and protection of an OpenSSH private key body.
fn openssh(body: &str) -> (String, Protection) {
    let unknown = |why: &str| ("unknown".to_owned(), Protection::Unknown(why.to_owned()));
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(body) else {
        return unknown("its base64 body does not decode");
    };
    let Some(mut rest) = bytes.strip_prefix(b"openssh-key-v1\0") else {
        return unknown("its body does not start with openssh-key-v1");
    };
    let (Some(cipher), Some(_kdf), Some(_kdf_options)) = (
        read_string(&mut rest),
        read_string(&mut rest),
        read_string(&mut rest),
    ) else {
        return unknown("its header is truncated");
    };
    // The key count (a bare u32), then the first public key as a string whose own first
    // string is the key type.
    let count = next_u32(&mut rest);
    let key_type = match (count, read_string(&mut rest)) {
        (Some(n), Some(public)) if n >= 1 => {
            let mut p = public.as_slice();
            read_string(&mut p)
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_else(|| "unknown".to_owned())
        }
        _ => "unknown".to_owned(),
    };
    let protection = if cipher != b"none" {
        Protection::Passphrase
    } else if key_type.starts_with("sk-") {
        Protection::SecurityKey
    } else {
        Protection::None
    };
    (key_type, protection)
}

fn next_u32(rest: &mut &[u8]) -> Option<u32> {
    let n = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
    *rest = &rest[4..];
    Some(n)
}

fn read_string(rest: &mut &[u8]) -> Option<Vec<u8>> {
    let len = next_u32(rest)? as usize;
    let value = rest.get(..len)?.to_vec();
    *rest = &rest[len..];
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/credentials/ssh-keys"
    );

    fn key(name: &str) -> KeyFile {
        classify(&fs_err::read(format!("{KEYS}/{name}")).unwrap())
    }

    fn private(format: &str, key_type: &str, protection: Protection) -> KeyFile {
        KeyFile::PrivateKey {
            format: format.into(),
            key_type: key_type.into(),
            protection,
        }
    }

    #[test]
    fn every_ssh_keygen_format_says_whether_it_is_encrypted() {
        for (file, expected) in [
            (
                "openssh-ed25519-plain",
                private("openssh", "ssh-ed25519", Protection::None),
            ),
            (
                "openssh-ed25519-encrypted",
                private("openssh", "ssh-ed25519", Protection::Passphrase),
            ),
            (
                "openssh-rsa-plain",
                private("openssh", "ssh-rsa", Protection::None),
            ),
            ("pem-rsa-plain", private("pem", "rsa", Protection::None)),
            (
                "pem-rsa-encrypted",
                private("pem", "rsa", Protection::Passphrase),
            ),
            ("pem-ecdsa-plain", private("pem", "ecdsa", Protection::None)),
            ("pkcs8-rsa-plain", private("pkcs8", "rsa", Protection::None)),
            (
                "pkcs8-rsa-encrypted",
                private("pkcs8", "unknown", Protection::Passphrase),
            ),
        ] {
            assert_eq!(key(file), expected, "{file}");
            assert_eq!(key(&format!("{file}.pub")), KeyFile::NotAKey, "{file}.pub");
        }
    }

    #[test]
    fn putty_keys_are_read_from_their_encryption_line() {
        let plain = "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: test\n";
        assert_eq!(
            classify(plain.as_bytes()),
            private("putty", "ssh-ed25519", Protection::None)
        );
        let encrypted = "PuTTY-User-Key-File-2: ssh-rsa\nEncryption: aes256-cbc\n";
        assert_eq!(
            classify(encrypted.as_bytes()),
            private("putty", "ssh-rsa", Protection::Passphrase)
        );
    }

    #[test]
    fn a_damaged_openssh_key_is_a_key_of_unknown_protection_never_a_pass() {
        let text = "-----BEGIN OPENSSH PRIVATE KEY-----\n!!!!\n-----END OPENSSH PRIVATE KEY-----\n";
        assert!(matches!(
            classify(text.as_bytes()),
            KeyFile::PrivateKey {
                protection: Protection::Unknown(_),
                ..
            }
        ));
    }

    #[test]
    fn the_extraction_keeps_only_format_type_and_protection() {
        let path = format!("{KEYS}/openssh-ed25519-plain");
        let read = |p: &str, _max: u64, sink: &mut dyn std::io::Write| {
            let bytes = fs_err::read(p).map_err(|e| ReadError::from_io(&e))?;
            sink.write_all(&bytes).unwrap();
            Ok(bytes.len() as u64)
        };
        let text = extract(&read, &path).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"private_key","format":"openssh","key_type":"ssh-ed25519","protection":"none"}"#
        );
        assert_eq!(
            parse_extracted(&text),
            Some(private("openssh", "ssh-ed25519", Protection::None))
        );
    }
}
