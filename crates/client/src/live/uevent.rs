//! Kernel uevent messages (`NETLINK_KOBJECT_UEVENT`, group 1): a pure parser, so hot-plug
//! handling is tested with recorded bytes on any machine.
//!
//! A message is `ACTION@DEVPATH` then `KEY=VALUE` fields, each ended by a NUL byte. Messages
//! re-broadcast by udev start with `libudev` and a binary header; they are not parsed (posture
//! listens to the kernel's group only).

/// The fields of one kernel uevent that decide whether it matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uevent {
    /// `add`, `remove`, `change`, `move`, `bind`, `unbind`, ...
    pub action: String,
    /// The device's path under `/sys`, e.g. `/devices/virtual/block/loop7`.
    pub devpath: String,
    /// `block`, `usb`, `mem`, ...
    pub subsystem: Option<String>,
    /// The device node name under `/dev`, e.g. `sdb1`.
    pub devname: Option<String>,
}

/// Why a datagram is not a kernel uevent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UeventError {
    /// A udev re-broadcast (`libudev` header), not the kernel's message.
    #[error("a udev message, not a kernel uevent")]
    Udev,
    /// The header is not `ACTION@DEVPATH`.
    #[error("no ACTION@DEVPATH header")]
    NoHeader,
}

/// Parses one datagram. Fields that are not `KEY=VALUE` or not UTF-8 are skipped.
///
/// # Errors
/// When the datagram is a udev message or has no `ACTION@DEVPATH` header.
pub fn parse(bytes: &[u8]) -> Result<Uevent, UeventError> {
    if bytes.starts_with(b"libudev\0") {
        return Err(UeventError::Udev);
    }
    let mut fields = bytes.split(|b| *b == 0).filter(|f| !f.is_empty());
    let header = fields.next().ok_or(UeventError::NoHeader)?;
    let header = std::str::from_utf8(header).map_err(|_| UeventError::NoHeader)?;
    let (action, devpath) = header.split_once('@').ok_or(UeventError::NoHeader)?;
    if action.is_empty() || !devpath.starts_with('/') {
        return Err(UeventError::NoHeader);
    }
    let mut event = Uevent {
        action: action.to_owned(),
        devpath: devpath.to_owned(),
        subsystem: None,
        devname: None,
    };
    for field in fields {
        let Ok(field) = std::str::from_utf8(field) else {
            continue;
        };
        match field.split_once('=') {
            Some(("SUBSYSTEM", v)) => event.subsystem = Some(v.to_owned()),
            Some(("DEVNAME", v)) => event.devname = Some(v.to_owned()),
            _ => {}
        }
    }
    Ok(event)
}

impl Uevent {
    /// Whether this event can change a verdict: a block device (a disk, a partition, a USB
    /// stick, a card in a reader) appeared, went, changed media or moved.
    #[must_use]
    pub fn concerns_block_devices(&self) -> bool {
        self.subsystem.as_deref() == Some("block")
            && matches!(self.action.as_str(), "add" | "remove" | "change" | "move")
    }

    /// A short description for logs and `posture status`: `block device loop7: add`.
    #[must_use]
    pub fn describe(&self) -> String {
        let name = self
            .devname
            .as_deref()
            .unwrap_or_else(|| self.devpath.rsplit('/').next().unwrap_or(&self.devpath));
        format!("block device {name}: {}", self.action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADD: &[u8] =
        include_bytes!("../../../../tests/fixtures/linux/uevent/block-loop7-add.bin");
    const CHANGE: &[u8] =
        include_bytes!("../../../../tests/fixtures/linux/uevent/block-loop7-change.bin");
    const MEM: &[u8] =
        include_bytes!("../../../../tests/fixtures/linux/uevent/mem-null-change.bin");

    #[test]
    fn a_recorded_block_add_is_parsed_and_concerns_block_devices() {
        let e = parse(ADD).unwrap();
        assert_eq!(e.action, "add");
        assert_eq!(e.devpath, "/devices/virtual/block/loop7");
        assert_eq!(e.subsystem.as_deref(), Some("block"));
        assert_eq!(e.devname.as_deref(), Some("loop7"));
        assert!(e.concerns_block_devices());
        assert_eq!(e.describe(), "block device loop7: add");
        assert!(parse(CHANGE).unwrap().concerns_block_devices());
    }

    #[test]
    fn a_recorded_event_of_another_subsystem_is_ignored() {
        let e = parse(MEM).unwrap();
        assert_eq!(e.subsystem.as_deref(), Some("mem"));
        assert!(!e.concerns_block_devices());
    }

    #[test]
    fn udev_rebroadcasts_and_garbage_are_refused_without_panicking() {
        assert_eq!(parse(b"libudev\0\xfe\xed"), Err(UeventError::Udev));
        assert_eq!(parse(b""), Err(UeventError::NoHeader));
        assert_eq!(parse(b"no header\0A=B\0"), Err(UeventError::NoHeader));
        assert_eq!(parse(b"add@relative\0"), Err(UeventError::NoHeader));
        // Truncated in the middle of a field: the header still counts.
        let cut = &ADD[..ADD.len() - 5];
        assert!(parse(cut).is_ok());
    }

    #[test]
    fn unbind_of_a_block_device_does_not_concern_verdicts() {
        let e = parse(b"unbind@/devices/x/block/sdb\0SUBSYSTEM=block\0").unwrap();
        assert!(!e.concerns_block_devices());
    }
}
