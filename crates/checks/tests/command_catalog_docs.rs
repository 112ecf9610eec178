//! The command tables of `docs/command-catalog.md` and the README list the same commands, and the
//! commands the credentials check added are in both.

const DOCS: &str = include_str!("../../../docs/command-catalog.md");
const README: &str = include_str!("../../../README.md");

/// Table rows whose first cell is a command (files read are listed in the docs only).
fn command_rows(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .filter(|l| {
            let first = l.trim_start_matches("| `");
            first.starts_with("/usr/")
                || first.starts_with("/bin/")
                || first.starts_with("/sbin/")
                || first.starts_with("reg.exe")
                || first.starts_with("powercfg.exe")
                || first.starts_with("powershell.exe")
        })
        .collect()
}

#[test]
fn every_command_of_the_catalog_document_is_in_the_readme_and_back() {
    let docs = command_rows(DOCS);
    let readme = command_rows(README);
    assert!(docs.len() > 20, "{} command rows", docs.len());
    for row in &docs {
        assert!(readme.contains(row), "README.md lacks: {row}");
    }
    for row in &readme {
        assert!(docs.contains(row), "docs/command-catalog.md lacks: {row}");
    }
}

#[test]
fn the_credentials_profile_query_is_documented_as_the_catalog_runs_it() {
    let sid =
        posture_checks::catalog::Sid::new("S-1-5-21-1004336348-1177238915-682003330-1001").unwrap();
    let spec = posture_checks::catalog::windows_user_profile(&sid);
    let shown = format!(
        "reg.exe {}",
        spec.args
            .iter()
            .map(|a| if a.contains(' ') {
                format!("\"{a}\"")
            } else {
                a.clone()
            })
            .collect::<Vec<_>>()
            .join(" ")
    )
    .replace(sid.as_str(), "SID");
    for (name, text) in [("docs/command-catalog.md", DOCS), ("README.md", README)] {
        assert!(
            command_rows(text)
                .iter()
                .any(|r| r.starts_with(&format!("| `{shown}` |"))),
            "{name} lacks {shown}"
        );
    }
}
