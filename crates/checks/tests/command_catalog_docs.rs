//! The command catalog (`crates/checks/src/catalog.rs`), its page for administrators
//! (`docs/command-catalog.md`) and the README's copy of the command tables stay in step.

use posture_checks::catalog::{self, access_keys, keys, power};
use posture_host::CommandSpec;

fn read(path: &str) -> String {
    fs_err::read_to_string(format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The command rows (`| \`...\` | ...`) of the tables under a heading, up to the next table end.
fn command_rows(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| {
            // File rows (`/Library/...`, `/etc`, `/var/...`) are on the catalog page only.
            l.starts_with("| `")
                && !l.starts_with("| `/Library")
                && !l.starts_with("| `/etc`")
                && !l.starts_with("| `/var/")
        })
        .map(str::to_owned)
        .collect()
}

/// A command as the tables write it: macOS programs by absolute path, Windows programs by file
/// name; arguments with spaces in double quotes.
fn as_documented(spec: &CommandSpec) -> String {
    let program = if spec.program.starts_with("C:\\") {
        spec.program.rsplit('\\').next().unwrap().to_owned()
    } else {
        spec.program.clone()
    };
    std::iter::once(program)
        .chain(spec.args.iter().map(|a| {
            if a.contains(' ') {
                format!("\"{a}\"")
            } else {
                a.clone()
            }
        }))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_readme_lists_the_same_macos_and_windows_commands_as_the_catalog_page() {
    let docs = command_rows(&read("docs/command-catalog.md"));
    let readme_text = read("README.md");
    let start = readme_text.find("### Commands the agent runs").unwrap();
    let section = &readme_text[start..];
    let end = section.find("\n## ").unwrap_or(section.len());
    let readme = command_rows(&section[..end]);
    assert_eq!(readme, docs);
}

#[test]
fn every_fixed_catalog_command_is_documented() {
    let docs = read("docs/command-catalog.md");
    let readme = read("README.md");
    let specs = [
        catalog::macos_console_owner(),
        catalog::macos_filevault_status(),
        catalog::macos_power_settings(),
        catalog::macos_mounts(),
        catalog::macos_apfs_list(),
        catalog::macos_computer_name(),
        catalog::macos_sw_vers(),
        catalog::macos_mdm_enrollment(),
        catalog::macos_installed_profiles(),
        catalog::macos_launchd_disabled(),
        catalog::macos_pwpolicy_global(),
        catalog::windows_loaded_hives(),
        catalog::windows_reg_key(keys::SYSTEM_POLICIES),
        catalog::windows_reg_value(keys::WINLOGON, "ScreenSaverGracePeriod"),
        catalog::windows_reg_value(keys::WINLOGON, "AutoAdminLogon"),
        catalog::windows_reg_value(keys::WINLOGON, "DefaultUserName"),
        catalog::windows_reg_value(access_keys::TERMINAL_SERVER, "fDenyTSConnections"),
        catalog::windows_reg_value(access_keys::TERMINAL_SERVICES_POLICY, "fDenyTSConnections"),
        catalog::windows_reg_value(keys::USBSTOR, "Start"),
        catalog::windows_reg_value(keys::UASPSTOR, "Start"),
        catalog::windows_reg_key(keys::STORAGE_CSP),
        catalog::windows_reg_key(keys::DEVICELOCK_CSP),
        catalog::windows_reg_key(keys::SECURITY_OPTIONS_CSP),
        catalog::windows_reg_key(keys::FVE_POLICY),
        catalog::windows_reg_key(keys::FVE_SYSTEM),
        catalog::windows_reg_key(keys::BITLOCKER_CSP),
        catalog::windows_reg_key(keys::MBAM_POLICY),
        catalog::windows_reg_tree(keys::REMOVABLE_STORAGE),
        catalog::windows_power_setting(power::SUB_SLEEP, power::STANDBYIDLE),
        catalog::windows_power_setting(power::SUB_NONE, power::CONSOLELOCK),
        catalog::windows_sleep_states(),
    ];
    for spec in specs {
        let row = format!("| `{}` |", as_documented(&spec));
        assert!(docs.contains(&row), "docs/command-catalog.md lacks {row}");
        assert!(readme.contains(&row), "README.md lacks {row}");
    }
}

#[test]
fn every_powershell_script_is_printed_verbatim_on_the_catalog_page() {
    let docs = read("docs/command-catalog.md");
    for spec in [
        catalog::windows_bitlocker_volumes(),
        catalog::windows_usb_volumes(),
        catalog::windows_inventory(),
        catalog::windows_local_accounts(),
        catalog::windows_password_policy(),
        catalog::windows_policy_origins(),
    ] {
        let script = spec.args.last().unwrap();
        assert!(docs.contains(script.as_str()), "not on the page: {script}");
    }
}

#[test]
fn the_credentials_profile_query_is_documented_as_the_catalog_runs_it() {
    let sid = catalog::Sid::new("S-1-5-21-1004336348-1177238915-682003330-1001").unwrap();
    let spec = catalog::windows_user_profile(&sid);
    let shown = as_documented(&spec).replace(sid.as_str(), "SID");
    for name in ["docs/command-catalog.md", "README.md"] {
        let row = format!("| `{shown}` |");
        assert!(read(name).contains(&row), "{name} lacks {row}");
    }
}

#[test]
fn the_per_user_pwpolicy_query_is_documented_as_the_catalog_runs_it() {
    let user = catalog::ConsoleUser::new("jdoe", 501).unwrap();
    let shown = as_documented(&catalog::macos_pwpolicy_user(&user)).replace("jdoe", "USER");
    for name in ["docs/command-catalog.md", "README.md"] {
        let row = format!("| `{shown}` |");
        assert!(read(name).contains(&row), "{name} lacks {row}");
    }
}
