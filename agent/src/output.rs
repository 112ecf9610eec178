//! Everything the agent prints to people and machines. Data goes to stdout, diagnostics to
//! stderr. Colour only on a terminal, never when `NO_COLOR` is set or output is piped (anstream
//! strips the styling).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Write as _;
use std::io::Write as _;

use anstream::eprintln;
use anstyle::{AnsiColor, Style};
use posture_policy::Policy;
use posture_schema::{Enforced, Enforcer, Finding, Posture, Report, Setting, Status};

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();

fn status_style(status: Status) -> Style {
    match status {
        Status::Pass => AnsiColor::Green.on_default(),
        Status::Fail => AnsiColor::Red.on_default().bold(),
        Status::Unknown => AnsiColor::Yellow.on_default(),
        Status::NotApplicable => Style::new().dimmed(),
        Status::Error => AnsiColor::Magenta.on_default().bold(),
    }
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Fail => "FAIL",
        Status::Unknown => "unknown",
        Status::NotApplicable => "n/a",
        Status::Error => "ERROR",
    }
}

/// Prints the report as pretty JSON.
pub(crate) fn json(report: &Report) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(report)?;
    text.push('\n');
    emit(&text)
}

/// Prints the report as a table for people: one row per check, then the details of every check
/// that did not pass, with how to fix it, then the overall verdict and whom to tell.
pub(crate) fn human(report: &Report, verbose: bool) -> anyhow::Result<()> {
    let mut out = String::new();
    render_human(&mut out, report, verbose);
    emit(&out)
}

/// Writes to stdout through anstream (which drops colour when it must). A closed pipe
/// (`posture --check | head`) is not an error worth reporting: the reader had what it wanted.
/// Any other failure (a full disk, `> /dev/full`) is: the output is lost, so the command fails
/// with status 2 and says so on stderr.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut stdout = anstream::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("could not write to standard output"))
        }
        _ => Ok(()),
    }
}

