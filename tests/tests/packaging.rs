//! The files under `packaging/` that no tool on this machine can build or load: launchd
//! property lists, the macOS configuration profile, the installer distribution and the WiX source
//! of the MSI. They are checked here on every OS, so a typo is caught before a macOS or Windows
//! release job trips on it. The Linux packages are built and installed for real by
//! `packaging/linux/test-deb.sh`; the tests below only keep the shipped default config and unit
//! in step with the agent.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use plist::{Dictionary, Value};
use posture_client::config::{self, Config, LogFormat};
use quick_xml::events::Event;

fn packaging() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace root")
        .join("packaging")
}

fn read(path: &Path) -> String {
    fs_err::read_to_string(path).unwrap()
}

fn files_with_extension(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs_err::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
        })
        .collect();
    files.sort();
    files
}

fn plist_dict(path: &Path) -> Dictionary {
    let value = Value::from_file(path)
        .unwrap_or_else(|e| panic!("{} is not a property list: {e}", path.display()));
    value
        .into_dictionary()
        .unwrap_or_else(|| panic!("{} is not a dictionary at the top", path.display()))
}

fn string<'a>(dict: &'a Dictionary, key: &str) -> &'a str {
    dict.get(key)
        .and_then(Value::as_string)
        .unwrap_or_else(|| panic!("`{key}` is missing or not a string"))
}

#[test]
fn every_plist_and_configuration_profile_parses_as_a_property_list() {
    let files = files_with_extension(&packaging().join("macos"), &["plist", "mobileconfig"]);
    assert!(
        files.len() >= 2,
        "expected the LaunchDaemon and the profile, found {files:?}"
    );
    for file in files {
        plist_dict(&file);
    }
}

#[test]
fn launch_daemon_runs_posture_run_at_boot_and_keeps_it_alive() {
    let path = packaging().join("macos/com.posture.agent.plist");
    let daemon = plist_dict(&path);
    // launchd expects the label to match the file name in /Library/LaunchDaemons.
    assert_eq!(string(&daemon, "Label"), "com.posture.agent");
    let args: Vec<&str> = daemon
        .get("ProgramArguments")
        .and_then(Value::as_array)
        .expect("ProgramArguments")
        .iter()
        .map(|v| v.as_string().expect("arguments are strings"))
        .collect();
    assert_eq!(args, ["/usr/local/bin/posture", "run"]);
    assert_eq!(
        daemon.get("RunAtLoad").and_then(Value::as_boolean),
        Some(true)
    );
    assert_eq!(
        daemon.get("KeepAlive").and_then(Value::as_boolean),
        Some(true)
    );
    for key in ["StandardOutPath", "StandardErrorPath"] {
        assert!(
            string(&daemon, key).starts_with("/Library/Logs/posture/"),
            "{key}"
        );
    }
    // 0o077: files the agent creates are its own.
    assert_eq!(
        daemon.get("Umask").and_then(Value::as_signed_integer),
        Some(0o077)
    );
}

#[test]
fn configuration_profile_sets_endpoint_and_enroll_secret_for_the_agent_domain() {
    let profile = plist_dict(&packaging().join("macos/posture.mobileconfig"));
    assert_eq!(string(&profile, "PayloadType"), "Configuration");
    assert_eq!(string(&profile, "PayloadScope"), "System");
    let payloads = profile
        .get("PayloadContent")
        .and_then(Value::as_array)
        .expect("PayloadContent");
    assert_eq!(payloads.len(), 1);
    let settings = payloads[0].as_dictionary().expect("a payload dictionary");
    // The managed-preferences domain the pkg's postinstall reads: the LaunchDaemon's label.
    assert_eq!(string(settings, "PayloadType"), "com.posture.agent");
    assert!(string(settings, "Endpoint").starts_with("https://"));
    assert!(!string(settings, "EnrollSecret").is_empty());

    let uuids = [
        string(&profile, "PayloadUUID"),
        string(settings, "PayloadUUID"),
    ];
    for uuid in uuids {
        assert!(is_uuid(uuid), "`{uuid}` is not a UUID");
    }
    assert_ne!(uuids[0], uuids[1], "every payload needs its own UUID");
    for dict in [&profile, settings] {
        assert_eq!(
            dict.get("PayloadVersion")
                .and_then(Value::as_signed_integer),
            Some(1)
        );
        string(dict, "PayloadIdentifier");
    }
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// One XML element: its name (without prefix) and attributes.
#[derive(Debug)]
struct Element {
    name: String,
    attributes: BTreeMap<String, String>,
}

/// Parses a whole XML document, failing on anything not well-formed (unclosed or mismatched
/// tags, bad attributes, bad escapes), and returns its elements in document order.
fn xml_elements(path: &Path) -> Vec<Element> {
    let text = read(path);
    let mut reader = quick_xml::Reader::from_str(&text);
    reader.config_mut().check_end_names = true;
    let mut elements = Vec::new();
    let mut depth = 0usize;
    loop {
        let event = reader.read_event().unwrap_or_else(|e| {
            panic!(
                "{} is not well-formed XML at byte {}: {e}",
                path.display(),
                reader.error_position()
            )
        });
        let start = match &event {
            Event::Start(s) => {
                depth += 1;
                s
            }
            Event::Empty(s) => s,
            Event::End(_) => {
                depth -= 1;
                continue;
            }
            Event::Eof => break,
            Event::Text(t) => {
                t.decode().unwrap();
                continue;
            }
            _ => continue,
        };
        let name = String::from_utf8(start.local_name().as_ref().to_vec()).unwrap();
        let attributes = start
            .attributes()
            .map(|a| {
                let a = a.unwrap_or_else(|e| panic!("{}: bad attribute: {e}", path.display()));
                (
                    String::from_utf8(a.key.local_name().as_ref().to_vec()).unwrap(),
                    a.unescape_value().unwrap().into_owned(),
                )
            })
            .collect();
        elements.push(Element { name, attributes });
    }
    assert_eq!(depth, 0, "{}: unclosed elements", path.display());
    assert!(!elements.is_empty(), "{} has no elements", path.display());
    elements
}

fn find<'a>(elements: &'a [Element], name: &str, id: &str) -> &'a Element {
    elements
        .iter()
        .find(|e| e.name == name && e.attributes.get("Id").map(String::as_str) == Some(id))
        .unwrap_or_else(|| panic!("no <{name} Id=\"{id}\">"))
}

