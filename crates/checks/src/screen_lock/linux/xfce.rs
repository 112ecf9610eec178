//! Xfce: judged only with xfce4-screensaver, from its xfconf channel.
//!
//! Xfce has no single locker. xfce4-screensaver is judged when its autostart entry is installed
//! and not hidden by the user; light-locker (which needs LightDM and the X screensaver timeout)
//! and xscreensaver (whose default is not to lock) are reported as unknown. Properties and
//! defaults are xfce4-screensaver's (src/gs-prefs.h): idle activation needs `/saver/enabled`
//! and `/saver/idle-activation/enabled`; the lock needs `/lock/enabled` and
//! `/lock/saver-activation/enabled`; both delays are minutes.

use std::collections::HashMap;

use posture_host::ReadError;
use posture_host::keyfile::KeyFile;

use posture_schema::Enforcer;

use super::Context;
use crate::accounts::Account;
use crate::enforcement;
use crate::evidence;
use crate::screen_lock::LockSetting;

const CHANNEL: &str = "xfce4/xfconf/xfce-perchannel-xml/xfce4-screensaver.xml";
const AUTOSTART: &str = "xfce4-screensaver.desktop";

pub(super) fn judge(cx: &mut Context<'_>, account: &Account) -> LockSetting {
    let home = super::config_home(account);
    let system_autostart = format!("/etc/xdg/autostart/{AUTOSTART}");
    match cx.present(&system_autostart) {
        Ok(true) => {}
        Ok(false) => {
            cx.about(account, evidence::file(&system_autostart, None, "absent"));
            return LockSetting::Unknown {
                reason: "xfce4-screensaver is not installed; posture does not judge light-locker or xscreensaver"
                    .to_owned(),
            };
        }
        Err(e) => {
            return LockSetting::Unknown {
                reason: evidence::read_failure(&system_autostart, &e),
            };
        }
    }
    let user_autostart = format!("{home}/autostart/{AUTOSTART}");
    match cx.text(&user_autostart) {
        Ok(text) => {
            let f = KeyFile::parse(&text);
            let hidden = f
                .get("Desktop Entry", "Hidden")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            cx.about(
                account,
                evidence::file(&user_autostart, Some("Hidden"), hidden.to_string()),
            );
            if hidden {
                return LockSetting::NeverLocks {
                    reason: format!("xfce4-screensaver is not started: {user_autostart} hides it"),
                };
            }
        }
        Err(ReadError::NotFound) => {}
        Err(e) => {
            return LockSetting::Unknown {
                reason: evidence::read_failure(&user_autostart, &e),
            };
        }
    }

    // The system file first, then the user's, which overrides it except where the system file
    // locks a property (xfconf's kiosk mode).
    let mut props: HashMap<String, (Property, String, bool)> = HashMap::new();
    for (path, system) in [
        (format!("/etc/xdg/{CHANNEL}"), true),
        (format!("{home}/{CHANNEL}"), false),
    ] {
        match cx.text(&path) {
            Ok(text) => {
                let channel = match parse_channel(&text) {
                    Ok(c) => c,
                    Err(why) => {
                        let why =
                            format!("{path} is not an xfconf channel posture can read: {why}");
                        cx.about(account, evidence::file(&path, None, why.clone()));
                        return LockSetting::Unknown { reason: why };
                    }
                };
                for (name, property) in channel.properties {
                    if !name.starts_with("/saver") && !name.starts_with("/lock") {
                        continue;
                    }
                    if let Some((_, from, true)) = props.get(&name) {
                        cx.about(
                            account,
                            evidence::file(&path, Some(&name), format!("ignored: {from} locks it")),
                        );
                        continue;
                    }
                    let locked = if system {
                        match property.locked.as_deref().or(channel.locked.as_deref()) {
                            None => false,
                            Some(list) => match kiosk_locks(list, &account.name) {
                                Some(l) => l,
                                None => {
                                    let why = format!(
                                        "{path}: {name} is locked for {list}; posture does not resolve xfconf group locks"
                                    );
                                    cx.about(
                                        account,
                                        evidence::file(&path, Some(&name), why.clone()),
                                    );
                                    return LockSetting::Unknown { reason: why };
                                }
                            },
                        }
                    } else {
                        false
                    };
                    props.insert(name, (property, path.clone(), locked));
                }
            }
            Err(ReadError::NotFound) => {}
            Err(e) => {
                return LockSetting::Unknown {
                    reason: evidence::read_failure(&path, &e),
                };
            }
        }
    }
    // The value of a property of the expected types, `Err(reason)` when it has another type.
    let mut get = |name: &str, types: &[&str], default: &str| -> Result<String, String> {
        match props.get(name) {
            Some((p, path, locked)) => {
                let lock_note = if *locked { " (locked)" } else { "" };
                let shown = p.value.clone().unwrap_or_default();
                cx.settings.push(if *locked {
                    enforcement::enforced(
                        name,
                        shown.clone(),
                        path.clone(),
                        vec![enforcement::by(
                            Enforcer::XFCONF_LOCK,
                            path.clone(),
                            Some(format!("locked=\"{}\"", p.locked.as_deref().unwrap_or("(channel)"))),
                            Enforcer::BY_LOCAL_ADMIN,
                        )],
                    )
                } else {
                    enforcement::user_set(name, shown.clone(), path.clone())
                });
                cx.about(
                    account,
                    evidence::file(path, Some(name), format!("{shown} ({}){lock_note}", p.ty)),
                );
                match &p.value {
                    Some(v) if types.contains(&p.ty.as_str()) => Ok(v.trim().to_ascii_lowercase()),
                    _ => Err(format!(
                        "xfce4-screensaver {name} in {path} has type {} where {} is expected",
                        p.ty,
                        types.join(" or ")
                    )),
                }
            }
            None => {
                cx.settings.push(enforcement::user_set(
                    name,
                    default,
                    "xfce4-screensaver default",
                ));
                cx.about(
                    account,
                    evidence::derived("xfce4-screensaver", format!("{name} = {default} (default)")),
                );
                Ok(default.to_owned())
            }
        }
    };
    for name in [
        "/saver/enabled",
        "/saver/idle-activation/enabled",
        "/lock/enabled",
        "/lock/saver-activation/enabled",
    ] {
        match get(name, &["bool"], "true").as_deref() {
            Ok("true") => {}
            Ok("false") => {
                return LockSetting::NeverLocks {
                    reason: format!("xfce4-screensaver {name} is false"),
                };
            }
            Ok(other) => {
                return LockSetting::Unknown {
                    reason: format!("xfce4-screensaver {name} = {other} is not a boolean"),
                };
            }
            Err(reason) => {
                return LockSetting::Unknown {
                    reason: reason.clone(),
                };
            }
        }
    }
    let ints = ["int", "uint", "int64", "uint64"];
    let idle = match get("/saver/idle-activation/delay", &ints, "5") {
        Ok(v) => v,
        Err(reason) => return LockSetting::Unknown { reason },
    };
    let delay = match get("/lock/saver-activation/delay", &ints, "0") {
        Ok(v) => v,
        Err(reason) => return LockSetting::Unknown { reason },
    };
    match (idle.parse::<u64>(), delay.parse::<u64>()) {
        (Ok(0), _) => LockSetting::Unknown {
            reason: "xfce4-screensaver idle delay is 0, outside its range".to_owned(),
        },
        (Ok(i), Ok(d)) => LockSetting::LocksAfter {
            seconds: (i + d).saturating_mul(60),
            how: format!("idle-activation delay {i} min + saver-activation lock delay {d} min"),
        },
        _ => LockSetting::Unknown {
            reason: format!("xfce4-screensaver delays {idle} / {delay} are not numbers of minutes"),
        },
    }
}

