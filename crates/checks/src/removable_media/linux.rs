//! Removable media probe for linux.

use posture_host::Host;

use super::{RemovableFacts, StorageControl};

pub(super) fn gather(_host: &dyn Host) -> RemovableFacts {
    RemovableFacts {
        control: StorageControl::Unknown {
            reason: "this version of posture cannot read removable media controls on linux yet"
                .to_owned(),
        },
        mounted: Vec::new(),
        mounts_unknown: None,
        evidence: Vec::new(),
    }
}