#[test]
fn wix_source_is_well_formed_and_takes_endpoint_and_enroll_secret_for_silent_installs() {
    let elements = xml_elements(&packaging().join("windows/posture.wxs"));
    assert_eq!(elements[0].name, "Wix");
    assert_eq!(
        elements[0].attributes.get("xmlns").map(String::as_str),
        Some("http://wixtoolset.org/schemas/v4/wxs")
    );

    for id in ["ENDPOINT", "ENROLL_SECRET"] {
        let property = find(&elements, "Property", id);
        // Secure: a public property set on the msiexec command line reaches the deferred,
        // elevated part of the install.
        assert_eq!(
            property.attributes.get("Secure").map(String::as_str),
            Some("yes")
        );
    }
    let secret = find(&elements, "Property", "ENROLL_SECRET");
    assert_eq!(
        secret.attributes.get("Hidden").map(String::as_str),
        Some("yes"),
        "the secret must stay out of MSI logs"
    );

    let service = find(&elements, "ServiceInstall", "PostureServiceInstall");
    let attr = |k: &str| service.attributes.get(k).map(String::as_str);
    assert_eq!(attr("Name"), Some("posture"));
    assert_eq!(attr("Start"), Some("auto"));
    assert_eq!(attr("Account"), Some("LocalSystem"));
    let control = find(&elements, "ServiceControl", "PostureServiceControl");
    let attr = |k: &str| control.attributes.get(k).map(String::as_str);
    assert_eq!(attr("Name"), Some("posture"));
    assert_eq!(attr("Stop"), Some("both"));
    assert_eq!(attr("Remove"), Some("uninstall"));

    let environment = elements
        .iter()
        .find(|e| e.name == "RegistryValue")
        .expect("the endpoint is handed to the service through the registry");
    assert_eq!(
        environment.attributes.get("Value").map(String::as_str),
        Some("POSTURE_ENDPOINT=[ENDPOINT]")
    );
    // The secret reaches `posture enroll` only through a deferred action that hides its target.
    let enroll = find(&elements, "CustomAction", "EnrollDevice");
    assert_eq!(
        enroll.attributes.get("HideTarget").map(String::as_str),
        Some("yes")
    );
    assert_eq!(
        enroll.attributes.get("Impersonate").map(String::as_str),
        Some("no")
    );
    // Never on a command line (other users can read those, and one starting with `-` used to
    // be taken for a flag): the action's data ends with the secret, and its script hands it to
    // `posture enroll` in the environment.
    let data = find(&elements, "SetProperty", "EnrollDevice");
    let value = data
        .attributes
        .get("Value")
        .map(String::as_str)
        .unwrap_or("");
    assert!(value.ends_with("|[ENROLL_SECRET]"), "{value}");
    assert!(!value.contains("--secret"), "{value}");
    assert_eq!(
        enroll.attributes.get("Script").map(String::as_str),
        Some("jscript")
    );
    let text = read(&packaging().join("windows/posture.wxs"));
    assert!(text.contains("env(\"POSTURE_ENROLL_SECRET\") = data.substring(second + 1);"));
    assert!(text.contains(r#"\" enroll --endpoint \""#));
    assert!(
        !text.contains("--secret "),
        "no --secret on any command line"
    );
    // %ProgramData%\posture: SYSTEM and Administrators only, nothing inherited.
    let data_dir = find(&elements, "Component", "AgentData");
    assert_eq!(
        data_dir.attributes.get("Directory").map(String::as_str),
        Some("DATAFOLDER")
    );
    let acl = elements
        .iter()
        .find(|e| e.name == "PermissionEx")
        .expect("an ACL on the data folder");
    assert_eq!(
        acl.attributes.get("Sddl").map(String::as_str),
        Some("D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)")
    );
}

#[test]
fn macos_installer_distribution_is_well_formed_xml() {
    let elements = xml_elements(&packaging().join("macos/distribution.xml"));
    assert_eq!(elements[0].name, "installer-gui-script");
    let package = elements
        .iter()
        .find(|e| e.name == "pkg-ref" && e.attributes.contains_key("version"))
        .expect("a pkg-ref with the version");
    assert_eq!(package.attributes["id"], "com.posture.agent");
}

/// The shipped config with every example line (`#key = value`) turned on.
fn uncommented(template: &str) -> String {
    template
        .lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest) if rest.split_once(" = ").is_some_and(|(k, _)| is_key(k)) => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_key(word: &str) -> bool {
    !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[test]
fn default_config_documents_every_key_and_loads_with_every_example_turned_on() {
    let path = packaging().join("linux/config.toml");
    let template = read(&path);
    let env: HashMap<String, String> = HashMap::new();

    // As shipped, everything is commented out: the agent runs on its defaults.
    let mut shipped = Config::defaults(&env);
    shipped.apply_file(&path, &template).unwrap();

    let text = uncommented(&template);
    let documented: HashSet<&str> = text
        .lines()
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k))
        .filter(|k| is_key(k))
        .collect();
    for key in config::KEYS {
        assert!(
            documented.contains(key),
            "config.toml does not document `{key}`"
        );
    }

    let mut all_on = Config::defaults(&env);
    all_on
        .apply_file(&path, &text)
        .unwrap_or_else(|e| panic!("the examples in config.toml do not load: {e}"));
    // Lines presented as defaults must be the defaults.
    assert_eq!(all_on.interval.value, config::DEFAULT_INTERVAL);
    assert_eq!(
        all_on.checkin_interval.value,
        config::DEFAULT_CHECKIN_INTERVAL
    );
    assert_eq!(all_on.policy.value, config::EMBEDDED_POLICY);
    assert_eq!(
        all_on.spool_max_reports.value,
        config::DEFAULT_SPOOL_MAX_REPORTS
    );
    assert_eq!(
        all_on.spool_max_bytes.value,
        config::DEFAULT_SPOOL_MAX_BYTES
    );
    assert_eq!(all_on.log_level.value, "info");
    assert_eq!(all_on.log_format.value, LogFormat::Auto);
    assert_eq!(
        all_on.request_timeout.value,
        config::DEFAULT_REQUEST_TIMEOUT
    );
    assert_eq!(
        all_on.retry_max_delay.value,
        config::DEFAULT_RETRY_MAX_DELAY
    );
    assert_eq!(all_on.state_dir.value, Path::new("/var/lib/posture"));
    assert!(all_on.interval.value >= Duration::from_secs(60));
}

/// `Key=Value` lines of a systemd unit's `[Service]` section.
fn service_directives(unit: &str) -> Vec<(String, String)> {
    let mut in_service = false;
    let mut out = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if in_service
            && !line.starts_with('#')
            && let Some((k, v)) = line.split_once('=')
        {
            out.push((k.to_owned(), v.to_owned()));
        }
    }
    out
}

