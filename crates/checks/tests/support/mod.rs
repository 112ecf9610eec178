//! Judging the recorded evidence bundles of one operating system, shared by the macOS and
//! Windows bundle tests. Each test binary uses a different part of it.
#![allow(dead_code)]

use posture_checks::{
    device_access, disk_encryption, password_rules, removable_media, screen_lock,
};
use posture_host::{EvidenceBundle, Platform, ReplayHost};
use posture_policy::{Policy, RemoteAccessMode, RemovableMediaMode};
use posture_schema::{Finding, Status};

/// The bundles of one platform, under `tests/fixtures/<dir>/`.
pub(crate) struct Bundles {
    pub(crate) platform: Platform,
    pub(crate) dir: &'static str,
}

impl Bundles {
    pub(crate) fn fixture_dir(&self) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(self.dir)
    }

    /// The replay host of bundle `name`, checked to be of this platform.
    pub(crate) fn host(&self, name: &str) -> ReplayHost {
        let path = self.fixture_dir().join(format!("{name}.json"));
        let text = fs_err::read_to_string(&path).unwrap();
        let bundle = EvidenceBundle::from_json(&path.display().to_string(), &text).unwrap();
        assert_eq!(bundle.platform, self.platform);
        ReplayHost::new(bundle)
    }

    pub(crate) fn screen_lock(&self, name: &str) -> Finding {
        let rule = Policy::embedded().rules.screen_lock;
        screen_lock::evaluate(&screen_lock::gather(&self.host(name)), &rule, self.platform)
    }

    pub(crate) fn disk(&self, name: &str) -> Finding {
        let rule = Policy::embedded().rules.disk_encryption;
        disk_encryption::evaluate(
            &disk_encryption::gather(&self.host(name)),
            &rule,
            self.platform,
        )
    }

    pub(crate) fn removable(&self, name: &str, mode: RemovableMediaMode) -> Finding {
        let mut rule = Policy::embedded().rules.removable_media;
        rule.mode = mode;
        removable_media::evaluate(
            &removable_media::gather(&self.host(name)),
            &rule,
            self.platform,
        )
    }
}

impl Bundles {
    pub(crate) fn access(&self, name: &str, remote: RemoteAccessMode) -> Finding {
        let mut rule = Policy::embedded().rules.device_access;
        rule.remote_access = remote;
        device_access::evaluate(
            &device_access::gather(&self.host(name)),
            &rule,
            self.platform,
        )
    }
}

impl Bundles {
    pub(crate) fn password(&self, name: &str) -> Finding {
        let rule = Policy::embedded().rules.password_rules;
        password_rules::evaluate(
            &password_rules::gather(&self.host(name)),
            &rule,
            self.platform,
        )
    }
}

/// Whether the finding's summary or one of its subjects says `text`.
pub(crate) fn says(f: &Finding, text: &str) -> bool {
    f.summary.contains(text) || f.subjects.iter().any(|s| s.summary.contains(text))
}

#[track_caller]
pub(crate) fn expect(f: &Finding, status: Status, reason: &str) {
    assert_eq!(f.status, status, "{f:#?}");
    assert!(says(f, reason), "expected {reason:?} in {f:#?}");
}

/// Asserts that no finding of any bundle shows Rust's debug rendering (`Some(false)`, `None`)
/// in its summary, subjects or evidence values: people read these texts.
pub(crate) fn no_debug_output(bundles: &Bundles) {
    let policy = posture_policy::Policy::embedded();
    let mut checked = 0;
    for entry in fs_err::read_dir(bundles.fixture_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let a = posture_checks::assess(&bundles.host(&name), &policy);
        for f in &a.findings {
            let mut texts = vec![f.summary.clone()];
            texts.extend(f.subjects.iter().map(|s| s.summary.clone()));
            texts.extend(f.evidence.iter().map(|e| e.value.clone()));
            for t in texts {
                for bad in ["Some(", "None", "Ok(", "Err("] {
                    assert!(!t.contains(bad), "{name}: {t:?} shows {bad}");
                }
            }
        }
        checked += 1;
    }
    assert!(checked > 0);
}
