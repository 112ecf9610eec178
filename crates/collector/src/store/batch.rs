//! Planning a batch of reports in memory, so that storing it takes a handful of set-based
//! statements instead of several statements per report. Round trips to the database (and, for
//! SQLite, hops to its worker thread) are what limit ingest, not the SQL itself.

use std::collections::{HashMap, HashSet};

use super::{IngestItem, IngestOutcome};

/// What the database says about a device before the batch.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeviceState {
    pub(crate) latest_generated_at: Option<i64>,
    pub(crate) posture: Option<String>,
    pub(crate) noncompliant_since: Option<i64>,
    pub(crate) check_now: Option<i64>,
}

/// The new row values of one device after the batch.
#[derive(Debug)]
pub(crate) struct DeviceUpdate<'a> {
    pub(crate) device_id: &'a str,
    pub(crate) last_seen_at: i64,
    pub(crate) check_now: Option<i64>,
    /// Set when a report of this batch became the device's latest.
    pub(crate) latest: Option<(&'a IngestItem, Option<i64>)>,
}

/// Everything to write for one batch, in a fixed order (by key) so that concurrent batches on
/// PostgreSQL take row locks in the same order and cannot deadlock each other.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    pub(crate) outcomes: Vec<IngestOutcome>,
    pub(crate) devices: Vec<DeviceUpdate<'a>>,
    /// One report per (day, device): the newest of the batch.
    pub(crate) daily: Vec<&'a IngestItem>,
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
        // clock that runs a little behind).
        state.check_now = state.check_now.filter(|r| item.generated_at < r - skew_ms);
        update.check_now = state.check_now;
        if state
            .latest_generated_at
            .is_none_or(|g| item.generated_at >= g)
        {
            let since = if item.posture == "noncompliant" {
                match (state.posture.as_deref(), state.noncompliant_since) {
                    (Some("noncompliant"), Some(since)) => Some(since),
                    _ => Some(item.generated_at),
                }
            } else {
                None
            };
            state.latest_generated_at = Some(item.generated_at);
            state.posture = Some(item.posture.clone());
            state.noncompliant_since = since;
            update.latest = Some((item, since));
        }
        let day = daily
            .entry((item.generated_day.as_str(), item.device_id.as_str()))
            .or_insert(item);
        if item.generated_at >= day.generated_at {
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
        (a.generated_day.as_str(), a.device_id.as_str())
            .cmp(&(b.generated_day.as_str(), b.device_id.as_str()))
    });
    Plan {
        outcomes,
        devices,
        daily,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Inventory;

    fn item(device: &str, report: &str, generated_at: i64, posture: &str) -> IngestItem {
        IngestItem {
            device_id: device.into(),
            report_id: report.into(),
            generated_at,
            generated_day: "2026-11-23".into(),
            received_at: 1000,
            posture: posture.into(),
            body: String::new(),
            inventory: Inventory::default(),
            findings: vec![],
        }
    }

    #[test]
    fn a_report_id_repeated_in_one_batch_is_stored_once_then_duplicate_or_foreign() {
        let items = [
            item("a", "r1", 10, "compliant"),
            item("a", "r1", 10, "compliant"),
            item("b", "r1", 10, "compliant"),
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
        let items = [item("a", "old", 5, "noncompliant")];
        let states = HashMap::from([(
            "a".to_owned(),
            DeviceState {
                latest_generated_at: Some(10),
                posture: Some("compliant".into()),
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
            item("a", "r1", 20, "noncompliant"),
            item("a", "r2", 30, "noncompliant"),
        ];
        let states = HashMap::from([(
            "a".to_owned(),
            DeviceState {
                latest_generated_at: Some(10),
                posture: Some("noncompliant".into()),
                noncompliant_since: Some(7),
                check_now: Some(25),
            },
        )]);
        let inserted = HashSet::from(["r1".to_owned(), "r2".to_owned()]);
        let plan = plan(&items, &inserted, &HashMap::new(), states, 0);
        let (latest, since) = plan.devices[0].latest.unwrap();
        assert_eq!(latest.report_id, "r2");
        assert_eq!(since, Some(7));
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
