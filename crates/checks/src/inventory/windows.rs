//! Inventory for windows.

use posture_host::Host;
use posture_schema::{Device, OsInfo};

pub(super) fn gather(_host: &dyn Host) -> Device {
    Device {
        os: OsInfo {
            family: "windows".to_owned(),
            ..OsInfo::default()
        },
        ..Device::default()
    }
}
