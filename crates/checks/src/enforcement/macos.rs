//! macOS: what stands behind a value in `/Library/Managed Preferences`.
//!
//! macOS writes the payloads of installed configuration profiles there, device-wide and per user,
//! and treats every value in those files as forced. Three origins look alike in the file:
//!
//! - a profile installed by an MDM: the installed profiles (`profiles -P -o stdout-xml`, as root)
//!   list a payload with the file's `PayloadUUID` (or, for files without one, a payload of the
//!   same preference domain setting the key). `ProfileRemovalDisallowed` (a *string* `"true"` in
//!   that output, a boolean on some versions) says whether the user may remove it; absent, it is
//!   not known;
//! - a profile installed by hand: the file holds `_manualProfile`; any administrator can remove it;
//! - local MCX or a file written by hand (Munki's local MCX, a README's `sudo cp`): no installed
//!   profile carries it; it is forced until an administrator deletes it, and nothing re-applies
//!   it. It is reported as such, never as MDM.
//!
//! The profile list is read once per run, and only when a managed value is found.

use std::cell::OnceCell;

use posture_host::Host;
use posture_host::plist::{self, PlistValue};
use posture_schema::{Enforcer, Evidence};

use crate::catalog;
use crate::evidence;

/// One installed configuration profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// `ProfileIdentifier`.
    pub identifier: String,
    /// `ProfileDisplayName`.
    pub display_name: Option<String>,
    /// `ProfileRemovalDisallowed`: `None` when the output does not say.
    pub removal_disallowed: Option<bool>,
    /// The profile's payloads.
    pub payloads: Vec<Payload>,
    /// `_computerlevel`, or the user name it is installed for.
    pub scope: String,
}

/// One payload of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// `PayloadUUID`.
    pub uuid: Option<String>,
    /// `PayloadType`: the preference domain for custom-settings and most settings payloads.
    pub kind: Option<String>,
    /// The keys of its `PayloadContent`.
    pub keys: Vec<String>,
}

