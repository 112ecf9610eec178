//! The fleet state the collector maintains at ingest (devices' postures, latest findings with
//! their enforcement, the counters the summary, dashboard and metrics read, and the per-day
//! counts of the compliance chart) equals a recount from the rows it stored, after random
//! sequences of reports, prunes (of reports and of daily rows), token revocations, lost/retired
//! changes and fleet policy changes, on SQLite and on PostgreSQL.
//!
//! The model below keeps each device's latest report as sent and judges it with the fleet
//! policy in force, as the collector does; the store is then compared with it and with its own
//! full recount (`Store::check_state`).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use posture_collector::enforcement::Enforcement;
use posture_collector::ingest::FleetPolicy;
use posture_collector::store::{
    self, AssetState, AssetUpdate, Enrollment, FindingSummary, IngestItem, Inventory, OpenOptions,
    Store,
};
use posture_schema::{Posture, Status};
use proptest::prelude::*;
use support::TestDb;

const CHECKS: [&str; 3] = ["disk", "firewall", "screen_lock"];
const DIGESTS: [&str; 2] = ["sha256:one", "sha256:two"];
const DEVICES: usize = 4;
const DAY_MS: i64 = 86_400_000;

/// One report: the device, the checks it reports with their statuses and enforcement, the
/// digest it judged with.
type ReportOp = (usize, Vec<(usize, (Status, Enforcement))>, usize);

/// A reported check as the model keeps it.
type Reported = (String, Status, Enforcement);

#[derive(Debug, Clone)]
enum Op {
    /// Reports of (device, reported checks, index of the digest the agent judged with), stored
    /// in one batch.
    Reports(Vec<ReportOp>),
    /// Prune reports older than this many days before now, and, when given, the daily rows of
    /// days more than this many days before today.
    Prune(u8, Option<u8>),
    Revoke(usize),
    State(usize, AssetState),
    /// A fleet policy: which checks it enables, which digest it has.
    Policy(Vec<bool>, usize),
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Pass),
        Just(Status::Fail),
        Just(Status::Unknown),
        Just(Status::NotApplicable),
        Just(Status::Error),
    ]
}

fn enforcement() -> impl Strategy<Value = Enforcement> {
    proptest::sample::select(Enforcement::ALL.to_vec())
}

fn report() -> impl Strategy<Value = ReportOp> {
    (
        0..DEVICES,
        proptest::collection::btree_map(
            0..CHECKS.len(),
            (status(), enforcement()),
            0..=CHECKS.len(),
        )
        .prop_map(|m| m.into_iter().collect::<Vec<_>>()),
        0..DIGESTS.len(),
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => proptest::collection::vec(report(), 1..4).prop_map(Op::Reports),
        1 => (0u8..4, proptest::option::of(0u8..3)).prop_map(|(r, d)| Op::Prune(r, d)),
        1 => (0..DEVICES).prop_map(Op::Revoke),
        2 => (0..DEVICES, prop_oneof![
            Just(AssetState::Active),
            Just(AssetState::Lost),
            Just(AssetState::Retired)
        ])
            .prop_map(|(d, s)| Op::State(d, s)),
        1 => (proptest::collection::vec(any::<bool>(), CHECKS.len()), 0..DIGESTS.len())
            .prop_map(|(on, d)| Op::Policy(on, d)),
    ]
}

/// What the collector should know about one device.
#[derive(Debug, Clone, Default)]
struct ModelDevice {
    retired: bool,
    /// The latest report: its checks as sent and the digest the agent judged with.
    latest: Option<(Vec<Reported>, String)>,
}

/// The day key the collector stores for a receive time (fixed width, so text order is day
/// order).
fn day_key(at: i64) -> String {
    format!("day-{}", at / DAY_MS)
}

/// Findings and posture of a report judged with `policy`, as `ingest::validate` judges.
fn judge(
    checks: &[Reported],
    digest: &str,
    policy: &FleetPolicy,
) -> (Vec<FindingSummary>, Posture, bool) {
    let mut findings: Vec<FindingSummary> = checks
        .iter()
        .map(|(id, s, e)| FindingSummary {
            check_id: id.clone(),
            title: format!("title of {id}"),
            clause: "clause".into(),
            status: *s,
            summary: "as reported".into(),
            enforcement: Some(*e),
        })
        .collect();
    for id in &policy.enabled_checks {
        if !checks.iter().any(|(c, _, _)| c == id) {
            findings.push(FindingSummary {
                check_id: id.clone(),
                title: id.clone(),
                clause: String::new(),
                status: Status::Unknown,
                summary: store::MISSING_CHECK_SUMMARY.into(),
                enforcement: Some(Enforcement::NotApplicable),
            });
        }
    }
    let mismatch = digest != policy.digest;
    let mut posture = Posture::from_statuses(findings.iter().map(|f| f.status));
    if mismatch && posture == Posture::Compliant {
        posture = Posture::Unknown;
    }
    (findings, posture, mismatch)
}

