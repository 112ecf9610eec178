//! Screen lock probe for macos.

use posture_host::Host;

use super::ScreenLockFacts;

pub(super) fn gather(_host: &dyn Host) -> ScreenLockFacts {
    ScreenLockFacts {
        undecided: Some(
            "this version of posture cannot read screen lock settings on macos yet".to_owned(),
        ),
        ..ScreenLockFacts::default()
    }
}
