//! Disk encryption probe for windows.

use posture_host::Host;

use super::EncryptionFacts;

pub(super) fn gather(_host: &dyn Host) -> EncryptionFacts {
    EncryptionFacts {
        undecided: Some(
            "this version of posture cannot read disk encryption on windows yet".to_owned(),
        ),
        ..EncryptionFacts::default()
    }
}
