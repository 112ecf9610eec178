//! The kernel-module layer: can the kernel get the `usb-storage` driver?

use posture_host::modprobe::{
    self, MODPROBE_DIRS, ModprobeDirective, cmdline_module_list, effective_conf_files,
};
use posture_host::{Host, ReadError};
use posture_schema::{Enforced, Enforcer, Evidence, Setting};

use super::Layer;
use crate::enforcement;
use crate::evidence::{derived, directory, file};

/// Commands that make `modprobe usb-storage` do nothing instead of loading the module.
const BLOCKING_COMMANDS: [&str; 4] = ["/bin/false", "/bin/true", "/usr/bin/false", "/usr/bin/true"];

const MODULE: &str = "usb_storage";
const LOADED_PATH: &str = "/sys/module/usb_storage";

/// How to undo a block that came too late.
const UNLOAD: &str = "unload it (`modprobe -r uas usb_storage`) or reboot";

/// Whether `usb_storage` is in the running kernel now.
enum Loaded {
    Yes,
    No,
    Unknown(String),
}

/// The layers of kernel-module control, each with its reason.
/// The layers of kernel-module control, and into `settings` each that blocks (or the modprobe
/// rules, blocking or not) with its enforcement. `/proc` and the kernel's module tree are the
/// kernel's; a modprobe rule counts as enforced only when its file and directory are root-owned
/// and writable by nobody else.
pub(super) fn layers(
    host: &dyn Host,
    evidence: &mut Vec<Evidence>,
    settings: &mut Vec<Setting>,
) -> Vec<Layer> {
    let loaded = loaded(host, evidence);
    let mut layers = Vec::new();
    if let Some(l) = cmdline_layer(host, &loaded, evidence) {
        if let Layer::Blocks(how) = &l {
            settings.push(system_block(how, "/proc/cmdline"));
        }
        layers.push(l);
    }
    if let Some(l) = modules_disabled_layer(host, &loaded, evidence) {
        if let Layer::Blocks(how) = &l {
            settings.push(system_block(how, "/proc/sys/kernel/modules_disabled"));
        }
        layers.push(l);
    }
    let before = layers.len();
    let builtin = driver_layer(host, &loaded, evidence, &mut layers);
    for l in &layers[before..] {
        if let Layer::Blocks(how) = l {
            settings.push(system_block(how, "kernel modules"));
        }
    }
    if !builtin {
        layers.push(modprobe_layer(host, &loaded, evidence, settings));
    }
    layers
}

/// A block the kernel itself keeps (command line, `modules_disabled`, no driver).
fn system_block(how: &str, source: &str) -> Setting {
    enforcement::enforced(
        "usb-storage driver",
        how,
        source,
        vec![enforcement::by(
            Enforcer::SYSTEM_SETTING,
            source,
            None,
            Enforcer::BY_LOCAL_ADMIN,
        )],
    )
}

fn loaded(host: &dyn Host, evidence: &mut Vec<Evidence>) -> Loaded {
    match host.exists(LOADED_PATH) {
        Ok(true) => {
            evidence.push(directory(
                LOADED_PATH,
                "present: usb_storage is in the running kernel",
            ));
            Loaded::Yes
        }
        // Without /sys/module at all (a disk image, no sysfs) absence proves nothing.
        Ok(false) => match host.exists("/sys/module") {
            Ok(true) => {
                evidence.push(directory(
                    LOADED_PATH,
                    "absent: usb_storage is not in the running kernel",
                ));
                Loaded::No
            }
            Ok(false) => {
                let why = "/sys/module is missing, so whether usb_storage is loaded cannot be seen"
                    .to_owned();
                evidence.push(directory("/sys/module", why.clone()));
                Loaded::Unknown(why)
            }
            Err(e) => {
                let why = format!("could not read /sys/module: {e}");
                evidence.push(directory("/sys/module", why.clone()));
                Loaded::Unknown(why)
            }
        },
        Err(e) => {
            let why = format!("could not read {LOADED_PATH}: {e}");
            evidence.push(directory(LOADED_PATH, why.clone()));
            Loaded::Unknown(why)
        }
    }
}

