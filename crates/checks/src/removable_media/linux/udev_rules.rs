//! The udev layer: a rule that deauthorizes USB mass-storage interfaces as they appear.
//!
//! udev reads every `*.rules` file of its rules directories (a name in `/etc/udev/rules.d` hides
//! the same name in `/run` and the library directories) in lexical order of the names (udev(7)).
//! A rule is a line of comma-separated `KEY==value` matches and `KEY=value` assignments. It
//! counts as a block only when it is unconditional enough to be sure of:
//!
//! - it assigns `ATTR{authorized}="0"` (the kernel then unbinds the interface, USB
//!   authorization);
//! - it matches `SUBSYSTEM(S)=="usb"` and the mass-storage interface class
//!   (`ATTR(S){bInterfaceClass}=="08"`), with no other match than `ACTION=="add"` and
//!   `ENV{DEVTYPE}=="usb_interface"` (a rule narrowed to a vendor or a port does not block
//!   every stick);
//! - its file has no `GOTO` (which may jump past it) and no later rule assigns
//!   `ATTR{authorized}="1"`.
//!
//! A rule acts on devices added after udev read it; a stick plugged in before stays usable
//! until it is replugged. `ENV{UDISKS_IGNORE}="1"` for USB disks only hides them from the
//! desktop's mounting (udisks): root still mounts them, so it is reported, never counted.
//!
//! Enforcement: a rule counts as enforced only when its file and directory are root-owned and
//! writable by nobody else ([`Host::metadata`]); a rule in a file a user may edit blocks today
//! but is not enforced.

use posture_host::{Host, ReadError};
use posture_schema::{Enforced, Enforcer, Evidence, Setting};

use super::Layer;
use crate::enforcement;
use crate::evidence::{directory, file};

/// udev's rules directories, highest priority first (udev(7); `/lib/udev/rules.d` on systems
/// without a merged `/usr`).
pub(super) const UDEV_RULES_DIRS: [&str; 5] = [
    "/etc/udev/rules.d",
    "/run/udev/rules.d",
    "/usr/local/lib/udev/rules.d",
    "/usr/lib/udev/rules.d",
    "/lib/udev/rules.d",
];

/// One `KEY op "value"` of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Term {
    /// `ATTR{authorized}`, `SUBSYSTEM`, ...
    pub key: String,
    /// `==`, `!=`, `=`, `+=`, `-=`, `:=`.
    pub op: String,
    /// The value without quotes.
    pub value: String,
}

impl Term {
    fn is_match(&self) -> bool {
        self.op == "==" || self.op == "!="
    }
}

/// One rule: its first line number and its terms. `None` for a line that is not a rule.
#[must_use]
pub(super) fn parse_rule(line: &str) -> Option<Vec<Term>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut terms = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        if rest.is_empty() {
            break;
        }
        let op_at = rest.find(['=', '!', '+', '-', ':'])?;
        let key = rest[..op_at].trim().to_owned();
        let after = &rest[op_at..];
        let op = ["==", "!=", "+=", "-=", ":=", "="]
            .into_iter()
            .find(|o| after.starts_with(o))?;
        let after = after[op.len()..].trim_start();
        let body = after.strip_prefix('"')?;
        let end = body.find('"')?;
        terms.push(Term {
            key,
            op: op.to_owned(),
            value: body[..end].to_owned(),
        });
        rest = &body[end + 1..];
    }
    (!terms.is_empty()).then_some(terms)
}

/// The rule lines of a file with continuation lines (`\` at the end) joined: `(line, text)`.
fn rule_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let (start, mut joined) = pending.take().unwrap_or((i + 1, String::new()));
        let trimmed = raw.trim_end();
        if let Some(head) = trimmed.strip_suffix('\\') {
            joined.push_str(head);
            pending = Some((start, joined));
        } else {
            joined.push_str(trimmed);
            out.push((start, joined));
        }
    }
    out.extend(pending);
    out
}

fn key_is(term: &Term, names: &[&str]) -> bool {
    names.iter().any(|n| term.key.eq_ignore_ascii_case(n))
}