/// Whether an xfconf `locked=` list (`;`-separated user names, `@group`s, `*`) locks a property
/// for this user; `None` when it names groups, which posture does not resolve.
fn kiosk_locks(list: &str, user: &str) -> Option<bool> {
    let entries: Vec<&str> = list
        .split(';')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if entries.iter().any(|e| *e == "*" || *e == user) {
        Some(true)
    } else if entries.iter().any(|e| e.starts_with('@')) {
        None
    } else {
        Some(false)
    }
}

/// One property of an xfconf channel file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Property {
    /// `type=` (`bool`, `int`, `uint`, `string`, `empty`, `array`, ...).
    ty: String,
    /// `value=`; absent for `empty` and `array` properties.
    value: Option<String>,
    /// `locked=`: the users (or `@groups`, `*` for everyone) who may not change it (xfconf's
    /// kiosk mode, honoured in the system files).
    locked: Option<String>,
}

/// A parsed xfconf channel: the channel's own `locked=` and the properties by full path
/// (nested `<property>` names joined with `/`).
#[derive(Debug, Default)]
struct Channel {
    locked: Option<String>,
    properties: HashMap<String, Property>,
}

/// Parses an xfconf per-channel file (xfconf's `xfconf-backend-perchannel-xml.c` writes
/// `<channel name version>` holding nested `<property name type value>` elements, arrays as
/// `<value type value>` children) with a real XML parser. Anything else (malformed XML, another
/// root, unknown elements or attributes that change meaning, text content) is an error naming
/// the line, so the caller reports `unknown` instead of falling back to defaults.
fn parse_channel(xml: &str) -> Result<Channel, String> {
    use quick_xml::Reader;
    use quick_xml::events::{BytesStart, Event};

    fn attrs(e: &BytesStart<'_>) -> Result<HashMap<String, String>, String> {
        let mut out = HashMap::new();
        for a in e.attributes() {
            let a = a.map_err(|err| err.to_string())?;
            let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            let value = a.unescape_value().map_err(|err| err.to_string())?;
            out.insert(key, value.into_owned());
        }
        Ok(out)
    }
    let line_of = |pos: u64| {
        let pos = usize::try_from(pos).unwrap_or(usize::MAX).min(xml.len());
        xml.as_bytes()[..pos]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    };

    let mut reader = Reader::from_str(xml);
    let mut channel: Option<Channel> = None;
    let mut channel_closed = false;
    // Open elements below <channel>: property names, or None for a <value> of an array.
    let mut stack: Vec<Option<String>> = Vec::new();
    loop {
        let at = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| format!("line {}: {e}", line_of(reader.error_position())))?;
        let fail = |what: String| Err(format!("line {}: {what}", line_of(at)));
        let (start, empty) = match event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                if stack.pop().is_none() {
                    channel_closed = true;
                }
                continue;
            }
            Event::Text(t) => {
                if t.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return fail("text content is not part of the xfconf format".to_owned());
            }
            Event::Decl(_) | Event::Comment(_) | Event::DocType(_) | Event::PI(_) => continue,
            Event::CData(_) | Event::GeneralRef(_) => {
                return fail("text content is not part of the xfconf format".to_owned());
            }
            Event::Eof => {
                if channel.is_some() && !channel_closed {
                    return fail("the file ends inside <channel>".to_owned());
                }
                break;
            }
        };
        let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
        let a = attrs(&start).map_err(|e| format!("line {}: {e}", line_of(at)))?;
        let open = channel.is_some() && !channel_closed;
        match (name.as_str(), channel.is_some()) {
            ("channel", false) => {
                channel = Some(Channel {
                    locked: a.get("locked").cloned(),
                    properties: HashMap::new(),
                });
                if empty {
                    channel_closed = true;
                }
            }
            ("property", true) if open => {
                if stack.last().is_some_and(Option::is_none) {
                    return fail("a <property> inside a <value>".to_owned());
                }
                let Some(pname) = a.get("name").filter(|n| !n.is_empty() && !n.contains('/'))
                else {
                    return fail("a <property> without a valid name".to_owned());
                };
                let Some(ty) = a.get("type") else {
                    return fail(format!("property {pname} has no type"));
                };
                let mut path = String::new();
                for part in stack.iter().flatten().chain(std::iter::once(pname)) {
                    path.push('/');
                    path.push_str(part);
                }
                let property = Property {
                    ty: ty.clone(),
                    value: a.get("value").cloned(),
                    locked: a.get("locked").cloned(),
                };
                if let Some(ch) = channel.as_mut() {
                    ch.properties.insert(path, property);
                }
                if !empty {
                    stack.push(Some(pname.clone()));
                }
            }
            ("value", true) if open && !stack.is_empty() => {
                if !empty {
                    stack.push(None);
                }
            }
            _ => {
                return fail(format!(
                    "unexpected <{name}> (an xfconf channel file holds one <channel> of <property> elements)"
                ));
            }
        }
    }
    channel.ok_or_else(|| "no <channel> element".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(ch: &Channel, path: &str) -> Option<String> {
        ch.properties.get(path).and_then(|p| p.value.clone())
    }

    #[test]
    fn nested_xfconf_properties_get_their_full_path() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>

<channel name="xfce4-screensaver" version="1.0">
  <property name="saver" type="empty">
    <property name="enabled" type="bool" value="true"/>
    <property name="idle-activation" type="empty">
      <property name="delay" type="int" value="10"/>
    </property>
  </property>
  <property name="lock" type="empty">
    <property name="enabled" type="bool" value="false" locked="*"/>
    <property name="names" type="array">
      <value type="string" value="a &amp; b"/>
    </property>
  </property>
</channel>"#;
        let ch = parse_channel(xml).unwrap();
        assert_eq!(value(&ch, "/saver/enabled").as_deref(), Some("true"));
        assert_eq!(
            value(&ch, "/saver/idle-activation/delay").as_deref(),
            Some("10")
        );
        assert_eq!(value(&ch, "/lock/enabled").as_deref(), Some("false"));
        assert_eq!(ch.properties["/lock/enabled"].locked.as_deref(), Some("*"));
        assert_eq!(ch.properties["/lock/names"].ty, "array");
    }

    #[test]
    fn malformed_or_foreign_xml_is_an_error_naming_the_line() {
        for (xml, line) in [
            (
                "<channel name=\"x\">\n<property name=\"a\" type=\"bool\" value=\"true\">\n</channel>",
                3,
            ),
            ("<channel>\n  <option name=\"a\"/>\n</channel>", 2),
            (
                "<channel>\n<property name=\"lock\" type=\"empty\">on</property></channel>",
                2,
            ),
            (
                "<channel>\n<property type=\"bool\" value=\"true\"/></channel>",
                2,
            ),
        ] {
            let err = parse_channel(xml).unwrap_err();
            assert!(err.starts_with(&format!("line {line}:")), "{xml:?}: {err}");
        }
        for xml in ["", "<", "<property name=\"x", "<?xml version=\"1.0\"?>"] {
            assert!(parse_channel(xml).is_err(), "{xml:?}");
        }
    }
}