/// `module_blacklist=` is enforced by the kernel itself (even `insmod` fails);
/// `modprobe.blacklist=` has the weak meaning of `blacklist`.
fn cmdline_layer(host: &dyn Host, loaded: &Loaded, evidence: &mut Vec<Evidence>) -> Option<Layer> {
    const CMDLINE: &str = "/proc/cmdline";
    let text = match host.read_text(CMDLINE) {
        Ok(t) => t,
        Err(e) => {
            evidence.push(file(
                CMDLINE,
                None,
                crate::evidence::read_failure(CMDLINE, &e),
            ));
            return None;
        }
    };
    if cmdline_module_list(&text, "module_blacklist")
        .iter()
        .any(|m| m == MODULE)
    {
        evidence.push(file(CMDLINE, Some("module_blacklist"), "lists usb_storage"));
        return Some(match loaded {
            Loaded::No => Layer::Blocks(
                "the kernel command line has module_blacklist=usb_storage (the kernel refuses to load it)".to_owned(),
            ),
            Loaded::Yes => Layer::DoesNotBlock(
                "module_blacklist=usb_storage is on the kernel command line, yet usb_storage is in the running kernel (built in?)".to_owned(),
            ),
            Loaded::Unknown(why) => Layer::Unknown(format!(
                "module_blacklist=usb_storage is on the kernel command line, but {why}"
            )),
        });
    }
    if cmdline_module_list(&text, "modprobe.blacklist")
        .iter()
        .any(|m| m == MODULE)
    {
        evidence.push(file(
            CMDLINE,
            Some("modprobe.blacklist"),
            "lists usb_storage: like `blacklist`, it only stops loading by alias",
        ));
    }
    None
}

fn modules_disabled_layer(
    host: &dyn Host,
    loaded: &Loaded,
    evidence: &mut Vec<Evidence>,
) -> Option<Layer> {
    const PATH: &str = "/proc/sys/kernel/modules_disabled";
    let value = host.read_text(PATH).ok()?;
    evidence.push(file(PATH, None, value.trim()));
    if value.trim() != "1" {
        return None;
    }
    Some(match loaded {
        Loaded::No => Layer::Blocks(
            "kernel.modules_disabled is 1 and usb_storage is not loaded: no module can be loaded until reboot".to_owned(),
        ),
        Loaded::Yes => Layer::DoesNotBlock(
            "kernel.modules_disabled is 1, but usb_storage is already in the running kernel".to_owned(),
        ),
        Loaded::Unknown(why) => Layer::Unknown(format!("kernel.modules_disabled is 1, but {why}")),
    })
}

/// Where distributions keep a kernel's modules (`{}` is the release). NixOS has no
/// `/lib/modules`; merged-/usr systems link `/lib` to `/usr/lib`.
const MODULE_DIRS: [&str; 4] = [
    "/lib/modules/{}",
    "/usr/lib/modules/{}",
    "/run/booted-system/kernel-modules/lib/modules/{}",
    "/run/current-system/kernel-modules/lib/modules/{}",
];