/// Whether a rule deauthorizes every USB mass-storage interface (see the module doc).
#[must_use]
pub(super) fn deauthorizes_mass_storage(terms: &[Term]) -> bool {
    let assigns = terms
        .iter()
        .any(|t| t.key == "ATTR{authorized}" && (t.op == "=" || t.op == ":=") && t.value == "0");
    if !assigns {
        return false;
    }
    let mut usb = false;
    let mut class = false;
    for t in terms.iter().filter(|t| t.is_match()) {
        if t.op != "==" {
            return false;
        }
        if key_is(t, &["SUBSYSTEM", "SUBSYSTEMS"]) && t.value == "usb" {
            usb = true;
        } else if key_is(t, &["ATTR{bInterfaceClass}", "ATTRS{bInterfaceClass}"]) && t.value == "08"
        {
            class = true;
        } else if (key_is(t, &["ACTION"]) && t.value == "add")
            || (key_is(t, &["ENV{DEVTYPE}"]) && t.value == "usb_interface")
        {
        } else {
            return false;
        }
    }
    usb && class
}

fn authorizes(terms: &[Term]) -> bool {
    terms
        .iter()
        .any(|t| t.key == "ATTR{authorized}" && (t.op == "=" || t.op == ":=") && t.value != "0")
}

fn hides_usb_disks(terms: &[Term]) -> bool {
    terms
        .iter()
        .any(|t| t.key == "ENV{UDISKS_IGNORE}" && t.op != "==" && t.op != "!=" && t.value == "1")
        && terms
            .iter()
            .any(|t| t.key == "ENV{ID_BUS}" && t.op == "==" && t.value == "usb")
}

/// The rules files udev reads, in reading order, from each directory's listing.
#[must_use]
pub(super) fn effective_rules_files(listings: &[(&str, Vec<String>)]) -> Vec<String> {
    let mut chosen: Vec<(String, String)> = Vec::new();
    for (dir, names) in listings {
        for name in names {
            if !name.ends_with(".rules") || chosen.iter().any(|(n, _)| n == name) {
                continue;
            }
            chosen.push((name.clone(), format!("{}/{name}", dir.trim_end_matches('/'))));
        }
    }
    chosen.sort();
    chosen.into_iter().map(|(_, p)| p).collect()
}

/// Whether a rule file (and its directory) only root can change: enforced, not enforced with
/// the reason, or unknown with the reason (the one rule of [`crate::enforcement::root_only_files`]).
pub(super) fn ownership(
    host: &dyn Host,
    path: &str,
    evidence: &mut Vec<Evidence>,
) -> (Enforced, Option<String>) {
    let (enforced, notes) =
        crate::enforcement::root_only_files(host, &[path.to_owned()], evidence);
    (enforced, (!notes.is_empty()).then(|| notes.join("; ")))
}

