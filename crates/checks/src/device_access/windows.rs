//! Ways into a Windows PC.

use posture_host::Host;

use super::AccessFacts;

pub(crate) fn gather(_host: &dyn Host) -> AccessFacts {
    AccessFacts { doors: vec![], evidence: vec![] }
}