/// Parses `profiles -P -o stdout-xml` (the shape `-C` prints too): a dictionary whose keys are `_computerlevel`
/// and user names, each an array of profile dictionaries. `None` when it is not that shape.
#[must_use]
pub fn parse_profiles(text: &str) -> Option<Vec<Profile>> {
    // Without any profile `profiles` prints a sentence rather than a plist (assumed from its
    // plain-text listing, "There are no configuration profiles installed").
    if text
        .to_ascii_lowercase()
        .contains("no configuration profiles")
    {
        return Some(Vec::new());
    }
    let root = plist::parse_xml(text).ok()?;
    let mut profiles = Vec::new();
    for (scope, list) in root.as_dict()? {
        for p in list.as_array()? {
            let identifier = p.get("ProfileIdentifier")?.as_str()?.to_owned();
            let removal_disallowed = match p.get("ProfileRemovalDisallowed") {
                None => None,
                Some(PlistValue::Bool(b)) => Some(*b),
                Some(PlistValue::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
                Some(PlistValue::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
                Some(_) => None,
            };
            let payloads = p
                .get("ProfileItems")
                .and_then(PlistValue::as_array)
                .unwrap_or_default()
                .iter()
                .map(|item| Payload {
                    uuid: item
                        .get("PayloadUUID")
                        .and_then(PlistValue::as_str)
                        .map(str::to_owned),
                    kind: item
                        .get("PayloadType")
                        .and_then(PlistValue::as_str)
                        .map(str::to_owned),
                    keys: item
                        .get("PayloadContent")
                        .and_then(PlistValue::as_dict)
                        .map(|d| d.keys().cloned().collect())
                        .unwrap_or_default(),
                })
                .collect();
            profiles.push(Profile {
                identifier,
                display_name: p
                    .get("ProfileDisplayName")
                    .and_then(PlistValue::as_str)
                    .map(str::to_owned),
                removal_disallowed,
                payloads,
                scope: scope.clone(),
            });
        }
    }
    Some(profiles)
}

/// The installed profiles, listed at most once per run.
pub struct Profiles<'h> {
    host: &'h dyn Host,
    listed: OnceCell<Result<Vec<Profile>, String>>,
}

impl<'h> Profiles<'h> {
    /// Nothing is run until a managed value needs its origin.
    #[must_use]
    pub fn new(host: &'h dyn Host) -> Self {
        Self {
            host,
            listed: OnceCell::new(),
        }
    }

    fn list(&self, ev: &mut Vec<Evidence>) -> &Result<Vec<Profile>, String> {
        if self.listed.get().is_none() {
            let spec = catalog::macos_installed_profiles();
            let got = match evidence::run_ok(self.host, &spec, ev) {
                Ok(out) => match parse_profiles(&out.stdout) {
                    Some(list) => {
                        let names: Vec<&str> = list.iter().map(|p| p.identifier.as_str()).collect();
                        ev.push(evidence::command(
                            &spec,
                            None,
                            if names.is_empty() {
                                "no configuration profile is installed".to_owned()
                            } else {
                                format!("installed profiles: {}", names.join(", "))
                            },
                        ));
                        Ok(list)
                    }
                    None => Err(evidence::unrecognised(&spec, &out.stdout, ev, None)),
                },
                Err(why) => Err(why),
            };
            let _ = self.listed.set(got);
        }
        self.listed
            .get()
            .expect("the list was set just above when it was empty")
    }

    /// The profile that installed the payload `uuid` (a rule `pwpolicy` names
    /// `ProfilePayload:UUID:...`), with a note when its removability is not certain or no
    /// installed profile carries it.
    pub fn payload_enforcer(
        &self,
        uuid: &str,
        ev: &mut Vec<Evidence>,
    ) -> (Enforcer, Option<String>) {
        let listed = self.list(ev);
        let profile = listed.as_ref().ok().and_then(|list| {
            list.iter().find(|p| {
                p.payloads.iter().any(|x| {
                    x.uuid
                        .as_deref()
                        .is_some_and(|v| v.eq_ignore_ascii_case(uuid))
                })
            })
        });
        let unlisted = || {
            super::by(
                Enforcer::MANAGED_PREFERENCE,
                uuid,
                None,
                Enforcer::BY_UNKNOWN,
            )
        };
        match (listed, profile) {
            (_, Some(p)) => removal(p),
            (Ok(_), None) => (
                unlisted(),
                Some(format!(
                    "a profile's payload {uuid} set it, but no installed profile carries that payload now"
                )),
            ),
            (Err(why), None) => (
                unlisted(),
                Some(format!(
                    "a profile's payload {uuid} set it; which profile is unknown: {why}"
                )),
            ),
        }
    }

    /// What stands behind `key` of a Managed Preferences file (`plist` read from `path`, for
    /// preference `domain`), with a note when its origin or removability is not certain.
    pub fn enforcer(
        &self,
        path: &str,
        plist: &PlistValue,
        domain: &str,
        key: &str,
        ev: &mut Vec<Evidence>,
    ) -> (Enforcer, Option<String>) {
        let payload_uuid = plist.get("PayloadUUID").and_then(PlistValue::as_str);
        let manual = plist.get("_manualProfile").is_some();
        let listed = self.list(ev);
        let profile = listed.as_ref().ok().and_then(|list| {
            let by_uuid = payload_uuid.and_then(|u| {
                list.iter().find(|p| {
                    p.payloads
                        .iter()
                        .any(|x| x.uuid.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(u)))
                })
            });
            by_uuid.or_else(|| {
                list.iter().find(|p| {
                    p.payloads.iter().any(|x| {
                        x.kind.as_deref() == Some(domain) && x.keys.iter().any(|k| k == key)
                    })
                })
            })
        });
        let named = |kind: &str, removable: &str| Enforcer {
            kind: kind.to_owned(),
            id: profile.map_or_else(|| path.to_owned(), |p| p.identifier.clone()),
            name: profile.and_then(|p| p.display_name.clone()),
            removable_by: removable.to_owned(),
            value: None,
        };
        if manual {
            return (
                named(Enforcer::MANUAL_PROFILE, Enforcer::BY_LOCAL_ADMIN),
                Some(format!(
                    "{path} holds _manualProfile: the profile was installed by hand, and any administrator can remove it"
                )),
            );
        }
        match (listed, profile) {
            (_, Some(p)) => removal(p),
            (Ok(_), None) => (
                Enforcer {
                    kind: Enforcer::LOCAL_MCX.to_owned(),
                    id: path.to_owned(),
                    name: None,
                    removable_by: Enforcer::BY_LOCAL_ADMIN.to_owned(),
                    value: None,
                },
                Some(format!(
                    "no installed profile carries {path}: local MCX or a file written by hand; it holds until an administrator deletes it, and nothing re-applies it"
                )),
            ),
            (Err(why), None) => (
                Enforcer {
                    kind: Enforcer::MANAGED_PREFERENCE.to_owned(),
                    id: path.to_owned(),
                    name: None,
                    removable_by: Enforcer::BY_UNKNOWN.to_owned(),
                    value: None,
                },
                Some(format!(
                    "which profile, if any, wrote {path} is unknown: {why}"
                )),
            ),
        }
    }
}

