//! Password rules of a Mac, from `pwpolicy -getaccountpolicies`: the global policy and, for the
//! user at the console, that account's own (both apply to the account).
//!
//! The output is a header line (`Getting global account policies`), then an XML property list
//! with up to three categories of rules, each a `policyContent` predicate, a `policyIdentifier`
//! and `policyParameters`:
//!
//! - `policyCategoryPasswordContent`: regular expressions on `policyAttributePassword`. The
//!   minimum length is the largest `N` of any `.{N,` (every rule must hold, so the largest
//!   wins; mSCP reads it the same way). The empty password is admitted only when every rule
//!   admits it (`'^$|.{4,}+'`, as Jamf Connect and Entra-synced Macs write) or there is no rule
//!   at all. A character class (`[0-9]`, `[A-Z]`, ...) is a composition rule.
//! - `policyCategoryAuthentication`: `policyAttributeMaximumFailedAuthentications` locks the
//!   account after that many failures (the smallest wins).
//! - `policyCategoryPasswordChange`: `policyAttributeExpiresEveryNDays`.
//! - `policyAttributePasswordHistoryDepth` anywhere in the parameters: history.
//!
//! A rule whose identifier starts with `ProfilePayload:` was installed by a configuration profile
//! (`ProfilePayload:<payload UUID>:<key>`): the installed profiles (`profiles -P`) name the
//! profile and whether the user may remove it. Any other rule is the Mac's own account policy,
//! which only an administrator changes (`pwpolicy -setglobalpolicy`): a system setting,
//! removable by a local administrator. `com.apple.defaultpasswordpolicy.fde` (`.{4,}+`) is on
//! every Mac: alone, the minimum is 4.

use posture_host::Host;
use posture_host::plist::{self, PlistValue};

use posture_schema::{Enforcer, Evidence};

use super::{Lockout, Pin, Rules, RulesFacts, Scope, ScopeKind, ScopeState, Setting, known, rule};
use crate::catalog::{self, Console};
use crate::enforcement::{self, macos::Profiles};
use crate::evidence;

/// One rule of a `pwpolicy` account policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRule {
    /// `policyCategoryPasswordContent`, `policyCategoryAuthentication`, ...
    pub category: String,
    /// `policyIdentifier`.
    pub identifier: String,
    /// `policyContent`.
    pub content: String,
    /// Integer `policyParameters`.
    pub parameters: Vec<(String, i128)>,
}

impl PolicyRule {
    fn parameter(&self, name: &str) -> Option<i128> {
        self.parameters
            .iter()
            .find_map(|(k, v)| (k == name).then_some(*v))
    }

    /// Installed by a configuration profile.
    #[must_use]
    pub fn from_profile(&self) -> bool {
        self.identifier.starts_with("ProfilePayload:")
    }

    /// The regular expression of a content rule (`policyAttributePassword matches 'RE'`).
    fn regex(&self) -> Option<&str> {
        let after = self.content.split_once("matches")?.1.trim();
        let quote = after.chars().next()?;
        if quote != '\'' && quote != '"' {
            return None;
        }
        let body = &after[1..];
        body.rfind(quote).map(|end| &body[..end])
    }
}

/// Parses `pwpolicy -getaccountpolicies` output: `Ok(vec![])` for a header with no property
/// list (an account without policies of its own), `Err` for anything unrecognised.
pub fn parse_account_policies(text: &str) -> Result<Vec<PolicyRule>, String> {
    let start = text
        .find("<?xml")
        .or_else(|| text.find("<plist"))
        .or_else(|| text.find("<!DOCTYPE"));
    let Some(start) = start else {
        let rest: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        return match rest.as_slice() {
            [] => Ok(Vec::new()),
            [header] if header.starts_with("Getting") => Ok(Vec::new()),
            _ => Err(format!(
                "no property list in the output: {}",
                rest.first().copied().unwrap_or("")
            )),
        };
    };
    let value = plist::parse_xml(&text[start..]).map_err(|e| e.to_string())?;
    let Some(dict) = value.as_dict() else {
        return Err("the property list is not a dictionary".to_owned());
    };
    let mut rules = Vec::new();
    for (category, list) in dict {
        if !category.starts_with("policyCategory") {
            continue;
        }
        let Some(items) = list.as_array() else {
            return Err(format!("{category} is not an array"));
        };
        for item in items {
            let content = item
                .get("policyContent")
                .and_then(PlistValue::as_str)
                .ok_or_else(|| format!("a rule of {category} without policyContent"))?;
            let identifier = item
                .get("policyIdentifier")
                .and_then(PlistValue::as_str)
                .unwrap_or("")
                .to_owned();
            let parameters = item
                .get("policyParameters")
                .and_then(PlistValue::as_dict)
                .map(|d| {
                    d.iter()
                        .filter_map(|(k, v)| v.as_integer().map(|n| (k.clone(), n)))
                        .collect()
                })
                .unwrap_or_default();
            rules.push(PolicyRule {
                category: category.clone(),
                identifier,
                content: content.to_owned(),
                parameters,
            });
        }
    }
    Ok(rules)
}

