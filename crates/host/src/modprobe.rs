//! Parsers for kmod's configuration (`modprobe.d(5)`) and the module names in the kernel
//! command line.
//!
//! Which files are in effect follows kmod: only `*.conf` files in [`MODPROBE_DIRS`]; a file name
//! seen in an earlier directory hides files of the same name in later ones; the files left are
//! read in lexicographic order of their names, whatever their directory.

/// The directories kmod reads, highest priority first.
pub const MODPROBE_DIRS: [&str; 5] = [
    "/etc/modprobe.d",
    "/run/modprobe.d",
    "/usr/local/lib/modprobe.d",
    "/usr/lib/modprobe.d",
    "/lib/modprobe.d",
];

/// A module name as kmod compares it: `-` and `_` are the same character.
#[must_use]
pub fn normalize_module_name(name: &str) -> String {
    name.replace('-', "_")
}

/// A configuration line that matters for whether a module can be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModprobeDirective {
    /// `blacklist MODULE`: the module's aliases are ignored (it can still be loaded by name or
    /// as a dependency).
    Blacklist {
        /// Normalized module name.
        module: String,
    },
    /// `install MODULE COMMAND...`: modprobe runs the command instead of inserting the module.
    Install {
        /// Normalized module name.
        module: String,
        /// The command, as written.
        command: String,
    },
}

/// One directive with the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModprobeLine {
    /// Line number in the file where the directive starts.
    pub line: usize,
    /// What it says.
    pub directive: ModprobeDirective,
}

/// Parses one `modprobe.d` file, keeping `blacklist` and `install` directives. Lines ending in
/// `\` continue on the next line; `#` starts a comment line. Other directives (`options`,
/// `alias`, `softdep`, `remove`) and malformed lines are ignored.
#[must_use]
pub fn parse_modprobe_conf(text: &str) -> Vec<ModprobeLine> {
    let mut out = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for (index, raw) in text.lines().enumerate() {
        if pending.is_empty() {
            start = index + 1;
            if raw.trim_start().starts_with('#') {
                continue;
            }
        }
        if let Some(head) = raw.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(raw);
        if let Some(directive) = parse_directive(&pending) {
            out.push(ModprobeLine {
                line: start,
                directive,
            });
        }
        pending.clear();
    }
    if let Some(directive) = parse_directive(&pending) {
        out.push(ModprobeLine {
            line: start,
            directive,
        });
    }
    out
}

fn parse_directive(line: &str) -> Option<ModprobeDirective> {
    let mut words = line.split_ascii_whitespace();
    let keyword = words.next()?;
    let module = normalize_module_name(words.next()?);
    match keyword {
        "blacklist" => Some(ModprobeDirective::Blacklist { module }),
        "install" => {
            let command = words.collect::<Vec<_>>().join(" ");
            if command.is_empty() {
                return None;
            }
            Some(ModprobeDirective::Install { module, command })
        }
        _ => None,
    }
}

/// The configuration files kmod reads, given the `*.conf`-or-not listing of each directory in
/// [`MODPROBE_DIRS`] order: `(directory, file names)`. Returns full paths in reading order.
#[must_use]
pub fn effective_conf_files(listings: &[(&str, Vec<String>)]) -> Vec<String> {
    let mut chosen: Vec<(String, String)> = Vec::new();
    for (dir, names) in listings {
        for name in names {
            if !name.ends_with(".conf") || chosen.iter().any(|(n, _)| n == name) {
                continue;
            }
            chosen.push((
                name.clone(),
                format!("{}/{name}", dir.trim_end_matches('/')),
            ));
        }
    }
    chosen.sort();
    chosen.into_iter().map(|(_, path)| path).collect()
}

/// Module names listed by a kernel command-line parameter that takes a comma-separated list,
/// e.g. `module_blacklist` or `modprobe.blacklist`, normalized.
#[must_use]
pub fn cmdline_module_list(cmdline: &str, parameter: &str) -> Vec<String> {
    let prefix = format!("{parameter}=");
    cmdline
        .split_ascii_whitespace()
        // Everything after a lone "--" is for init, not the kernel.
        .take_while(|w| *w != "--")
        .filter_map(|w| w.strip_prefix(&prefix))
        .flat_map(|list| list.split(','))
        .filter(|m| !m.is_empty())
        .map(normalize_module_name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn install_and_blacklist_lines_are_read_with_names_normalized() {
        let lines = parse_modprobe_conf(
            "# CIS 1.1.10\ninstall usb-storage /bin/false\nblacklist usb-storage\noptions usb_storage delay_use=1\n",
        );
        assert_eq!(
            lines,
            vec![
                ModprobeLine {
                    line: 2,
                    directive: ModprobeDirective::Install {
                        module: "usb_storage".into(),
                        command: "/bin/false".into()
                    }
                },
                ModprobeLine {
                    line: 3,
                    directive: ModprobeDirective::Blacklist {
                        module: "usb_storage".into()
                    }
                },
            ]
        );
    }

    #[test]
    fn a_backslash_continues_the_line() {
        let lines = parse_modprobe_conf("install usb_storage \\\n  /bin/true\n");
        assert_eq!(
            lines,
            vec![ModprobeLine {
                line: 1,
                directive: ModprobeDirective::Install {
                    module: "usb_storage".into(),
                    command: "/bin/true".into()
                }
            }]
        );
    }

    #[test]
    fn a_file_in_etc_hides_the_same_name_in_lib_and_files_are_read_by_name() {
        let files = effective_conf_files(&[
            (
                "/etc/modprobe.d",
                vec!["usb.conf".into(), "notes.txt".into()],
            ),
            ("/run/modprobe.d", vec![]),
            (
                "/lib/modprobe.d",
                vec!["usb.conf".into(), "aaa.conf".into()],
            ),
        ]);
        assert_eq!(
            files,
            vec!["/lib/modprobe.d/aaa.conf", "/etc/modprobe.d/usb.conf"]
        );
    }

    #[test]
    fn kernel_parameters_after_a_double_dash_are_not_the_kernels() {
        let cmdline = "root=/dev/vda module_blacklist=usb-storage,uas quiet -- module_blacklist=x";
        assert_eq!(
            cmdline_module_list(cmdline, "module_blacklist"),
            vec!["usb_storage", "uas"]
        );
        assert!(cmdline_module_list(cmdline, "modprobe.blacklist").is_empty());
    }

    proptest! {
        #[test]
        fn modprobe_parsers_never_panic(text in "\\PC*") {
            let _ = parse_modprobe_conf(&text);
            let _ = cmdline_module_list(&text, "module_blacklist");
        }

        #[test]
        fn modprobe_parser_never_panics_on_directive_like_lines(
            text in "((install|blacklist|#|options)?[ \\t]*[a-z_-]{0,6}[ \\t]*[/a-z]{0,6}\\\\?\n){0,6}"
        ) {
            let _ = parse_modprobe_conf(&text);
        }
    }
}