#[test]
fn agent_unit_is_notify_type_sandboxed_and_keeps_only_the_read_capability() {
    let unit = read(&packaging().join("linux/posture.service"));
    let directives = service_directives(&unit);
    let value = |key: &str| -> Vec<&str> {
        directives
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    for (key, expected) in [
        ("Type", "notify"),
        ("ExecStart", "/usr/bin/posture run"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "read-only"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("StateDirectory", "posture"),
        ("StateDirectoryMode", "0700"),
        ("ConfigurationDirectory", "posture"),
        ("CapabilityBoundingSet", "CAP_DAC_READ_SEARCH"),
    ] {
        assert_eq!(value(key), [expected], "{key}");
    }
    // Writing is confined to the state directory; nothing may reopen the file system.
    assert!(value("ReadWritePaths").is_empty());
    assert!(value("AmbientCapabilities").iter().all(|v| v.is_empty()));
}

#[test]
fn collector_unit_runs_unprivileged() {
    let unit = read(&packaging().join("linux/posture-collector.service"));
    let directives = service_directives(&unit);
    let has = |k: &str, v: &str| directives.iter().any(|(dk, dv)| dk == k && dv == v);
    assert!(has("DynamicUser", "yes"));
    assert!(has("CapabilityBoundingSet", ""));
    assert!(has("StateDirectory", "posture-collector"));
    assert!(has("ProtectSystem", "strict"));
}