/// Whether this kernel has the driver at all. Pushes a blocking layer when it has none and
/// returns whether it is built in (then modprobe rules cannot stop it).
fn driver_layer(
    host: &dyn Host,
    loaded: &Loaded,
    evidence: &mut Vec<Evidence>,
    layers: &mut Vec<Layer>,
) -> bool {
    const OSRELEASE: &str = "/proc/sys/kernel/osrelease";
    const PROC_MODULES: &str = "/proc/modules";
    let release = match host.read_text(OSRELEASE) {
        Ok(r) => r.trim().to_owned(),
        Err(e) => {
            let why = crate::evidence::read_failure(OSRELEASE, &e);
            evidence.push(file(OSRELEASE, None, why.clone()));
            // Without the release, whether this kernel has the driver at all is unknown.
            layers.push(Layer::Unknown(format!(
                "could not tell whether the kernel has a usb-storage driver ({why})"
            )));
            return false;
        }
    };
    evidence.push(file(OSRELEASE, None, release.clone()));
    let mut module_dir = None;
    for pattern in MODULE_DIRS {
        let dir = pattern.replace("{}", &release);
        if host.list_dir(&dir).is_ok() {
            evidence.push(directory(&dir, "present"));
            module_dir = Some(dir);
            break;
        }
    }
    let builtin = module_dir.as_ref().and_then(|dir| {
        let path = format!("{dir}/modules.builtin");
        match host.read_text(&path) {
            Ok(text) => {
                let listed = lists_usb_storage(&text);
                evidence.push(file(
                    &path,
                    None,
                    if listed {
                        "lists usb-storage: built into the kernel"
                    } else {
                        "does not list usb-storage"
                    },
                ));
                Some((path, listed))
            }
            Err(e) => {
                evidence.push(file(&path, None, crate::evidence::read_failure(&path, &e)));
                None
            }
        }
    });
    if let Some((path, true)) = &builtin {
        layers.push(Layer::DoesNotBlock(format!(
            "usb-storage is built into kernel {release} ({path}): modprobe rules cannot stop it"
        )));
        return true;
    }
    // The rest only says something when the module is not in the running kernel. usb_storage
    // has module parameters, so a built-in one always shows /sys/module/usb_storage: its absence
    // means neither built in nor loaded.
    if !matches!(loaded, Loaded::No) {
        return false;
    }
    if matches!(host.read(PROC_MODULES), Err(ReadError::NotFound)) {
        evidence.push(file(
            PROC_MODULES,
            None,
            "absent: this kernel cannot load modules",
        ));
        layers.push(Layer::Blocks(format!(
            "kernel {release} has no usb-storage driver: it cannot load modules ({PROC_MODULES} absent) and usb-storage is not built in ({LOADED_PATH} absent)"
        )));
        return false;
    }
    let (Some(dir), Some((builtin_path, false))) = (module_dir, builtin) else {
        evidence.push(derived(
            "kernel modules",
            format!(
                "no readable module directory for {release} among {}",
                MODULE_DIRS.join(", ")
            ),
        ));
        return false;
    };
    let dep_path = format!("{dir}/modules.dep");
    match host.read_text(&dep_path) {
        Ok(text) => {
            let listed = text
                .lines()
                .filter_map(|l| l.split(':').next())
                .any(lists_usb_storage);
            evidence.push(file(
                &dep_path,
                None,
                if listed {
                    "lists usb-storage: it can be loaded"
                } else {
                    "does not list usb-storage"
                },
            ));
            if !listed {
                layers.push(Layer::Blocks(format!(
                    "kernel {release} has no usb-storage driver: neither {builtin_path} nor {dep_path} lists it and it is not loaded"
                )));
            }
        }
        Err(e) => evidence.push(file(
            &dep_path,
            None,
            crate::evidence::read_failure(&dep_path, &e),
        )),
    }
    false
}

/// Whether a `modules.builtin` / `modules.dep` path list names the usb-storage module file.
fn lists_usb_storage(text: &str) -> bool {
    text.lines().any(|l| {
        let file = l.trim().rsplit('/').next().unwrap_or_default();
        let stem = file.split(".ko").next().unwrap_or_default();
        file.contains(".ko") && modprobe::normalize_module_name(stem) == MODULE
    })
}

