//! The USBGuard layer: does the daemon reject mass-storage interfaces (class 08)?
//!
//! Rules are read in order and the first that matches a device decides; no match falls to
//! `ImplicitPolicyTarget`. Nothing is enforced unless `usbguard-daemon` runs: that is seen as a
//! process named `usbguard-daemon` in `/proc/*/comm`, or, when `/proc` cannot be listed, only as
//! a systemd enablement link.

use posture_host::{Host, ReadError};
use posture_schema::Evidence;

use super::Layer;
use crate::evidence::{derived, directory, file};

const DAEMON_CONF: &str = "/etc/usbguard/usbguard-daemon.conf";

/// The daemon settings that matter here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct DaemonConf {
    /// `ImplicitPolicyTarget`: `allow`, `block` or `reject`.
    pub implicit_target: Option<String>,
    /// `RuleFile`.
    pub rule_file: Option<String>,
    /// `RuleFolder`.
    pub rule_folder: Option<String>,
}

/// Parses `usbguard-daemon.conf` (`Key=Value` lines, `#` comments).
pub(super) fn parse_daemon_conf(text: &str) -> DaemonConf {
    let mut conf = DaemonConf::default();
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().to_owned();
        match key.trim() {
            "ImplicitPolicyTarget" => conf.implicit_target = Some(value),
            "RuleFile" if !value.is_empty() => conf.rule_file = Some(value),
            "RuleFolder" if !value.is_empty() => conf.rule_folder = Some(value),
            _ => {}
        }
    }
    conf
}

/// What a rule does to a mass-storage device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RuleEffect {
    /// An `allow` rule that can match a mass-storage device.
    AllowsStorage,
    /// A `block`/`reject` rule that matches every mass-storage device.
    StopsAllStorage,
    /// Anything else: it does not decide for mass storage in general.
    Neither,
}

/// Judges one rule line for mass storage. An `allow` rule allows storage unless it limits
/// interfaces to a set without class 08 (or excludes class 08 with `none-of`); a `block` or
/// `reject` rule stops all storage only when its sole condition is a class-08 interface.
pub(super) fn rule_effect(line: &str) -> RuleEffect {
    let line = line.trim();
    let mut words = line.split_ascii_whitespace();
    let target = words.next().unwrap_or_default();
    let rest: Vec<&str> = words.collect();
    let iface_at = rest.iter().position(|w| *w == "with-interface");
    let interfaces = iface_at.map(|i| interface_clause(&rest[i + 1..]));
    match target {
        "allow" => match interfaces {
            None => RuleEffect::AllowsStorage,
            Some((op, patterns)) => {
                let storage = patterns.iter().any(|p| is_storage_pattern(p));
                let allows = if op == "none-of" { !storage } else { storage };
                if allows {
                    RuleEffect::AllowsStorage
                } else {
                    RuleEffect::Neither
                }
            }
        },
        "block" | "reject" => match (iface_at, interfaces) {
            (Some(0), Some((op, patterns)))
                if matches!(op.as_str(), "" | "one-of")
                    && patterns.iter().any(|p| is_storage_pattern(p))
                    && clause_is_whole_rule(&rest) =>
            {
                RuleEffect::StopsAllStorage
            }
            _ => RuleEffect::Neither,
        },
        _ => RuleEffect::Neither,
    }
}

/// The operator ("" for a single pattern) and the patterns after `with-interface`.
fn interface_clause(words: &[&str]) -> (String, Vec<String>) {
    let mut op = String::new();
    let mut i = 0;
    if let Some(w) = words.first()
        && matches!(
            *w,
            "one-of" | "all-of" | "none-of" | "equals" | "equals-ordered"
        )
    {
        op = (*w).to_owned();
        i = 1;
    }
    let mut patterns = Vec::new();
    if words.get(i).is_some_and(|w| w.starts_with('{')) {
        // A set: everything up to the closing brace.
        for w in &words[i..] {
            let t = w.trim_matches(|c| c == '{' || c == '}');
            if !t.is_empty() {
                patterns.push(t.to_owned());
            }
            if w.ends_with('}') {
                break;
            }
        }
    } else if let Some(w) = words.get(i) {
        patterns.push((*w).to_owned());
    }
    (op, patterns)
}

/// Whether the with-interface clause is all the rule says (no id, hash, port or condition).
fn clause_is_whole_rule(rest: &[&str]) -> bool {
    let mut depth = 0;
    let mut after = Vec::new();
    let mut seen_pattern = false;
    for w in rest.iter().skip(1) {
        if depth == 0 && seen_pattern {
            after.push(*w);
            continue;
        }
        if matches!(
            *w,
            "one-of" | "all-of" | "none-of" | "equals" | "equals-ordered"
        ) && depth == 0
        {
            continue;
        }
        if w.starts_with('{') {
            depth += 1;
        }
        if w.ends_with('}') {
            depth -= 1;
            if depth <= 0 {
                seen_pattern = true;
                depth = 0;
            }
            continue;
        }
        if depth == 0 {
            seen_pattern = true;
        }
    }
    after.is_empty()
}

