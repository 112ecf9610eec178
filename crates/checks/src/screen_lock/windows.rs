//! Screen lock probe for windows.

use posture_host::Host;

use super::ScreenLockFacts;

pub(super) fn gather(_host: &dyn Host) -> ScreenLockFacts {
    ScreenLockFacts {
        undecided: Some(
            "this version of posture cannot read screen lock settings on windows yet".to_owned(),
        ),
        ..ScreenLockFacts::default()
    }
}