fn policy_of(on: &[bool], digest: usize) -> FleetPolicy {
    FleetPolicy {
        digest: DIGESTS[digest].to_owned(),
        enabled_checks: CHECKS
            .iter()
            .zip(on)
            .filter(|(_, on)| **on)
            .map(|(c, _)| (*c).to_owned())
            .collect(),
    }
}

async fn run(db_url: &str, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let store: Arc<dyn Store> = store::open(db_url, &OpenOptions::default()).await.unwrap();
    let mut policy = policy_of(&[true, true, false], 0);
    store.set_policy(&policy, "initial", 1).await.unwrap();
    let start = 1_800_000_000_000_i64;
    let mut ids = Vec::new();
    for n in 0..DEVICES {
        let outcome = store
            .enroll(
                &Enrollment {
                    machine_id: format!("machine-{n}"),
                    hostname: format!("host-{n}"),
                    platform: "linux".into(),
                    agent_version: "1".into(),
                    ..Enrollment::default()
                },
                &format!("token-{n}"),
                start,
            )
            .await
            .unwrap();
        let store::EnrollOutcome::Enrolled { device_id, .. } = outcome else {
            panic!("not enrolled: {outcome:?}");
        };
        ids.push(device_id);
    }
    let mut model: Vec<ModelDevice> = vec![ModelDevice::default(); DEVICES];
    // The posture of each device's last report of each day that prune kept.
    let mut daily = BTreeMap::<(String, usize), Posture>::new();
    let mut now = start;
    let mut serial = 0u64;
    for op in ops {
        match op {
            Op::Reports(reports) => {
                let mut items = Vec::new();
                for (device, checks, digest) in reports {
                    now += 3_600_000;
                    serial += 1;
                    let checks: Vec<Reported> = checks
                        .into_iter()
                        .map(|(c, (s, e))| (CHECKS[c].to_owned(), s, e))
                        .collect();
                    let (findings, posture, mismatch) = judge(&checks, DIGESTS[digest], &policy);
                    items.push(IngestItem {
                        device_id: ids[device].clone(),
                        report_id: format!("report-{serial}"),
                        generated_at: now,
                        received_at: now,
                        received_day: day_key(now),
                        agent_version: "0.1.0".into(),
                        clock_skew_ms: None,
                        machine_id: Some(format!("machine-{device}")),
                        policy_digest: DIGESTS[digest].to_owned(),
                        policy_mismatch: mismatch,
                        posture,
                        body: "{}".into(),
                        inventory: Inventory {
                            os_family: Some("linux".into()),
                            ..Inventory::default()
                        },
                        findings,
                        trigger: None,
                    });
                    model[device].latest = Some((checks, DIGESTS[digest].to_owned()));
                    daily.insert((day_key(now), device), posture);
                }
                store.ingest(&items).await.unwrap();
            }
            Op::Prune(days, daily_days) => {
                let before = now - i64::from(days) * DAY_MS;
                let days_before = match daily_days {
                    Some(d) => day_key(now - i64::from(d) * DAY_MS),
                    None => "day-0".to_owned(),
                };
                store.prune(before, &days_before, now).await.unwrap();
                daily.retain(|(day, _), _| *day >= days_before);
            }
            Op::Revoke(device) => {
                store.revoke_token(&ids[device]).await.unwrap();
            }
            Op::State(device, state) => {
                let update = AssetUpdate {
                    state: Some(state),
                    ..AssetUpdate::default()
                };
                store
                    .update_asset(&ids[device], &update, now)
                    .await
                    .unwrap();
                model[device].retired = state == AssetState::Retired;
            }
            Op::Policy(on, digest) => {
                policy = policy_of(&on, digest);
                now += 1;
                store.set_policy(&policy, "changed", now).await.unwrap();
            }
        }
        let mismatches = store.check_state().await.unwrap();
        prop_assert!(
            mismatches.is_empty(),
            "counters differ from a recount: {mismatches:?}"
        );
    }

    // Every device against the model, and the summary's counts against the model's.
    let mut by_posture = BTreeMap::<String, i64>::new();
    let mut by_check = BTreeMap::<(String, String), i64>::new();
    let mut by_enforcement = BTreeMap::<(String, String, String), i64>::new();
    // Findings of devices in service: (device id, check, status, enforcement).
    let mut in_service = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let detail = store.device(id).await.unwrap().unwrap();
        let expected = model[n]
            .latest
            .as_ref()
            .map(|(checks, digest)| judge(checks, digest, &policy));
        let mut got: Vec<(String, Status, Option<Enforcement>)> = detail
            .findings
            .iter()
            .map(|f| {
                (
                    f.finding.check_id.clone(),
                    f.finding.status,
                    f.finding.enforcement,
                )
            })
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        let mut want: Vec<(String, Status, Option<Enforcement>)> = expected
            .as_ref()
            .map(|(f, _, _)| {
                f.iter()
                    .map(|f| (f.check_id.clone(), f.status, f.enforcement))
                    .collect()
            })
            .unwrap_or_default();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        prop_assert_eq!(&got, &want, "findings of device {}", n);
        prop_assert_eq!(
            detail.summary.posture,
            expected.as_ref().map(|(_, p, _)| *p),
            "posture of device {}",
            n
        );
        prop_assert_eq!(
            detail.summary.policy_mismatch,
            expected.as_ref().is_some_and(|(_, _, m)| *m),
            "policy mismatch of device {}",
            n
        );
        if !model[n].retired {
            let key = expected
                .as_ref()
                .map_or("never", |(_, p, _)| p.as_str())
                .to_owned();
            *by_posture.entry(key).or_default() += 1;
            for (check, status, enforcement) in &want {
                *by_check
                    .entry((check.clone(), status.as_str().to_owned()))
                    .or_default() += 1;
                in_service.push((id.clone(), check.clone(), *status, *enforcement));
                let enforcement = enforcement.map_or("unknown", Enforcement::as_str);
                *by_enforcement
                    .entry((
                        check.clone(),
                        status.as_str().to_owned(),
                        enforcement.to_owned(),
                    ))
                    .or_default() += 1;
            }
        }
    }
    let summary = store.fleet_summary("day-0").await.unwrap();
    let got_posture: BTreeMap<String, i64> = summary
        .by_posture
        .iter()
        .map(|c| (c.key.clone(), c.count))
        .collect();
    prop_assert_eq!(got_posture, by_posture);
    let got_check: BTreeMap<(String, String), i64> = summary
        .by_check
        .iter()
        .map(|c| ((c.check_id.clone(), c.status.clone()), c.count))
        .collect();
    prop_assert_eq!(&got_check, &by_check);
    let got_enforcement: BTreeMap<(String, String, String), i64> = summary
        .by_enforcement
        .iter()
        .map(|c| {
            (
                (c.check_id.clone(), c.status.clone(), c.enforcement.clone()),
                c.count,
            )
        })
        .collect();
    prop_assert_eq!(&got_enforcement, &by_enforcement);
    // The share of enforced passes, per check, from the same counts.
    for p in &summary.pass_enforcement {
        let count = |e: &str| {
            by_enforcement
                .get(&(p.check_id.clone(), "pass".to_owned(), e.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        let passing: i64 = Enforcement::ALL.iter().map(|e| count(e.as_str())).sum();
        prop_assert_eq!(p.passing, passing);
        prop_assert_eq!(p.enforced, count("enforced"));
        prop_assert_eq!(p.enforced_percent, count("enforced") * 100 / passing.max(1));
    }
    let checks_passing = by_check.keys().filter(|(_, s)| s == "pass").count();
    prop_assert_eq!(summary.pass_enforcement.len(), checks_passing);

    // The enforcement filter of the device list lists exactly the model's devices.
    for check in CHECKS {
        for status in [Status::Pass, Status::Fail] {
            for (word, matches) in posture_collector::enforcement::FILTER_VALUES {
                let mut got: Vec<String> = store
                    .list_devices(
                        &store::DeviceFilter {
                            check: Some(check.to_owned()),
                            check_status: Some(status.as_str().to_owned()),
                            enforced: Some(word.to_owned()),
                            ..store::DeviceFilter::default()
                        },
                        now,
                    )
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|d| d.id)
                    .collect();
                got.sort();
                let mut want: Vec<String> = in_service
                    .iter()
                    .filter(|(_, c, s, e)| {
                        c == check
                            && *s == status
                            && matches.contains(&e.unwrap_or(Enforcement::Unknown))
                    })
                    .map(|(id, _, _, _)| id.clone())
                    .collect();
                want.sort();
                prop_assert_eq!(got, want, "{} {:?} enforced={}", check, status, word);
            }
        }
    }
    // The chart: per day, the devices in service by the posture of their last report that day.
    let mut by_day = BTreeMap::<(String, String), i64>::new();
    for ((day, device), posture) in &daily {
        if !model[*device].retired {
            *by_day
                .entry((day.clone(), posture.as_str().to_owned()))
                .or_default() += 1;
        }
    }
    let got_day: BTreeMap<(String, String), i64> = summary
        .by_day
        .iter()
        .map(|c| ((c.day.clone(), c.posture.clone()), c.count))
        .collect();
    prop_assert_eq!(&got_day, &by_day);
    // Only the days asked: from the latest day on.
    if let Some(last) = daily.keys().map(|(day, _)| day.clone()).max() {
        let recent = store.fleet_summary(&last).await.unwrap();
        prop_assert!(recent.by_day.iter().all(|c| c.day == last));
        prop_assert_eq!(
            recent.by_day.iter().map(|c| c.count).sum::<i64>(),
            by_day
                .iter()
                .filter(|((day, _), _)| *day == last)
                .map(|(_, n)| n)
                .sum::<i64>()
        );
    }

    // The device list pages through every device exactly once with its cursor.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_devices(
                &store::DeviceFilter {
                    state: Some("all".into()),
                    limit: Some(3),
                    cursor: cursor.clone(),
                    ..store::DeviceFilter::default()
                },
                now,
            )
            .await
            .unwrap();
        seen.extend(page.iter().map(|d| d.id.clone()));
        match page.last() {
            Some(last) if page.len() == 3 => cursor = Some(last.cursor()),
            _ => break,
        }
    }
    seen.sort();
    let mut all = ids.clone();
    all.sort();
    prop_assert_eq!(seen, all);
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn maintained_state_equals_a_recount_on_sqlite(ops in proptest::collection::vec(op(), 1..24)) {
        runtime().block_on(async {
            let db = TestDb::sqlite();
            let result = run(db.url(), ops).await;
            db.cleanup().await;
            result
        })?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    #[cfg_attr(
        posture_skip_postgres,
        ignore = "needs PostgreSQL: run scripts/start-postgres.sh and export POSTURE_TEST_POSTGRES_URL"
    )]
    fn maintained_state_equals_a_recount_on_postgres(ops in proptest::collection::vec(op(), 1..24)) {
        runtime().block_on(async {
            let db = TestDb::postgres("maintained_state").await;
            let result = run(db.url(), ops).await;
            db.cleanup().await;
            result
        })?;
    }
}

