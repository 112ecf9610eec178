//! Parser for udev's device database (`/run/udev/data/b<MAJ>:<MIN>` for block devices): the
//! properties udev computed for a device (`E:ID_BUS=usb`, `E:ID_FS_TYPE=crypto_LUKS`) and its
//! `/dev` symlinks (`S:disk/by-id/...`). Reading the file needs no libudev and works under a
//! mounted root.

/// The udev database path of a block device.
#[must_use]
pub fn block_record_path(major: u32, minor: u32) -> String {
    format!("/run/udev/data/b{major}:{minor}")
}

/// One device's udev record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UdevRecord {
    /// `E:` properties in file order.
    pub properties: Vec<(String, String)>,
    /// `S:` symlinks, relative to `/dev`.
    pub links: Vec<String>,
}

impl UdevRecord {
    /// The value of a property, e.g. `ID_BUS`.
    #[must_use]
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a udev database record. Lines of other kinds (`I:`, `G:`, `Q:`, `V:`, `W:`, `L:`) and
/// malformed lines are ignored.
#[must_use]
pub fn parse_udev_record(text: &str) -> UdevRecord {
    let mut record = UdevRecord::default();
    for line in text.lines() {
        if let Some(prop) = line.strip_prefix("E:") {
            if let Some((k, v)) = prop.split_once('=') {
                record.properties.push((k.to_owned(), v.to_owned()));
            }
        } else if let Some(link) = line.strip_prefix("S:") {
            record.links.push(link.to_owned());
        }
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn properties_and_links_are_read() {
        let r = parse_udev_record(
            "S:disk/by-id/usb-Kingston_DataTraveler_3.0-0:0\nI:1734521871234\nE:ID_BUS=usb\nE:ID_MODEL=DataTraveler_3.0\nE:BROKEN\nV:1\n",
        );
        assert_eq!(r.property("ID_BUS"), Some("usb"));
        assert_eq!(r.property("ID_MODEL"), Some("DataTraveler_3.0"));
        assert_eq!(r.property("BROKEN"), None);
        assert_eq!(
            r.links,
            vec!["disk/by-id/usb-Kingston_DataTraveler_3.0-0:0"]
        );
        assert_eq!(block_record_path(8, 1), "/run/udev/data/b8:1");
    }

    proptest! {
        #[test]
        fn udev_parser_never_panics(text in "\\PC*") {
            let _ = parse_udev_record(&text);
        }
    }
}