/// The `N` of every `.{N,` in a regular expression.
fn lengths_in(re: &str) -> Vec<u32> {
    re.match_indices(".{")
        .filter_map(|(i, _)| {
            let rest = &re[i + 2..];
            let end = rest.find([',', '}'])?;
            rest[..end].trim().parse().ok()
        })
        .collect()
}

/// Whether a content regex accepts the empty string: an empty alternative (`^$|...`,
/// `...|^$`), or a length of 0 for the whole password (`.{0,}`, `.*`).
fn admits_empty(re: &str) -> bool {
    let alternatives: Vec<&str> = re.split('|').collect();
    alternatives.iter().any(|a| {
        let a = a.trim();
        matches!(a, "^$" | "" | "^.*$" | ".*" | "^.*" | ".*$")
            || (a.trim_start_matches('^').starts_with(".{0,")
                && !a.contains('['))
    })
}

/// The rules of one account, from all the policy rules that apply to it.
#[must_use]
pub fn rules_from(policies: &[PolicyRule], source: &str) -> Rules {
    let content: Vec<&PolicyRule> = policies
        .iter()
        .filter(|r| r.category == "policyCategoryPasswordContent")
        .collect();
    let mut min: Option<(u32, String)> = None;
    let mut all_admit_empty = true;
    let mut forced = Vec::new();
    for rule in &content {
        let re = rule.regex().unwrap_or("");
        let n = lengths_in(re)
            .into_iter()
            .max()
            .or_else(|| {
                rule.parameter("minimumLength")
                    .and_then(|v| u32::try_from(v).ok())
            })
            .unwrap_or(0);
        if min.as_ref().is_none_or(|(m, _)| n > *m) {
            min = Some((n, format!("{source}: {} `{re}`", rule.identifier)));
        }
        if !admits_empty(re) {
            all_admit_empty = false;
        }
        if re.contains('[') {
            forced.push(format!("{} `{re}`", rule.identifier));
        }
    }
    let min_length = match min {
        Some((n, s)) => known(n, s),
        None => known(0, format!("{source}: no password content rule")),
    };
    let empty_password = if content.is_empty() {
        known(true, format!("{source}: no content rule, so an empty password is accepted"))
    } else if all_admit_empty {
        known(
            true,
            format!("{source}: every content rule admits the empty string (`^$|`)"),
        )
    } else {
        known(false, format!("{source}: a content rule needs at least one character"))
    };
    let lockout: Setting<Lockout> = match policies
        .iter()
        .filter_map(|r| {
            r.parameter("policyAttributeMaximumFailedAuthentications")
                .map(|n| (n, r))
        })
        .min_by_key(|(n, _)| *n)
    {
        Some((n, r)) if n > 0 => known(
            Lockout::After(u32::try_from(n).unwrap_or(u32::MAX)),
            format!(
                "{source}: {} policyAttributeMaximumFailedAuthentications {n}",
                r.identifier
            ),
        ),
        _ => known(
            Lockout::Never,
            format!("{source}: no policyAttributeMaximumFailedAuthentications rule"),
        ),
    };
    let history = match policies
        .iter()
        .filter_map(|r| r.parameter("policyAttributePasswordHistoryDepth"))
        .max()
    {
        Some(n) => known(
            u32::try_from(n.max(0)).unwrap_or(u32::MAX),
            format!("{source}: policyAttributePasswordHistoryDepth"),
        ),
        None => known(0, format!("{source}: no policyAttributePasswordHistoryDepth")),
    };
    let max_age_days = match policies
        .iter()
        .filter_map(|r| r.parameter("policyAttributeExpiresEveryNDays"))
        .filter(|n| *n > 0)
        .min()
    {
        Some(n) => known(
            Some(u64::try_from(n).unwrap_or(u64::MAX)),
            format!("{source}: policyAttributeExpiresEveryNDays"),
        ),
        None => known(None, format!("{source}: no policyAttributeExpiresEveryNDays")),
    };
    let composition = if forced.is_empty() {
        known(None, format!("{source}: no character-class rule"))
    } else {
        known(Some(forced.join(", ")), source.to_owned())
    };
    Rules {
        second_factor: None,
        min_length: Some(min_length),
        empty_password: Some(empty_password),
        lockout: Some(lockout),
        history: Some(history),
        max_age_days: Some(max_age_days),
        composition: Some(composition),
        pin_min_length: None,
        pins: Vec::new(),
    }
}

