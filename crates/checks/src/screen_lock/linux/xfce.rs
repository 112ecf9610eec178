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

use super::Context;
use crate::accounts::Account;
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

    let mut props: HashMap<String, (String, String)> = HashMap::new();
    for path in [format!("/etc/xdg/{CHANNEL}"), format!("{home}/{CHANNEL}")] {
        match cx.text(&path) {
            Ok(text) => {
                for (name, value) in parse_channel(&text) {
                    props.insert(name, (value, path.clone()));
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
    let mut get = |name: &str, default: &str| -> String {
        match props.get(name) {
            Some((v, path)) => {
                cx.about(account, evidence::file(path, Some(name), v.clone()));
                v.clone()
            }
            None => {
                cx.about(
                    account,
                    evidence::derived("xfce4-screensaver", format!("{name} = {default} (default)")),
                );
                default.to_owned()
            }
        }
    };
    for name in [
        "/saver/enabled",
        "/saver/idle-activation/enabled",
        "/lock/enabled",
        "/lock/saver-activation/enabled",
    ] {
        match get(name, "true").as_str() {
            "true" => {}
            "false" => {
                return LockSetting::NeverLocks {
                    reason: format!("xfce4-screensaver {name} is false"),
                };
            }
            other => {
                return LockSetting::Unknown {
                    reason: format!("xfce4-screensaver {name} = {other} is not a boolean"),
                };
            }
        }
    }
    let idle = get("/saver/idle-activation/delay", "5");
    let delay = get("/lock/saver-activation/delay", "0");
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

/// The `<property name=.. value=..>` values of an xfconf channel file, by full property path.
/// Nested properties join their names with `/`. Malformed input yields what was readable.
fn parse_channel(xml: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find('>') else {
            break;
        };
        let tag = &rest[..close];
        rest = &rest[close + 1..];
        if tag.starts_with("/property") {
            stack.pop();
            continue;
        }
        let Some(attrs) = tag.strip_prefix("property") else {
            continue;
        };
        let self_closing = attrs.trim_end().ends_with('/');
        let name = attribute(attrs, "name").unwrap_or_default();
        let mut path = String::new();
        for part in stack.iter().chain(std::iter::once(&name)) {
            path.push('/');
            path.push_str(part);
        }
        if let Some(value) = attribute(attrs, "value") {
            out.push((path.to_ascii_lowercase(), value.to_ascii_lowercase()));
        }
        if !self_closing {
            stack.push(name);
        }
    }
    out
}

/// The value of `name="..."` in a tag, with the common XML entities decoded.
fn attribute(attrs: &str, name: &str) -> Option<String> {
    let pattern = format!("{name}=\"");
    let mut search = attrs;
    loop {
        let at = search.find(&pattern)?;
        let before_ok = at == 0 || search[..at].ends_with(char::is_whitespace);
        let after = &search[at + pattern.len()..];
        if before_ok {
            let end = after.find('"')?;
            return Some(
                after[..end]
                    .replace("&quot;", "\"")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&apos;", "'")
                    .replace("&amp;", "&"),
            );
        }
        search = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_xfconf_properties_get_their_full_path() {
        let xml = r#"<?xml version="1.0"?>
<channel name="xfce4-screensaver" version="1.0">
  <property name="saver" type="empty">
    <property name="enabled" type="bool" value="true"/>
    <property name="idle-activation" type="empty">
      <property name="delay" type="int" value="10"/>
    </property>
  </property>
  <property name="lock" type="empty">
    <property name="enabled" type="bool" value="false"/>
  </property>
</channel>"#;
        let props = parse_channel(xml);
        assert!(props.contains(&("/saver/enabled".into(), "true".into())));
        assert!(props.contains(&("/saver/idle-activation/delay".into(), "10".into())));
        assert!(props.contains(&("/lock/enabled".into(), "false".into())));
    }

    #[test]
    fn broken_xml_never_panics() {
        for s in [
            "<",
            "<property",
            "<property name=\"x",
            "</property></property><property value=\"é\">",
        ] {
            let _ = parse_channel(s);
        }
    }
}
