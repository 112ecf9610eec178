//! Planning a batch of reports in memory, so that storing it takes a handful of set-based
//! statements instead of several statements per report. Round trips to the database (and, for
//! SQLite, hops to its worker thread) are what limit ingest, not the SQL itself.

use std::collections::{HashMap, HashSet};

use posture_schema::Posture;

use super::{DeviceEvent, IngestItem, IngestOutcome, Inventory};

/// What the database says about a device before the batch.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeviceState {
    /// When the collector received the device's latest report: reports are ordered by the
    /// collector's clock, never the agent's.
    pub(crate) latest_received_at: Option<i64>,
    pub(crate) posture: Option<Posture>,
    pub(crate) noncompliant_since: Option<i64>,
    pub(crate) check_now: Option<i64>,
    /// The machine id the device enrolled with.
    pub(crate) machine_id: Option<String>,
    /// The serial number the collector knows.
    pub(crate) hw_serial: Option<String>,
    /// The OS family the collector knows (from reports, else from enrollment).
    pub(crate) os_family: Option<String>,
}

/// The new row values of one device after the batch.
#[derive(Debug)]
pub(crate) struct DeviceUpdate<'a> {
    pub(crate) device_id: &'a str,
    pub(crate) last_seen_at: i64,
    pub(crate) check_now: Option<i64>,
    /// Set when a report of this batch became the device's latest: the report, since when the
    /// device is non-compliant, and the inventory to keep (the report's, except identity
    /// fields that changed: those keep the known value and are recorded as events).
    pub(crate) latest: Option<(&'a IngestItem, Option<i64>, Inventory)>,
}

/// Everything to write for one batch, in a fixed order (by key) so that concurrent batches on
/// PostgreSQL take row locks in the same order and cannot deadlock each other.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    pub(crate) outcomes: Vec<IngestOutcome>,
    pub(crate) devices: Vec<DeviceUpdate<'a>>,
    /// One report per (day, device): the newest of the batch.
    pub(crate) daily: Vec<&'a IngestItem>,
    /// Identity changes the batch's reports showed, in order.
    pub(crate) events: Vec<DeviceEvent>,
}

/// Compares a reported identity value with the known one: the value to keep, and an event when
/// they differ. A value the collector did not know yet is adopted.
fn identity(
    device_id: &str,
    item: &IngestItem,
    kind: &str,
    known: &mut Option<String>,
    reported: Option<&String>,
    events: &mut Vec<DeviceEvent>,
) -> Option<String> {
    match (known.as_ref(), reported) {
        (Some(old), Some(new)) if old != new => {
            events.push(DeviceEvent {
                device_id: device_id.to_owned(),
                at: item.received_at,
                kind: kind.to_owned(),
                old_value: Some(old.clone()),
                new_value: Some(new.clone()),
                report_id: Some(item.report_id.clone()),
            });
        }
        (None, Some(new)) => *known = Some(new.clone()),
        _ => {}
    }
    known.clone()
}

/// The first item of each distinct report id, in report-id order: the rows to insert.
pub(crate) fn distinct_reports(items: &[IngestItem]) -> Vec<&IngestItem> {
    let mut seen = HashSet::new();
    let mut rows: Vec<&IngestItem> = items
        .iter()
        .filter(|i| seen.insert(i.report_id.as_str()))
        .collect();
    rows.sort_by(|a, b| a.report_id.cmp(&b.report_id));
    rows
}