/// The udev layer, and into `settings` the blocking rule with its enforcement.
pub(super) fn layer(
    host: &dyn Host,
    evidence: &mut Vec<Evidence>,
    settings: &mut Vec<Setting>,
) -> Layer {
    let mut listings = Vec::new();
    let mut unreadable = Vec::new();
    for dir in UDEV_RULES_DIRS {
        match host.list_dir(dir) {
            Ok(names) => {
                let rules = names.iter().filter(|n| n.ends_with(".rules")).count();
                evidence.push(directory(dir, format!("{rules} rules file(s)")));
                listings.push((dir, names));
            }
            Err(ReadError::NotFound) => {}
            Err(e) => {
                evidence.push(directory(dir, format!("not readable: {e}")));
                unreadable.push(format!("{dir}: {e}"));
            }
        }
    }
    let mut block: Option<(String, usize, String)> = None;
    let mut reauthorized: Option<String> = None;
    let mut hidden = Vec::new();
    for path in effective_rules_files(&listings) {
        let text = match host.read_text(&path) {
            Ok(t) => t,
            Err(e) => {
                evidence.push(file(&path, None, crate::evidence::read_failure(&path, &e)));
                unreadable.push(format!("{path}: {e}"));
                continue;
            }
        };
        let mut goto = false;
        for (line, rule) in rule_lines(&text) {
            let Some(terms) = parse_rule(&rule) else {
                continue;
            };
            if terms.iter().any(|t| t.key == "GOTO") {
                goto = true;
            }
            if deauthorizes_mass_storage(&terms) {
                evidence.push(file(&path, Some(&format!("line {line}")), rule.trim().to_owned()));
                if goto {
                    evidence.push(file(
                        &path,
                        Some(&format!("line {line}")),
                        "not counted: a GOTO earlier in the file may jump past it",
                    ));
                } else if block.is_none() {
                    block = Some((path.clone(), line, rule.trim().to_owned()));
                    reauthorized = None;
                }
            } else if block.is_some() && authorizes(&terms) {
                evidence.push(file(&path, Some(&format!("line {line}")), rule.trim().to_owned()));
                reauthorized = Some(format!("{path} line {line}"));
            } else if hides_usb_disks(&terms) {
                evidence.push(file(&path, Some(&format!("line {line}")), rule.trim().to_owned()));
                hidden.push(format!("{path} line {line}"));
            }
        }
    }
    match (block, reauthorized) {
        (Some((path, line, _)), Some(later)) => Layer::DoesNotBlock(format!(
            "the udev rule in {path} line {line} deauthorizes USB mass-storage interfaces, but {later} authorizes devices again after it"
        )),
        (Some((path, line, rule)), None) => {
            let how = format!(
                "a udev rule deauthorizes USB mass-storage interfaces as they appear ({path} line {line}); a stick plugged in before udev read it stays usable until replugged"
            );
            let (enforced, note) = ownership(host, &path, evidence);
            let by = vec![enforcement::by(
                Enforcer::UDEV_RULE,
                path.clone(),
                Some(format!("line {line}: {rule}")),
                Enforcer::BY_LOCAL_ADMIN,
            )];
            let mut s = enforcement::enforced(
                "udev rule for USB mass storage",
                "deauthorized (ATTR{authorized}=\"0\")",
                path,
                by,
            );
            s.enforced = enforced;
            s.notes.extend(note);
            settings.push(s);
            Layer::Blocks(how)
        }
        (None, _) if !unreadable.is_empty() => Layer::Unknown(format!(
            "could not read all udev rules ({})",
            unreadable.join("; ")
        )),
        (None, _) if !hidden.is_empty() => Layer::DoesNotBlock(format!(
            "udev hides USB disks from the desktop's mounting (ENV{{UDISKS_IGNORE}}=\"1\" in {}), but root can still mount them",
            hidden.join(", ")
        )),
        (None, _) => Layer::DoesNotBlock(
            "no udev rule deauthorizes USB mass-storage interfaces".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mass_storage_deauthorize_rule_is_recognised_and_a_narrowed_one_is_not() {
        let rule = parse_rule(
            r#"ACTION=="add", SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_interface", ATTR{bInterfaceClass}=="08", ATTR{authorized}="0""#,
        )
        .unwrap();
        assert!(deauthorizes_mass_storage(&rule));
        let vendor = parse_rule(
            r#"ACTION=="add", SUBSYSTEMS=="usb", ATTRS{idVendor}=="0781", ATTR{bInterfaceClass}=="08", ATTR{authorized}="0""#,
        )
        .unwrap();
        assert!(!deauthorizes_mass_storage(&vendor));
        let not_class =
            parse_rule(r#"SUBSYSTEM=="usb", ATTR{bInterfaceClass}!="08", ATTR{authorized}="0""#)
                .unwrap();
        assert!(!deauthorizes_mass_storage(&not_class));
        let authorizes =
            parse_rule(r#"SUBSYSTEM=="usb", ATTR{bInterfaceClass}=="08", ATTR{authorized}="1""#)
                .unwrap();
        assert!(!deauthorizes_mass_storage(&authorizes));
        assert_eq!(parse_rule("# comment"), None);
        assert_eq!(parse_rule("LABEL=\"end"), None);
    }

    #[test]
    fn continuation_lines_join_and_etc_hides_a_library_file_of_the_same_name() {
        let lines = rule_lines("A==\"1\", \\\n  B=\"2\"\nC==\"3\"\n");
        assert_eq!(lines[0].0, 1);
        assert_eq!(parse_rule(&lines[0].1).unwrap().len(), 2);
        assert_eq!(lines[1].0, 3);
        let files = effective_rules_files(&[
            ("/etc/udev/rules.d", vec!["99-usb.rules".into(), "README".into()]),
            (
                "/usr/lib/udev/rules.d",
                vec!["99-usb.rules".into(), "60-block.rules".into()],
            ),
        ]);
        assert_eq!(
            files,
            ["/usr/lib/udev/rules.d/60-block.rules", "/etc/udev/rules.d/99-usb.rules"]
        );
    }
}