/// `08:*:*`, `08:06:50`, `*:*:*`: a pattern that matches a mass-storage interface.
fn is_storage_pattern(p: &str) -> bool {
    let class = p.split(':').next().unwrap_or_default();
    class == "08" || class == "*"
}

/// The USBGuard layer, with what was checked.
pub(super) fn layer(host: &dyn Host, evidence: &mut Vec<Evidence>) -> Layer {
    let conf_text = match host.read_text(DAEMON_CONF) {
        Ok(t) => t,
        Err(ReadError::NotFound) => {
            evidence.push(file(DAEMON_CONF, None, "absent: USBGuard is not installed"));
            return Layer::DoesNotBlock("USBGuard is not installed".to_owned());
        }
        Err(e) => {
            let why = crate::evidence::read_failure(DAEMON_CONF, &e);
            evidence.push(file(DAEMON_CONF, None, why.clone()));
            return Layer::Unknown(format!("USBGuard is installed but {why} (run as root)"));
        }
    };
    let conf = parse_daemon_conf(&conf_text);
    evidence.push(file(
        DAEMON_CONF,
        Some("ImplicitPolicyTarget"),
        conf.implicit_target
            .clone()
            .unwrap_or_else(|| "(not set)".to_owned()),
    ));

    let running = match daemon_state(host, evidence) {
        Ok(state) => state,
        Err(layer) => return layer,
    };

    let mut rule_files = Vec::new();
    if let Some(f) = &conf.rule_file {
        rule_files.push(f.clone());
    }
    if let Some(dir) = &conf.rule_folder {
        match host.list_dir(dir) {
            Ok(names) => {
                evidence.push(directory(dir, names.join(" ")));
                rule_files.extend(
                    names
                        .iter()
                        .map(|n| format!("{}/{n}", dir.trim_end_matches('/'))),
                );
            }
            Err(ReadError::NotFound) => {}
            Err(e) => {
                evidence.push(directory(dir, format!("not readable: {e}")));
                return Layer::Unknown(format!(
                    "could not list the USBGuard rule folder {dir}: {e}"
                ));
            }
        }
    }
    for path in &rule_files {
        let text = match host.read_text(path) {
            Ok(t) => t,
            Err(ReadError::NotFound) => continue,
            Err(e) => {
                evidence.push(file(path, None, crate::evidence::read_failure(path, &e)));
                return Layer::Unknown(format!("could not read the USBGuard rules {path}: {e}"));
            }
        };
        for (index, line) in text.lines().enumerate() {
            let rule = line.trim();
            if rule.is_empty() || rule.starts_with('#') {
                continue;
            }
            let at = format!("{path} line {}", index + 1);
            match rule_effect(rule) {
                RuleEffect::AllowsStorage => {
                    evidence.push(file(path, Some(&format!("line {}", index + 1)), rule));
                    return Layer::DoesNotBlock(format!(
                        "USBGuard rule `{rule}` ({at}) allows USB mass storage"
                    ));
                }
                RuleEffect::StopsAllStorage => {
                    evidence.push(file(path, Some(&format!("line {}", index + 1)), rule));
                    return running.decide(format!(
                        "USBGuard rule `{rule}` ({at}) rejects mass-storage interfaces"
                    ));
                }
                RuleEffect::Neither => {}
            }
        }
    }
    match conf.implicit_target.as_deref() {
        Some("block" | "reject") => running.decide(format!(
            "USBGuard's ImplicitPolicyTarget is {} and no rule allows mass-storage interfaces (class 08)",
            conf.implicit_target.as_deref().unwrap_or_default()
        )),
        Some(other) => Layer::DoesNotBlock(format!(
            "USBGuard's ImplicitPolicyTarget is {other:?}: devices no rule names are allowed"
        )),
        None => Layer::Unknown(format!(
            "{DAEMON_CONF} does not set ImplicitPolicyTarget, so what USBGuard does with mass storage is not written down"
        )),
    }
}

/// Whether the daemon enforces its policy, as far as files show.
enum Running {
    /// A `usbguard-daemon` process was seen.
    Seen(String),
    /// `/proc` could not be listed; the service is enabled at boot.
    EnabledOnly(String),
}

impl Running {
    fn decide(&self, rule: String) -> Layer {
        match self {
            Self::Seen(how) => Layer::Blocks(format!("{rule}, and {how}")),
            Self::EnabledOnly(how) => Layer::Blocks(format!(
                "{rule}; {how} (whether it runs now could not be checked)"
            )),
        }
    }
}