/// An installed profile as the enforcer, removable as its `ProfileRemovalDisallowed` says.
fn removal(p: &Profile) -> (Enforcer, Option<String>) {
    let named = |removable: &str| Enforcer {
        kind: Enforcer::MDM_PROFILE.to_owned(),
        id: p.identifier.clone(),
        name: p.display_name.clone(),
        removable_by: removable.to_owned(),
        value: None,
    };
    match p.removal_disallowed {
        Some(true) => (named(Enforcer::BY_MANAGEMENT), None),
        Some(false) => (
            named(Enforcer::BY_LOCAL_ADMIN),
            Some(format!(
                "profile {} allows removal (ProfileRemovalDisallowed false)",
                p.identifier
            )),
        ),
        None => (
            named(Enforcer::BY_UNKNOWN),
            Some(format!(
                "profile {} does not say whether it may be removed (no ProfileRemovalDisallowed)",
                p.identifier
            )),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of macadmins/osquery-extension's recorded `profiles -C -o stdout-xml`
    /// (tables/macos_profiles/test_profiles_stdout.plist), one profile with the string flag.
    const LISTED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>_computerlevel</key>
	<array>
		<dict>
			<key>ProfileDisplayName</key>
			<string>Screen Saver</string>
			<key>ProfileIdentifier</key>
			<string>com.acme.mdm.screensaver</string>
			<key>ProfileItems</key>
			<array>
				<dict>
					<key>PayloadContent</key>
					<dict>
						<key>idleTime</key>
						<integer>600</integer>
					</dict>
					<key>PayloadType</key>
					<string>com.apple.screensaver</string>
					<key>PayloadUUID</key>
					<string>5B8E3C9A-1F2D-4A57-9C3E-2D8B7F6A1E00</string>
				</dict>
			</array>
			<key>ProfileRemovalDisallowed</key>
			<string>true</string>
		</dict>
	</array>
</dict>
</plist>
"#;

    #[test]
    fn removal_disallowed_is_read_from_its_string_form() {
        let list = parse_profiles(LISTED).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].removal_disallowed, Some(true));
        assert_eq!(list[0].scope, "_computerlevel");
        assert_eq!(list[0].payloads[0].keys, ["idleTime"]);
        let absent = LISTED.replace(
            "<key>ProfileRemovalDisallowed</key>\n\t\t\t<string>true</string>\n",
            "",
        );
        assert_eq!(parse_profiles(&absent).unwrap()[0].removal_disallowed, None);
    }

    #[test]
    fn output_that_is_not_a_profile_list_is_unrecognised() {
        assert_eq!(parse_profiles(""), None);
        assert_eq!(parse_profiles("profiles: usage"), None);
        assert_eq!(
            parse_profiles("There are no configuration profiles installed\n"),
            Some(Vec::new())
        );
        let no_id = LISTED.replace("ProfileIdentifier", "Other");
        assert_eq!(parse_profiles(&no_id), None);
    }
}
