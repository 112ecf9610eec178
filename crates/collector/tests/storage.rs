//! Reports stored as check-ins and content-addressed parts: every acknowledged report comes back
//! byte for byte, retention keeps the latest report and everything inside retention, and the
//! daily roll-ups equal a recount.

mod support;

use std::collections::BTreeMap;

use posture_collector::ingest::{FleetPolicy, Judging, validate};
use posture_collector::store::{self, Enrollment, OpenOptions, Store};
use posture_schema::Status;
use support::report::report;
use support::{Collector, TestDb};

const DAY: i64 = 86_400_000;

async fn unchanged_and_changed_reports_come_back_byte_for_byte(db: &TestDb) {
    let c = Collector::start(db);
    let (id, token) = c.enroll("m-1", "h").await;
    let (other, other_token) = c.enroll("m-2", "h2").await;
    let mut posted = Vec::new();
    for n in 0..12 {
        // Mostly unchanged (check-in only), sometimes changed; odd spacing now and then.
        let status = if n % 5 == 4 {
            Status::Fail
        } else {
            Status::Pass
        };
        let r = report(&id, "h", status);
        let mut body = serde_json::to_string(&r).unwrap();
        if n == 7 {
            body = serde_json::to_string_pretty(&r).unwrap();
        }
        if n == 9 {
            body = format!("  {body}\n");
        }
        let (status, reply) = c
            .post_raw("/api/v1/reports", Some(&token), body.clone().into_bytes())
            .await;
        assert_eq!(status, 200, "{reply}");
        posted.push((r.report_id.clone(), body));
    }
    // The same content from another device shares its check parts but stays its own.
    let r = report(&other, "h2", Status::Pass);
    assert_eq!(c.post_report(&other_token, &r).await.0, 200);
    for (report_id, body) in &posted {
        let (status, back) = c
            .get_text(
                &format!("/api/v1/devices/{id}/reports/{report_id}"),
                Some(&c.admin_token),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(&back, body, "report {report_id}");
        let (status, _) = c
            .get_text(
                &format!("/api/v1/devices/{other}/reports/{report_id}"),
                Some(&c.admin_token),
            )
            .await;
        assert_eq!(status, 404, "never another device's report");
    }
    let history = c
        .admin_get(&format!("/api/v1/devices/{id}/reports?limit=100"))
        .await;
    let ids: Vec<&str> = history["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["report_id"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = posted.iter().map(|(id, _)| id.as_str()).collect();
    expected.reverse();
    assert_eq!(ids, expected, "newest first");
    let detail = c.admin_get(&format!("/api/v1/devices/{id}")).await;
    let latest: serde_json::Value = serde_json::from_str(&posted[11].1).unwrap();
    assert_eq!(detail["latest_report"], latest);
    // A duplicate is still a duplicate, another device's id still refused.
    let (status, reply) = c
        .post_raw(
            "/api/v1/reports",
            Some(&token),
            posted[3].1.clone().into_bytes(),
        )
        .await;
    assert_eq!((status, reply["duplicate"].as_bool()), (200, Some(true)));
}
on_both_databases!(unchanged_and_changed_reports_come_back_byte_for_byte);

/// A validated report of `device` received at `at`.
fn item(device: &str, host: &str, status: Status, at: i64) -> (store::IngestItem, String) {
    let r = report(device, host, status);
    let body = serde_json::to_string(&r).unwrap();
    let policy = FleetPolicy::embedded();
    let judging = Judging {
        received_at: at,
        agent_clock: None,
        max_clock_skew_ms: i64::MAX / 4,
        policy: &policy,
    };
    (validate(body.as_bytes(), device, &judging).unwrap(), body)
}

async fn open(db: &TestDb) -> std::sync::Arc<dyn Store> {
    store::open(db.url(), &OpenOptions::default())
        .await
        .unwrap()
}

async fn enroll(s: &dyn Store, n: usize, now: i64) -> String {
    let e = Enrollment {
        machine_id: format!("m-{n}"),
        hostname: format!("h-{n}"),
        platform: "linux".into(),
        agent_version: "0.1.0".into(),
        ..Enrollment::default()
    };
    match s.enroll(&e, &format!("token-{n}"), now).await.unwrap() {
        store::EnrollOutcome::Enrolled { device_id, .. } => device_id,
        other => panic!("{other:?}"),
    }
}

async fn prune_keeps_the_latest_report_and_everything_inside_retention(db: &TestDb) {
    let s = open(db).await;
    let now = posture_collector::app::now_ms();
    let active = enroll(s.as_ref(), 1, now - 20 * DAY).await;
    let gone = enroll(s.as_ref(), 2, now - 20 * DAY).await;
    let mut reports = Vec::new();
    for d in (0..=10).rev() {
        for h in [1, 9, 17] {
            let at = now - d * DAY - h * 3_600_000;
            let status = if (d + h) % 2 == 0 {
                Status::Fail
            } else {
                Status::Pass
            };
            let (i, body) = item(&active, "h-1", status, at);
            assert!(matches!(
                s.ingest(std::slice::from_ref(&i)).await.unwrap()[0],
                store::IngestOutcome::Stored { .. }
            ));
            reports.push((i.report_id, at, body));
        }
    }
    // A device offline for longer than retention: its latest report stays.
    let (old, old_body) = item(&gone, "h-2", Status::Fail, now - 9 * DAY);
    s.ingest(std::slice::from_ref(&old)).await.unwrap();

    let cutoff = now - 5 * DAY - 4 * 3_600_000;
    let stats = s.prune(cutoff, "1970-01-01", now).await.unwrap();
    let kept: Vec<_> = reports.iter().filter(|(_, at, _)| *at >= cutoff).collect();
    assert_eq!(
        stats.reports as usize,
        reports.len() - kept.len(),
        "{stats:?}"
    );
    for (id, at, body) in &reports {
        let back = s.report(&active, id).await.unwrap();
        if *at >= cutoff {
            assert_eq!(back.as_deref(), Some(body.as_str()), "inside retention");
        } else {
            assert_eq!(back, None, "before the cutoff");
        }
    }
    assert_eq!(
        s.report(&gone, &old.report_id).await.unwrap().as_deref(),
        Some(old_body.as_str()),
        "a device's latest report is kept forever, parts included"
    );
    let history = s.history(&active, 1000).await.unwrap();
    assert_eq!(history.len(), kept.len());
    // Everything but the latest reports.
    s.prune(now + 1, "1970-01-01", now + 1).await.unwrap();
    assert_eq!(s.history(&active, 1000).await.unwrap().len(), 1);
    let (last_id, _, last_body) = reports.iter().max_by_key(|(_, at, _)| *at).unwrap();
    assert_eq!(
        s.report(&active, last_id).await.unwrap().as_deref(),
        Some(last_body.as_str())
    );
    assert_eq!(
        s.report(&gone, &old.report_id).await.unwrap().as_deref(),
        Some(old_body.as_str())
    );
}
on_both_databases!(prune_keeps_the_latest_report_and_everything_inside_retention);

/// A device's last report of a day: received at, posture, status by check.
type LastOfDay = (i64, String, Vec<(String, String)>);

async fn daily_rollups_equal_a_recount(db: &TestDb) {
    let s = open(db).await;
    let now = posture_collector::app::now_ms();
    let mut devices = Vec::new();
    for n in 0..6 {
        devices.push(enroll(s.as_ref(), n, now - 10 * DAY).await);
    }
    // (day, device) -> last (received_at, posture, statuses by check)
    let mut last: BTreeMap<(String, String), LastOfDay> = BTreeMap::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for d in 1..=3i64 {
        for (n, device) in devices.iter().enumerate() {
            for k in 0..4 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let status = match x % 3 {
                    0 => Status::Fail,
                    1 => Status::Pass,
                    _ => Status::Unknown,
                };
                let at = ((now / DAY) - d) * DAY + 3_600_000 * (k * 5 + 1) + n as i64;
                let (i, body) = item(device, &format!("h-{n}"), status, at);
                s.ingest(std::slice::from_ref(&i)).await.unwrap();
                let r: posture_schema::Report = serde_json::from_str(&body).unwrap();
                let statuses = r
                    .checks
                    .iter()
                    .map(|c| (c.id.clone(), c.status.as_str().to_owned()))
                    .collect();
                let key = (i.received_day.clone(), device.clone());
                let entry = (at, i.posture.as_str().to_owned(), statuses);
                if last.get(&key).is_none_or(|(t, _, _)| *t < at) {
                    last.insert(key, entry);
                }
            }
        }
    }
    // Today's reports are not rolled up yet (the day is not closed).
    let (today, _) = item(&devices[0], "h-0", Status::Fail, now);
    s.ingest(&[today]).await.unwrap();
    let stats = s.prune(0, "1970-01-01", now).await.unwrap();
    assert_eq!(stats.rollup_days, 3);
    assert_eq!(stats.reports, 0);

    let mut recount: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for ((day, _), (_, posture, statuses)) in &last {
        *recount
            .entry((day.clone(), String::new(), posture.clone()))
            .or_default() += 1;
        for (check, status) in statuses {
            *recount
                .entry((day.clone(), check.clone(), status.clone()))
                .or_default() += 1;
        }
    }
    let rolled: BTreeMap<(String, String, String), i64> = s
        .daily_rollups("1970-01-01")
        .await
        .unwrap()
        .into_iter()
        .map(|r| ((r.day, r.check_id, r.status), r.devices))
        .collect();
    assert_eq!(rolled, recount);
    // Roll-ups outlive the raw reports.
    s.prune(now + 1, "9999-12-31", now + 1).await.unwrap();
    let again: BTreeMap<(String, String, String), i64> = s
        .daily_rollups("1970-01-01")
        .await
        .unwrap()
        .into_iter()
        .filter(|r| rolled.contains_key(&(r.day.clone(), r.check_id.clone(), r.status.clone())))
        .map(|r| ((r.day, r.check_id, r.status), r.devices))
        .collect();
    assert_eq!(again, recount);
}
on_both_databases!(daily_rollups_equal_a_recount);