fn render_human(out: &mut String, report: &Report, verbose: bool) {
    let d = &report.device;
    let os = [d.os.name.as_deref(), d.os.version.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let _ = writeln!(
        out,
        "{BOLD}{}{BOLD:#} {} {DIM}(policy: {}; {} {}){DIM:#}",
        report.policy.name,
        report.policy.version,
        report.policy.source,
        report.agent.name,
        report.agent.version
    );
    let _ = writeln!(
        out,
        "Device: {} {DIM}({}){DIM:#}",
        d.hostname.as_deref().unwrap_or("(unknown host)"),
        if os.is_empty() {
            d.os.family.as_str()
        } else {
            os.as_str()
        }
    );
    let _ = writeln!(out);

    let title_w = report
        .checks
        .iter()
        .map(|c| c.title.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let clause_w = report
        .checks
        .iter()
        .map(|c| c.clause.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        out,
        "  {BOLD}{:<7}  {:<title_w$}  {:<clause_w$}  {:<8}  WHY{BOLD:#}",
        "STATUS", "CHECK", "CLAUSE", "ENFORCED"
    );
    for c in &report.checks {
        let style = status_style(c.status);
        let _ = writeln!(
            out,
            "  {style}{:<7}{style:#}  {:<title_w$}  {DIM}{:<clause_w$}{DIM:#}  {:<8}  {}",
            status_word(c.status),
            c.title,
            c.clause,
            enforcement_word(c.enforcement()),
            c.summary
        );
    }

    for c in &report.checks {
        if c.status != Status::Pass && c.status != Status::NotApplicable || verbose {
            details(out, c, verbose);
        }
    }

    let _ = writeln!(out);
    let style = match report.posture {
        Posture::Compliant => AnsiColor::Green.on_default().bold(),
        Posture::Noncompliant => AnsiColor::Red.on_default().bold(),
        Posture::Unknown => AnsiColor::Yellow.on_default().bold(),
    };
    let count = |s: Status| report.checks.iter().filter(|c| c.status == s).count();
    let verdict = match report.posture {
        Posture::Compliant => "COMPLIANT".to_owned(),
        Posture::Noncompliant => format!(
            "NON-COMPLIANT ({} failing, {} undecided)",
            count(Status::Fail),
            count(Status::Unknown) + count(Status::Error)
        ),
        Posture::Unknown => format!(
            "UNDECIDED ({} check(s) could not be decided; nothing failed)",
            count(Status::Unknown) + count(Status::Error)
        ),
    };
    let _ = writeln!(out, "Posture: {style}{verdict}{style:#}");
    let _ = writeln!(
        out,
        "Lost or stolen device, misuse or a security problem? Tell {} immediately ({}).",
        report.policy.security_contact, report.policy.organisation
    );
}

fn details(out: &mut String, c: &Finding, verbose: bool) {
    let style = status_style(c.status);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{BOLD}{}{BOLD:#} {style}{}{style:#} {DIM}({}){DIM:#}",
        c.title,
        status_word(c.status),
        c.clause
    );
    for s in &c.subjects {
        if s.status == Status::Pass && !verbose {
            continue;
        }
        let st = status_style(s.status);
        let _ = writeln!(
            out,
            "  {st}{:<7}{st:#} {}: {}",
            status_word(s.status),
            s.name,
            s.summary
        );
        for setting in &s.settings {
            let _ = writeln!(out, "          {DIM}-{DIM:#} {}", setting_line(setting));
            if verbose {
                for note in &setting.notes {
                    let _ = writeln!(out, "            {DIM}note: {note}{DIM:#}");
                }
            }
        }
    }
    if !c.remediation.is_empty() {
        let _ = writeln!(out, "  How to fix:");
        for (i, step) in c.remediation.iter().enumerate() {
            let _ = writeln!(out, "    {}. {step}", i + 1);
        }
    }
    if verbose {
        let _ = writeln!(out, "  Evidence:");
        for e in &c.evidence {
            let key = e
                .key
                .as_deref()
                .map(|k| format!(" [{k}]"))
                .unwrap_or_default();
            let subject = e
                .subject
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    {DIM}{}{key}{subject}:{DIM:#} {}",
                e.source, e.value
            );
        }
    }
}

/// The table's ENFORCED column: whether management enforces what the check's verdict rests on
/// (`-` when the check reports no settings).
fn enforcement_word(e: Option<Enforced>) -> &'static str {
    match e {
        Some(Enforced::Yes) => "yes",
        Some(Enforced::No) => "no",
        Some(Enforced::Unknown) => "unknown",
        None => "-",
    }
}

/// One setting as people read it: `idle-delay = uint32 600 (/etc/dconf/db/local ...): enforced
/// by dconf lock /etc/dconf/db/local (system database local; removable by the user)`.
fn setting_line(s: &Setting) -> String {
    let by: Vec<String> = s
        .enforced_by
        .iter()
        .map(|e| {
            let mut t = format!("{} {}", kind_label(&e.kind), e.id);
            let mut extra = Vec::new();
            if let Some(n) = &e.name {
                extra.push(n.clone());
            }
            extra.push(format!(
                "removable by {}",
                match e.removable_by.as_str() {
                    Enforcer::BY_USER => "the user",
                    Enforcer::BY_LOCAL_ADMIN => "a local administrator",
                    Enforcer::BY_MANAGEMENT => "its management only",
                    other => other,
                }
            ));
            if let Some(v) = &e.value {
                extra.push(format!("asks for {v}"));
            }
            t.push_str(&format!(" ({})", extra.join("; ")));
            t
        })
        .collect();
    let state = match (s.enforced, by.is_empty()) {
        (Enforced::Yes, false) => format!("enforced by {}", by.join(", ")),
        (Enforced::Yes, true) => "enforced".to_owned(),
        (Enforced::No, true) => "not enforced".to_owned(),
        (Enforced::No, false) => format!("not enforced ({} not in effect)", by.join(", ")),
        (Enforced::Unknown, _) => format!(
            "enforcement unknown{}",
            s.notes
                .first()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ),
    };
    format!("{} = {} ({}): {state}", s.name, s.value, s.source)
}

fn kind_label(kind: &str) -> &str {
    match kind {
        Enforcer::MDM_PROFILE => "MDM profile",
        Enforcer::MANUAL_PROFILE => "manual profile",
        Enforcer::LOCAL_MCX => "local MCX",
        Enforcer::MANAGED_PREFERENCE => "managed preference",
        Enforcer::GPO => "Group Policy",
        Enforcer::LOCAL_POLICY => "local policy",
        Enforcer::POLICY_KEY => "policy value",
        Enforcer::MDM_CSP => "MDM policy",
        Enforcer::DCONF_LOCK => "dconf lock",
        Enforcer::KDE_IMMUTABLE => "KDE immutable",
        Enforcer::XFCONF_LOCK => "xfconf lock",
        Enforcer::MODPROBE_RULE => "modprobe rule",
        Enforcer::UDEV_RULE => "udev rule",
        Enforcer::USBGUARD_RULE => "USBGuard rules",
        Enforcer::SYSTEM_SETTING => "system setting",
        other => other,
    }
}

/// Prints a policy with where it came from.
pub(crate) fn policy(policy: &Policy) -> anyhow::Result<()> {
    let mut out = format!(
        "# source: {}\n# digest: {}\n{}",
        policy.source, policy.digest, policy.text
    );
    if !out.ends_with('\n') {
        out.push('\n');
    }
    for id in policy.defaulted_sections() {
        if let Some(section) = posture_policy::default_section_text(id) {
            out.push_str(&format!(
                "\n# [{id}] is not in this file; the embedded policy's section applies:\n"
            ));
            for line in section.lines() {
                out.push_str(&format!("# {line}\n"));
            }
        }
    }
    emit(&out)
}

/// Tells on stderr which check sections a policy file lacks (their defaults apply).
pub(crate) fn defaulted_sections(policy: &Policy) {
    let missing = policy.defaulted_sections();
    if missing.is_empty() {
        return;
    }
    let yellow = AnsiColor::Yellow.on_default().bold();
    eprintln!(
        "{yellow}note:{yellow:#} {} has no [{}] section: the embedded policy's defaults apply (`posture policy show --policy {}` prints them)",
        policy.source,
        missing.join("], ["),
        policy.source
    );
}

/// Prints an error and its causes to stderr.
pub(crate) fn error(err: &anyhow::Error) {
    let red = AnsiColor::Red.on_default().bold();
    eprintln!("{red}error:{red:#} {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    if err.downcast_ref::<posture_policy::PolicyError>().is_some() {
        eprintln!("hint: `posture policy show` prints the embedded policy, a valid starting point");
    }
}

/// Prints an error with a hint line.
pub(crate) fn error_with_hint(message: &str, hint: &str) {
    let red = AnsiColor::Red.on_default().bold();
    eprintln!("{red}error:{red:#} {message}");
    eprintln!("hint: {hint}");
}