/// The modprobe.d rules for usb-storage.
fn modprobe_layer(
    host: &dyn Host,
    loaded: &Loaded,
    evidence: &mut Vec<Evidence>,
    settings: &mut Vec<Setting>,
) -> Layer {
    let mut listings = Vec::new();
    let mut unreadable = Vec::new();
    for dir in MODPROBE_DIRS {
        match host.list_dir(dir) {
            Ok(names) => {
                evidence.push(directory(dir, names.join(" ")));
                listings.push((dir, names));
            }
            Err(ReadError::NotFound) => {}
            Err(e) => {
                evidence.push(directory(dir, format!("not readable: {e}")));
                unreadable.push(format!("{dir}: {e}"));
            }
        }
    }
    let mut blocking = Vec::new();
    let mut rules = Vec::new();
    let mut other_installs = Vec::new();
    let mut blacklists = Vec::new();
    for path in effective_conf_files(&listings) {
        let text = match host.read_text(&path) {
            Ok(t) => t,
            Err(e) => {
                evidence.push(file(&path, None, crate::evidence::read_failure(&path, &e)));
                unreadable.push(format!("{path}: {e}"));
                continue;
            }
        };
        for line in modprobe::parse_modprobe_conf(&text) {
            let at = format!("{path} line {}", line.line);
            match line.directive {
                ModprobeDirective::Install { module, command } if module == MODULE => {
                    evidence.push(file(
                        &path,
                        Some(&format!("line {}", line.line)),
                        format!("install {module} {command}"),
                    ));
                    if BLOCKING_COMMANDS.contains(&command.as_str()) {
                        blocking.push(format!("install usb-storage {command} in {at}"));
                        rules.push(enforcement::by(
                            Enforcer::MODPROBE_RULE,
                            path.clone(),
                            Some(format!("line {}: install {module} {command}", line.line)),
                            Enforcer::BY_LOCAL_ADMIN,
                        ));
                    } else {
                        other_installs.push(format!("install usb-storage {command} in {at}"));
                    }
                }
                ModprobeDirective::Blacklist { module } if module == MODULE || module == "uas" => {
                    evidence.push(file(
                        &path,
                        Some(&format!("line {}", line.line)),
                        format!("blacklist {module}"),
                    ));
                    if module == MODULE {
                        blacklists.push(at);
                    }
                }
                _ => {}
            }
        }
    }
    if !unreadable.is_empty() && blocking.is_empty() {
        return Layer::Unknown(format!(
            "could not read all modprobe configuration ({})",
            unreadable.join("; ")
        ));
    }
    if !other_installs.is_empty() {
        // With rules that disagree, which one modprobe runs is not worth guessing.
        return Layer::DoesNotBlock(format!(
            "{} does not stop the module from loading",
            other_installs.join(", ")
        ));
    }
    let loaded_word = match loaded {
        Loaded::Yes => "loaded now",
        Loaded::No => "not loaded",
        Loaded::Unknown(_) => "whether it is loaded is unknown",
    };
    let source = rules
        .first()
        .map_or_else(|| "modprobe.d".to_owned(), |r| r.id.clone());
    settings.push(if blocking.is_empty() || !other_installs.is_empty() {
        enforcement::user_set(
            "usb-storage module",
            format!("loadable ({loaded_word})"),
            source,
        )
    } else {
        let value = format!("install rule in place; usb_storage {loaded_word}");
        match loaded {
            Loaded::No => {
                let mut s = enforcement::enforced("usb-storage module", value, source, rules);
                // Every blocking rule's file must be root's alone for the block to be pinned.
                let mut seen = Vec::new();
                for r in &s.enforced_by {
                    if seen.contains(&r.id) {
                        continue;
                    }
                    seen.push(r.id.clone());
                    let (e, note) = super::udev_rules::ownership(host, &r.id, evidence);
                    s.notes.extend(note);
                    s.enforced = match (s.enforced, e) {
                        (Enforced::No, _) | (_, Enforced::No) => Enforced::No,
                        (Enforced::Unknown, _) | (_, Enforced::Unknown) => Enforced::Unknown,
                        _ => Enforced::Yes,
                    };
                }
                s
            }
            Loaded::Yes => {
                let mut s = enforcement::user_set("usb-storage module", value, source);
                s.enforced_by = rules;
                s.notes.push(format!(
                    "usb_storage is loaded now: the rule acts only at its next load ({UNLOAD})"
                ));
                s
            }
            Loaded::Unknown(why) => {
                let mut s = enforcement::unknown("usb-storage module", value, source, why.clone());
                s.enforced_by = rules;
                s
            }
        }
    });
    if !blocking.is_empty() {
        let rule = blocking.join(", ");
        return match loaded {
            Loaded::No => Layer::Blocks(format!("{rule}, and usb_storage is not loaded")),
            Loaded::Yes => Layer::DoesNotBlock(format!(
                "{rule} is in place, but usb_storage is loaded now ({LOADED_PATH} exists), so USB storage works until you {UNLOAD}"
            )),
            Loaded::Unknown(why) => Layer::Unknown(format!("{rule} is in place, but {why}")),
        };
    }
    if !blacklists.is_empty() {
        return Layer::DoesNotBlock(format!(
            "only `blacklist usb-storage` ({}): it stops loading by alias, but `modprobe usb-storage` still loads it and uas pulls it in as a dependency",
            blacklists.join(", ")
        ));
    }
    Layer::DoesNotBlock("no `install usb-storage /bin/false` rule in modprobe.d".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_lists_name_usb_storage_whatever_the_compression() {
        assert!(lists_usb_storage(
            "kernel/drivers/usb/storage/usb-storage.ko.zst\n"
        ));
        assert!(lists_usb_storage(
            "kernel/drivers/usb/storage/usb-storage.ko"
        ));
        assert!(!lists_usb_storage(
            "kernel/drivers/usb/storage/uas.ko\nkernel/drivers/usb/storage/ums-realtek.ko"
        ));
        assert!(!lists_usb_storage("usb-storage"));
    }
}