/// The identifiers of the rules that decide each field [`rules_from`] fills, chosen the same
/// way (the largest minimum, the smallest lockout, ...); an empty list where no rule decides it.
#[must_use]
pub fn deciding_rules(policies: &[PolicyRule]) -> Vec<(&'static str, Vec<String>)> {
    let content: Vec<&PolicyRule> = policies
        .iter()
        .filter(|r| r.category == "policyCategoryPasswordContent")
        .collect();
    let mut min: Option<(u32, &PolicyRule)> = None;
    for r in &content {
        let re = r.regex().unwrap_or("");
        let n = lengths_in(re)
            .into_iter()
            .max()
            .or_else(|| r.parameter("minimumLength").and_then(|v| u32::try_from(v).ok()))
            .unwrap_or(0);
        if min.as_ref().is_none_or(|(m, _)| n > *m) {
            min = Some((n, r));
        }
    }
    let ids = |rules: Vec<&PolicyRule>| rules.iter().map(|r| r.identifier.clone()).collect();
    let by_parameter = |name: &str, largest: bool| -> Vec<String> {
        let found = policies
            .iter()
            .filter_map(|r| r.parameter(name).map(|n| (n, r)))
            .filter(|(n, _)| *n > 0);
        let chosen = if largest {
            found.max_by_key(|(n, _)| *n)
        } else {
            found.min_by_key(|(n, _)| *n)
        };
        chosen.map(|(_, r)| vec![r.identifier.clone()]).unwrap_or_default()
    };
    vec![
        (rule::MIN_LENGTH, ids(min.map(|(_, r)| r).into_iter().collect())),
        (rule::EMPTY_PASSWORD, ids(content.clone())),
        (
            rule::LOCKOUT,
            by_parameter("policyAttributeMaximumFailedAuthentications", false),
        ),
        (
            rule::HISTORY,
            by_parameter("policyAttributePasswordHistoryDepth", true),
        ),
        (
            rule::MAX_AGE_DAYS,
            by_parameter("policyAttributeExpiresEveryNDays", false),
        ),
        (
            rule::COMPOSITION,
            ids(content
                .iter()
                .copied()
                .filter(|r| r.regex().unwrap_or("").contains('['))
                .collect()),
        ),
    ]
}

/// What sets each field: the profiles behind `ProfilePayload:` rules, the Mac's own account
/// policy for the others; nothing where no rule decides it (macOS's default).
fn pins(policies: &[PolicyRule], profiles: &Profiles<'_>, ev: &mut Vec<Evidence>) -> Vec<(&'static str, Pin)> {
    deciding_rules(policies)
        .into_iter()
        .map(|(field, ids)| {
            if ids.is_empty() {
                return (field, Pin::nothing("no rule sets it: macOS's default, which nothing pins"));
            }
            let mut by = Vec::new();
            let mut notes = Vec::new();
            for id in ids {
                let payload = id
                    .strip_prefix("ProfilePayload:")
                    .map(|rest| rest.split(':').next().unwrap_or(rest).to_owned());
                match payload {
                    Some(uuid) => {
                        let (e, note) = profiles.payload_enforcer(&uuid, ev);
                        notes.extend(note);
                        by.push(e);
                    }
                    None => by.push(enforcement::by(
                        Enforcer::SYSTEM_SETTING,
                        if id.is_empty() { "pwpolicy".to_owned() } else { id.clone() },
                        Some(if id == "com.apple.defaultpasswordpolicy.fde" {
                            "macOS's default account policy".to_owned()
                        } else {
                            "the Mac's own account policy (pwpolicy)".to_owned()
                        }),
                        Enforcer::BY_LOCAL_ADMIN,
                    )),
                }
            }
            by.dedup();
            (field, Pin::by(by, notes))
        })
        .collect()
}