/// Works out outcomes and row updates. `inserted` holds the report ids the insert actually
/// added; `owners` the device of every report id of the batch that was already stored;
/// `states` the devices' rows before the batch.
pub(crate) fn plan<'a>(
    items: &'a [IngestItem],
    inserted: &HashSet<String>,
    owners: &HashMap<String, String>,
    mut states: HashMap<String, DeviceState>,
    skew_ms: i64,
) -> Plan<'a> {
    let mut first_of: HashMap<&str, usize> = HashMap::new();
    let mut touched: HashMap<&'a str, DeviceUpdate<'a>> = HashMap::new();
    let mut outcomes = Vec::with_capacity(items.len());
    let mut daily: HashMap<(&str, &str), &IngestItem> = HashMap::new();
    let mut events = Vec::new();

    for (index, item) in items.iter().enumerate() {
        let first = *first_of.entry(item.report_id.as_str()).or_insert(index);
        let stored_now = first == index && inserted.contains(&item.report_id);
        let owner = if inserted.contains(&item.report_id) {
            Some(items[first].device_id.as_str())
        } else {
            owners.get(&item.report_id).map(String::as_str)
        };
        let state = states.entry(item.device_id.clone()).or_default();
        let update = touched
            .entry(item.device_id.as_str())
            .or_insert_with(|| DeviceUpdate {
                device_id: item.device_id.as_str(),
                last_seen_at: item.received_at,
                check_now: state.check_now,
                latest: None,
            });
        update.last_seen_at = update.last_seen_at.max(item.received_at);

        if !stored_now {
            outcomes.push(if owner == Some(item.device_id.as_str()) {
                IngestOutcome::Duplicate {
                    check_now: state.check_now,
                }
            } else {
                IngestOutcome::ForeignReportId
            });
            continue;
        }

        // A check-now request is answered by a report generated after it (allowing for an agent
        // clock that runs a little behind). When the agent's clock is known to be off, its
        // times mean nothing: a report received after the request answers it.
        state.check_now = state.check_now.filter(|r| {
            if item.clock_skew_ms.is_some() {
                item.received_at < *r
            } else {
                item.generated_at < r - skew_ms
            }
        });
        update.check_now = state.check_now;

        // Identity is compared with every stored report, whatever its order.
        let device_id = item.device_id.as_str();
        identity(
            device_id,
            item,
            "machine_id_changed",
            &mut state.machine_id,
            item.machine_id.as_ref(),
            &mut events,
        );
        let serial = identity(
            device_id,
            item,
            "serial_changed",
            &mut state.hw_serial,
            item.inventory.hw_serial.as_ref(),
            &mut events,
        );
        let os_family = identity(
            device_id,
            item,
            "os_family_changed",
            &mut state.os_family,
            item.inventory.os_family.as_ref(),
            &mut events,
        );

        if state
            .latest_received_at
            .is_none_or(|r| item.received_at >= r)
        {
            let since = if item.posture == Posture::Noncompliant {
                match (state.posture, state.noncompliant_since) {
                    (Some(Posture::Noncompliant), Some(since)) => Some(since),
                    _ => Some(item.received_at),
                }
            } else {
                None
            };
            state.latest_received_at = Some(item.received_at);
            state.posture = Some(item.posture);
            state.noncompliant_since = since;
            let inventory = Inventory {
                hw_serial: serial,
                os_family,
                ..item.inventory.clone()
            };
            update.latest = Some((item, since, inventory));
        }
        let day = daily
            .entry((item.received_day.as_str(), item.device_id.as_str()))
            .or_insert(item);
        if item.received_at >= day.received_at {
            *day = item;
        }
        outcomes.push(IngestOutcome::Stored {
            check_now: state.check_now,
        });
    }

    let mut devices: Vec<DeviceUpdate<'a>> = touched.into_values().collect();
    devices.sort_by(|a, b| a.device_id.cmp(b.device_id));
    let mut daily: Vec<&IngestItem> = daily.into_values().collect();
    daily.sort_by(|a, b| {
        (a.received_day.as_str(), a.device_id.as_str())
            .cmp(&(b.received_day.as_str(), b.device_id.as_str()))
    });
    Plan {
        outcomes,
        devices,
        daily,
        events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Inventory;

    /// A report generated and received at `at`.
    fn item(device: &str, report: &str, at: i64, posture: Posture) -> IngestItem {
        IngestItem {
            device_id: device.into(),
            report_id: report.into(),
            generated_at: at,
            received_at: at,
            received_day: "2026-11-23".into(),
            agent_version: "0.1.0".into(),
            clock_skew_ms: None,
            machine_id: None,
            policy_digest: String::new(),
            policy_mismatch: false,
            posture,
            body: String::new(),
            inventory: Inventory::default(),
            findings: vec![],
            trigger: None,
        }
    }

    #[test]
    fn the_report_received_last_is_current_whatever_the_agent_clock_says() {
        // A report dated 2030 by a dead clock battery, then an honest one received later.
        let mut future = item("a", "future", 100, Posture::Compliant);
        future.generated_at = 1_900_000_000_000;
        future.clock_skew_ms = Some(1_900_000_000_000 - 100);
        let honest = item("a", "honest", 200, Posture::Noncompliant);
        let items = [future, honest];
        let inserted = HashSet::from(["future".to_owned(), "honest".to_owned()]);
        let plan = plan(&items, &inserted, &HashMap::new(), HashMap::new(), 0);
        let (latest, since, _) = plan.devices[0].latest.as_ref().unwrap();
        assert_eq!(latest.report_id, "honest");
        assert_eq!(
            *since,
            Some(200),
            "non-compliant since the collector received it"
        );
    }

    #[test]
    fn a_skewed_clock_answers_a_check_now_by_receive_time_only() {
        let mut r = item("a", "r", 50, Posture::Compliant);
        r.generated_at = 1_900_000_000_000;
        r.clock_skew_ms = Some(1_900_000_000_000 - 50);
        let states = HashMap::from([(
            "a".to_owned(),
            DeviceState {
                check_now: Some(60),
                ..DeviceState::default()
            },
        )]);
        let inserted = HashSet::from(["r".to_owned()]);
        let items = [r];
        let p = plan(&items, &inserted, &HashMap::new(), states.clone(), 0);
        assert_eq!(
            p.outcomes,
            vec![IngestOutcome::Stored {
                check_now: Some(60)
            }],
            "received before the request: not an answer, even dated 2030"
        );
        let mut later = items[0].clone();
        later.received_at = 70;
        let items = [later];
        let p = plan(&items, &inserted, &HashMap::new(), states, 0);
        assert_eq!(p.outcomes, vec![IngestOutcome::Stored { check_now: None }]);
    }

    #[test]
    fn identity_changes_are_events_and_keep_the_known_values() {
        let mut r = item("a", "r", 10, Posture::Compliant);
        r.machine_id = Some("other-machine".into());
        r.inventory.hw_serial = Some("NEW-SERIAL".into());
        r.inventory.os_family = Some("windows".into());
        r.inventory.hostname = Some("renamed".into());
        let states = HashMap::from([(
            "a".to_owned(),
            DeviceState {
                machine_id: Some("m-1".into()),
                hw_serial: Some("OLD-SERIAL".into()),
                os_family: Some("linux".into()),
                ..DeviceState::default()
            },
        )]);
        let inserted = HashSet::from(["r".to_owned()]);
        let items = [r];
        let plan = plan(&items, &inserted, &HashMap::new(), states, 0);
        let kinds: Vec<&str> = plan.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["machine_id_changed", "serial_changed", "os_family_changed"]
        );
        assert_eq!(plan.events[1].old_value.as_deref(), Some("OLD-SERIAL"));
        assert_eq!(plan.events[1].new_value.as_deref(), Some("NEW-SERIAL"));
        let (_, _, inventory) = plan.devices[0].latest.as_ref().unwrap();
        assert_eq!(inventory.hw_serial.as_deref(), Some("OLD-SERIAL"));
        assert_eq!(inventory.os_family.as_deref(), Some("linux"));
        assert_eq!(inventory.hostname.as_deref(), Some("renamed"));
    }

    #[test]
    fn a_serial_the_collector_did_not_know_is_adopted_without_an_event() {
        let mut r = item("a", "r", 10, Posture::Compliant);
        r.inventory.hw_serial = Some("S1".into());
        let inserted = HashSet::from(["r".to_owned()]);
        let items = [r];
        let plan = plan(&items, &inserted, &HashMap::new(), HashMap::new(), 0);
        assert!(plan.events.is_empty());
        let (_, _, inventory) = plan.devices[0].latest.as_ref().unwrap();
        assert_eq!(inventory.hw_serial.as_deref(), Some("S1"));
    }

    #[test]
    fn a_report_id_repeated_in_one_batch_is_stored_once_then_duplicate_or_foreign() {
        let items = [
            item("a", "r1", 10, Posture::Compliant),
            item("a", "r1", 10, Posture::Compliant),
            item("b", "r1", 10, Posture::Compliant),
        ];
        let inserted = HashSet::from(["r1".to_owned()]);
        let plan = plan(&items, &inserted, &HashMap::new(), HashMap::new(), 0);
        assert_eq!(
            plan.outcomes,
            vec![
                IngestOutcome::Stored { check_now: None },
                IngestOutcome::Duplicate { check_now: None },
                IngestOutcome::ForeignReportId,
            ]
        );
    }

    #[test]
    fn an_older_report_does_not_replace_the_latest_posture() {
        let items = [item("a", "old", 5, Posture::Noncompliant)];
        let states = HashMap::from([(
            "a".to_owned(),
            DeviceState {
                latest_received_at: Some(10),
                posture: Some(Posture::Compliant),
                ..DeviceState::default()
            },
        )]);
        let inserted = HashSet::from(["old".to_owned()]);
        let plan = plan(&items, &inserted, &HashMap::new(), states, 0);
        assert!(plan.devices[0].latest.is_none());
        assert_eq!(plan.daily.len(), 1);
    }

    #[test]
    fn noncompliance_keeps_its_start_time_across_reports() {
        let items = [
            item("a", "r1", 20, Posture::Noncompliant),
            item("a", "r2", 30, Posture::Noncompliant),
        ];
        let states = HashMap::from([(
            "a".to_owned(),
            DeviceState {
                latest_received_at: Some(10),
                posture: Some(Posture::Noncompliant),
                noncompliant_since: Some(7),
                check_now: Some(25),
                ..DeviceState::default()
            },
        )]);
        let inserted = HashSet::from(["r1".to_owned(), "r2".to_owned()]);
        let plan = plan(&items, &inserted, &HashMap::new(), states, 0);
        let (latest, since, _) = plan.devices[0].latest.as_ref().unwrap();
        assert_eq!(latest.report_id, "r2");
        assert_eq!(*since, Some(7));
        // r1 was generated before the request, r2 after: only r2 answers it.
        assert_eq!(
            plan.outcomes,
            vec![
                IngestOutcome::Stored {
                    check_now: Some(25)
                },
                IngestOutcome::Stored { check_now: None },
            ]
        );
        assert_eq!(plan.daily.len(), 1);
        assert_eq!(plan.daily[0].report_id, "r2");
    }
}
