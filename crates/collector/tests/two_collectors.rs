//! Two collector processes on one PostgreSQL database, agents spread over both: a report sent
//! to both is stored once, a check-now asked on one reaches a device served by the other, and
//! both answer with the same fleet. Needs `POSTURE_TEST_POSTGRES_URL`; without it the test is
//! marked ignored (see build.rs), and fails under `CI=true`.

mod support;

use posture_schema::Status;
use reqwest::Method;
use support::report::report;
use support::{Collector, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    posture_skip_postgres,
    ignore = "needs PostgreSQL: run scripts/start-postgres.sh and export POSTURE_TEST_POSTGRES_URL"
)]
async fn two_collectors_share_one_postgres_database() {
    let db = TestDb::postgres("two_collectors_share_one_postgres_database").await;
    let a = Collector::start(&db);
    let b = Collector::start_with(&db, &[], Some(a.secrets()));
    let both = [&a, &b];

    // Eight devices, enrolled alternately on each; each then reports through the other one.
    let mut devices = Vec::new();
    for i in 0..8 {
        let (id, token) = both[i % 2]
            .enroll(&format!("m-{i}"), &format!("h-{i}"))
            .await;
        devices.push((id, token));
    }
    for (i, (id, token)) in devices.iter().enumerate() {
        let status = if i < 3 { Status::Fail } else { Status::Pass };
        let r = report(id, &format!("h-{i}"), status);
        // The same report through both at once, as an agent retrying after a lost answer to
        // another collector would: stored once, the other answer says duplicate.
        let (first, second) = tokio::join!(a.post_report(token, &r), b.post_report(token, &r));
        assert_eq!((first.0, second.0), (200, 200), "{first:?} {second:?}");
        let mut duplicates = [&first.1["duplicate"], &second.1["duplicate"]];
        duplicates.sort_by_key(|v| v.as_bool());
        assert_eq!(
            duplicates,
            [&serde_json::json!(false), &serde_json::json!(true)],
            "exactly one stored: {first:?} {second:?}"
        );
        for c in both {
            let history = c.admin_get(&format!("/api/v1/devices/{id}/reports")).await;
            assert_eq!(history["reports"].as_array().unwrap().len(), 1, "{history}");
        }
    }

    // Check-now asked on A reaches device 1, which talks to B, and its report to B clears it.
    let (id, token) = &devices[1];
    let (status, _) = a
        .admin_send(
            Method::POST,
            &format!("/api/v1/devices/{id}/check-now"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, body) = b.get_text("/api/v1/agent/checkin", Some(token)).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["check_now"], true, "{v}");
    let (status, reply) = b.post_report(token, &report(id, "h-1", Status::Pass)).await;
    assert_eq!(status, 200);
    assert_eq!(reply["check_now"], false, "the fresh report answered it");
    for c in both {
        let (_, body) = c.get_text("/api/v1/agent/checkin", Some(token)).await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["check_now"], false, "{v}");
    }

    // Both answer with the same fleet: 2 non-compliant (device 1 now passes), 6 compliant.
    let summaries = [
        a.admin_get("/api/v1/summary").await,
        b.admin_get("/api/v1/summary").await,
    ];
    assert_eq!(summaries[0]["by_posture"], summaries[1]["by_posture"]);
    assert_eq!(summaries[0]["by_check"], summaries[1]["by_check"]);
    let count = |key: &str| {
        summaries[0]["by_posture"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == key)
            .map_or(0, |c| c["count"].as_i64().unwrap())
    };
    assert_eq!(
        (count("noncompliant"), count("compliant")),
        (2, 6),
        "{}",
        summaries[0]
    );
    for c in both {
        let devices = c.admin_get("/api/v1/devices?status=noncompliant").await;
        assert_eq!(devices["devices"].as_array().unwrap().len(), 2);
        let (_, metrics) = c.get_text("/metrics", Some(&c.metrics_token)).await;
        assert!(
            metrics.contains("posture_devices{posture=\"noncompliant\"} 2"),
            "{metrics}"
        );
    }
    drop(a);
    drop(b);
    db.cleanup().await;
}