/// Looks for a running `usbguard-daemon` in `/proc/*/comm`, then for a systemd enablement link.
/// Returns the layer directly when the daemon is not running.
fn daemon_state(host: &dyn Host, evidence: &mut Vec<Evidence>) -> Result<Running, Layer> {
    let enabled = enablement_link(host);
    match host.list_dir("/proc") {
        Ok(entries) => {
            for pid in entries
                .iter()
                .filter(|e| e.bytes().all(|b| b.is_ascii_digit()))
            {
                let comm = format!("/proc/{pid}/comm");
                if host
                    .read_text(&comm)
                    .is_ok_and(|c| c.trim() == "usbguard-daemon")
                {
                    evidence.push(file(&comm, None, "usbguard-daemon"));
                    return Ok(Running::Seen(format!("usbguard-daemon runs (pid {pid})")));
                }
            }
            evidence.push(directory("/proc", "no process named usbguard-daemon"));
            Err(Layer::DoesNotBlock(match enabled {
                Some(link) => format!(
                    "USBGuard is enabled ({link}) but usbguard-daemon is not running, so nothing enforces its rules"
                ),
                None => "USBGuard is installed but usbguard-daemon is not running and not enabled"
                    .to_owned(),
            }))
        }
        Err(e) => {
            evidence.push(directory("/proc", format!("not readable: {e}")));
            match enabled {
                Some(link) => {
                    evidence.push(derived(&link, "usbguard.service is enabled"));
                    Ok(Running::EnabledOnly(format!("usbguard.service is enabled ({link})")))
                }
                None => Err(Layer::DoesNotBlock(
                    "USBGuard is installed but usbguard.service is not enabled in /etc/systemd/system".to_owned(),
                )),
            }
        }
    }
}

/// `/etc/systemd/system/<target>.wants/usbguard.service`, when one exists.
fn enablement_link(host: &dyn Host) -> Option<String> {
    let base = "/etc/systemd/system";
    let dirs = host.list_dir(base).ok()?;
    dirs.iter().filter(|d| d.ends_with(".wants")).find_map(|d| {
        let link = format!("{base}/{d}/usbguard.service");
        host.read_link(&link).is_ok().then_some(link)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_reject_of_class_08_stops_all_storage() {
        assert_eq!(
            rule_effect("reject with-interface one-of { 08:*:* }"),
            RuleEffect::StopsAllStorage
        );
        assert_eq!(
            rule_effect("block with-interface 08:*:*"),
            RuleEffect::StopsAllStorage
        );
        // Limited to one device: it does not stop the others.
        assert_eq!(
            rule_effect("block id 0951:1666 with-interface 08:06:50"),
            RuleEffect::Neither
        );
    }

    #[test]
    fn allow_rules_allow_storage_unless_their_interfaces_exclude_it() {
        assert_eq!(
            rule_effect("allow with-interface equals { 08:*:* }"),
            RuleEffect::AllowsStorage
        );
        assert_eq!(
            rule_effect("allow id 0951:1666 serial \"E0D5\""),
            RuleEffect::AllowsStorage
        );
        assert_eq!(
            rule_effect("allow with-interface equals { 09:00:* }"),
            RuleEffect::Neither
        );
        assert_eq!(
            rule_effect("allow with-interface one-of { 03:00:01 03:01:01 }"),
            RuleEffect::Neither
        );
        assert_eq!(
            rule_effect("allow with-interface none-of { 08:*:* }"),
            RuleEffect::Neither
        );
        assert_eq!(
            rule_effect("allow with-interface none-of { 03:*:* }"),
            RuleEffect::AllowsStorage
        );
    }

    #[test]
    fn daemon_conf_keys_are_read() {
        let c = parse_daemon_conf(
            "# x\nRuleFile=/etc/usbguard/rules.conf\nImplicitPolicyTarget=block\nRuleFolder=\n",
        );
        assert_eq!(c.implicit_target.as_deref(), Some("block"));
        assert_eq!(c.rule_file.as_deref(), Some("/etc/usbguard/rules.conf"));
        assert_eq!(c.rule_folder, None);
    }

    proptest! {
        #[test]
        fn usbguard_parsers_never_panic(text in "\\PC*") {
            let _ = parse_daemon_conf(&text);
            let _ = rule_effect(&text);
        }

        #[test]
        fn rule_parser_never_panics_on_rule_like_lines(
            line in "(allow|block|reject) ?(with-interface)? ?(one-of|none-of|equals)? ?[{}]? ?([0-9*]{1,2}:[0-9*]{1,2}:[0-9*]{1,2} ?){0,3}[{}]? ?(id [0-9a-f:]{0,9})?"
        ) {
            let _ = rule_effect(&line);
        }
    }
}