/// Runs one `pwpolicy` and parses it, recording what was seen.
fn run_pwpolicy(
    host: &dyn Host,
    spec: &posture_host::CommandSpec,
    ev: &mut Vec<posture_schema::Evidence>,
    subject: &str,
) -> Result<Vec<PolicyRule>, String> {
    let out = evidence::run_ok(host, spec, ev)?;
    match parse_account_policies(&out.stdout) {
        Ok(rules) => {
            let profile: Vec<&str> = rules
                .iter()
                .filter(|r| r.from_profile())
                .map(|r| r.identifier.as_str())
                .collect();
            ev.push(evidence::about(
                evidence::command(
                    spec,
                    None,
                    format!(
                        "{} rules ({}); installed by a configuration profile: {}",
                        rules.len(),
                        rules
                            .iter()
                            .map(|r| r.identifier.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        if profile.is_empty() {
                            "none".to_owned()
                        } else {
                            profile.join(", ")
                        }
                    ),
                ),
                subject,
            ));
            Ok(rules)
        }
        Err(e) => {
            let why = format!("{}: {e}", evidence::command_name(spec));
            ev.push(evidence::about(evidence::command(spec, None, why.clone()), subject));
            Err(why)
        }
    }
}

pub(super) fn gather(host: &dyn Host) -> RulesFacts {
    let mut ev = Vec::new();
    let mut scopes = Vec::new();
    let global_spec = catalog::macos_pwpolicy_global();
    let global = run_pwpolicy(host, &global_spec, &mut ev, "global");
    let profiles = Profiles::new(host);
    let console = catalog::macos_console(host, &mut ev);
    match (global, console) {
        (Err(why), _) => scopes.push(Scope {
            kind: ScopeKind::Machine,
            name: "local accounts".to_owned(),
            state: ScopeState::Unknown(why),
        }),
        (Ok(global), Ok(Console::User(user))) => {
            let spec = catalog::macos_pwpolicy_user(&user);
            let state = match run_pwpolicy(host, &spec, &mut ev, user.name()) {
                Ok(own) => {
                    let mut all = global;
                    all.extend(own);
                    let mut rules = rules_from(
                        &all,
                        &format!("pwpolicy (global and {}'s own)", user.name()),
                    );
                    rules.pins = pins(&all, &profiles, &mut ev);
                    ScopeState::Rules(Box::new(rules))
                }
                Err(why) => ScopeState::Unknown(why),
            };
            scopes.push(Scope {
                kind: ScopeKind::Account,
                name: user.name().to_owned(),
                state,
            });
        }
        (Ok(global), _) => scopes.push(Scope {
            kind: ScopeKind::Machine,
            name: "local accounts".to_owned(),
            state: ScopeState::Rules(Box::new({
                let mut rules = rules_from(&global, "pwpolicy (global)");
                rules.pins = pins(&global, &profiles, &mut ev);
                rules
            })),
        }),
    }
    RulesFacts {
        scopes,
        evidence: ev,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_length_wins_and_an_empty_alternative_admits_the_empty_password() {
        assert_eq!(lengths_in(".{15,}+"), [15]);
        assert_eq!(lengths_in("^$|.{4,}+"), [4]);
        assert!(admits_empty("^$|.{4,}+"));
        assert!(!admits_empty(".{4,}+"));
        assert!(admits_empty(".{0,}"));
        assert!(!admits_empty("(.*[0-9].*){1,}+"));
    }

    #[test]
    fn output_without_a_property_list_is_empty_only_for_the_bare_header() {
        assert_eq!(
            parse_account_policies("Getting account policies for user jdoe\n"),
            Ok(vec![])
        );
        assert!(parse_account_policies("pwpolicy: unknown user\n").is_err());
    }
}