/// The recount is a real check: a counter changed behind the collector's back is reported.
#[tokio::test]
async fn a_counter_that_disagrees_with_the_rows_is_reported() {
    let db = TestDb::sqlite();
    let store = store::open(db.url(), &OpenOptions::default())
        .await
        .unwrap();
    store
        .enroll(
            &Enrollment {
                machine_id: "m".into(),
                hostname: "h".into(),
                platform: "linux".into(),
                agent_version: "1".into(),
                ..Enrollment::default()
            },
            "token",
            1,
        )
        .await
        .unwrap();
    assert_eq!(store.check_state().await.unwrap(), Vec::new());
    use sqlx::Connection as _;
    let mut conn = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
    sqlx::query("UPDATE fleet_counts SET n = n + 1 WHERE kind = 'posture' AND k1 = 'never'")
        .execute(&mut conn)
        .await
        .unwrap();
    let mismatches = store.check_state().await.unwrap();
    assert_eq!(mismatches.len(), 1, "{mismatches:?}");
    assert_eq!((mismatches[0].maintained, mismatches[0].recounted), (2, 1));
    sqlx::query("UPDATE fleet_counts SET n = n - 1 WHERE kind = 'posture' AND k1 = 'never'")
        .execute(&mut conn)
        .await
        .unwrap();
    // A per-day chart count without a row behind it.
    sqlx::query(
        "INSERT INTO daily_posture_counts (day, posture, n) VALUES ('2027-01-01', 'compliant', 1)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let mismatches = store.check_state().await.unwrap();
    assert_eq!(mismatches.len(), 1, "{mismatches:?}");
    let m = &mismatches[0];
    assert_eq!(
        (m.kind.as_str(), m.key.as_str(), m.status.as_str()),
        ("day", "2027-01-01", "compliant")
    );
    assert_eq!((m.maintained, m.recounted), (1, 0));
}
