//! The SQL both stores share. SQLite and PostgreSQL accept the same statements here (`$N`
//! placeholders, `ON CONFLICT … DO UPDATE`, integer times, text bodies), so one macro implements
//! [`Store`](super::Store) for both pool types; only opening the pool and starting a write
//! transaction differ.

/// Expands to `impl Store for $store`, whose `pool` field is a `sqlx::Pool<$db>`; `$begin` is the
/// statement that starts a write transaction.
macro_rules! impl_store {
    ($store:ty, $db:ty, $begin:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                Ok(())
            }

            async fn setting(&self, name: &str) -> StoreResult<Option<String>> {
                sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)
            }

            async fn init_setting(&self, name: &str, value: &str) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(value)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(done.rows_affected() == 1)
            }

            async fn set_setting(&self, name: &str, value: &str) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO settings (name, value) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                )
                .bind(name)
                .bind(value)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(())
            }

            async fn enroll(
                &self,
                e: &Enrollment,
                token_sha256: &str,
                now: i64,
            ) -> StoreResult<String> {
                let fresh_id = uuid::Uuid::now_v7().to_string();
                // One statement, so concurrent enrollments of one machine cannot create two devices.
                sqlx::query_scalar::<_, String>(
                    "INSERT INTO devices (id, machine_id, token_sha256, enrolled_at, \
                         enrolled_hostname, enrolled_platform, agent_version, last_seen_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $4) \
                     ON CONFLICT (machine_id) DO UPDATE SET token_sha256 = excluded.token_sha256, \
                         enrolled_hostname = excluded.enrolled_hostname, \
                         enrolled_platform = excluded.enrolled_platform, \
                         agent_version = excluded.agent_version, last_seen_at = excluded.last_seen_at \
                     RETURNING id",
                )
                .bind(&fresh_id)
                .bind(&e.machine_id)
                .bind(token_sha256)
                .bind(now)
                .bind(&e.hostname)
                .bind(&e.platform)
                .bind(&e.agent_version)
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)
            }

            async fn device_for_token(&self, token_sha256: &str) -> StoreResult<Option<String>> {
                sqlx::query_scalar::<_, String>("SELECT id FROM devices WHERE token_sha256 = $1")
                    .bind(token_sha256)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)
            }

            async fn ingest(&self, items: &[IngestItem]) -> StoreResult<Vec<IngestOutcome>> {
                let mut tx = self
                    .pool
                    .begin_with($begin)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                let mut outcomes = Vec::with_capacity(items.len());
                for item in items {
                    outcomes.push(
                        ingest_one(&mut tx, item)
                            .await
                            .map_err(StoreError::from_sqlx)?,
                    );
                }
                tx.commit().await.map_err(StoreError::from_sqlx)?;
                Ok(outcomes)
            }

            async fn checkin(&self, device_id: &str, now: i64) -> StoreResult<Option<i64>> {
                let row = sqlx::query_scalar::<_, Option<i64>>(
                    "UPDATE devices SET last_seen_at = $2 WHERE id = $1 \
                     RETURNING check_now_requested_at",
                )
                .bind(device_id)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(row.flatten())
            }

            async fn list_devices(
                &self,
                filter: &DeviceFilter,
                now: i64,
            ) -> StoreResult<Vec<DeviceSummary>> {
                let mut q = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM devices d WHERE 1 = 1",
                    $crate::store::sql::SUMMARY_COLUMNS
                ));
                $crate::store::sql::push_filter(&mut q, filter, now);
                q.push(" ORDER BY d.last_seen_at DESC, d.id LIMIT ");
                q.push_bind(i64::from(filter.limit.unwrap_or(1000)));
                q.push(" OFFSET ");
                q.push_bind(i64::from(filter.offset.unwrap_or(0)));
                let rows = q
                    .build()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                let mut devices = rows
                    .iter()
                    .map(summary_from_row)
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(StoreError::from_sqlx)?;
                let failing = sqlx::query(
                    "SELECT device_id, check_id FROM latest_findings WHERE status = 'fail' \
                     ORDER BY device_id, check_id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                let mut by_device = std::collections::HashMap::<String, Vec<String>>::new();
                for row in &failing {
                    let device: String = row.try_get("device_id").map_err(StoreError::from_sqlx)?;
                    let check: String = row.try_get("check_id").map_err(StoreError::from_sqlx)?;
                    by_device.entry(device).or_default().push(check);
                }
                for d in &mut devices {
                    if let Some(checks) = by_device.remove(&d.id) {
                        d.failing_checks = checks;
                    }
                }
                Ok(devices)
            }

            async fn device(&self, device_id: &str) -> StoreResult<Option<DeviceDetail>> {
                let sql = format!(
                    "SELECT {}, d.machine_id, d.enrolled_at, d.agent_version, d.asset_note, \
                         d.token_sha256, d.hw_vendor, d.hw_model, d.os_name, d.os_version, \
                         r.body AS latest_body \
                     FROM devices d LEFT JOIN reports r ON r.report_id = d.latest_report_id \
                     WHERE d.id = $1",
                    $crate::store::sql::SUMMARY_COLUMNS
                );
                let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(device_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                else {
                    return Ok(None);
                };
                let detail = (|| -> Result<DeviceDetail, sqlx::Error> {
                    let summary = summary_from_row(&row)?;
                    let token: Option<String> = row.try_get("token_sha256")?;
                    Ok(DeviceDetail {
                        inventory: Inventory {
                            hostname: Some(summary.hostname.clone()),
                            os_family: summary.os_family.clone(),
                            os_name: row.try_get("os_name")?,
                            os_version: row.try_get("os_version")?,
                            hw_vendor: row.try_get("hw_vendor")?,
                            hw_model: row.try_get("hw_model")?,
                            hw_serial: summary.serial.clone(),
                            users: summary.users.clone(),
                        },
                        machine_id: row.try_get("machine_id")?,
                        enrolled_at: row.try_get("enrolled_at")?,
                        agent_version: row.try_get("agent_version")?,
                        note: row.try_get("asset_note")?,
                        token_active: token.is_some(),
                        latest_report: row.try_get("latest_body")?,
                        findings: Vec::new(),
                        summary,
                    })
                })()
                .map_err(StoreError::from_sqlx)?;
                let mut detail = detail;
                let rows = sqlx::query(
                    "SELECT device_id, check_id, title, clause, status, summary, status_since \
                     FROM latest_findings WHERE device_id = $1 ORDER BY check_id",
                )
                .bind(device_id)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                detail.findings = rows
                    .iter()
                    .map(finding_from_row)
                    .collect::<Result<_, _>>()
                    .map_err(StoreError::from_sqlx)?;
                detail.summary.failing_checks = detail
                    .findings
                    .iter()
                    .filter(|f| f.finding.status == "fail")
                    .map(|f| f.finding.check_id.clone())
                    .collect();
                Ok(Some(detail))
            }

            async fn history(&self, device_id: &str, limit: u32) -> StoreResult<Vec<ReportMeta>> {
                let rows = sqlx::query(
                    "SELECT report_id, generated_at, received_at, posture FROM reports \
                     WHERE device_id = $1 ORDER BY generated_at DESC, report_id DESC LIMIT $2",
                )
                .bind(device_id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                rows.iter()
                    .map(|r| {
                        Ok(ReportMeta {
                            report_id: r.try_get("report_id")?,
                            generated_at: r.try_get("generated_at")?,
                            received_at: r.try_get("received_at")?,
                            posture: r.try_get("posture")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(StoreError::from_sqlx)
            }

            async fn report(&self, device_id: &str, report_id: &str) -> StoreResult<Option<String>> {
                sqlx::query_scalar::<_, String>(
                    "SELECT body FROM reports WHERE device_id = $1 AND report_id = $2",
                )
                .bind(device_id)
                .bind(report_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)
            }

            async fn all_latest_findings(&self) -> StoreResult<Vec<LatestFinding>> {
                let rows = sqlx::query(
                    "SELECT f.device_id, f.check_id, f.title, f.clause, f.status, f.summary, \
                         f.status_since \
                     FROM latest_findings f JOIN devices d ON d.id = f.device_id \
                     WHERE d.asset_state <> 'retired' ORDER BY f.device_id, f.check_id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                rows.iter()
                    .map(finding_from_row)
                    .collect::<Result<_, _>>()
                    .map_err(StoreError::from_sqlx)
            }

            async fn fleet_summary(&self, since_day: &str) -> StoreResult<FleetSummary> {
                let mut summary = FleetSummary::default();
                let rows = sqlx::query(
                    "SELECT COALESCE(posture, 'never') AS key, COUNT(*) AS n FROM devices \
                     WHERE asset_state <> 'retired' GROUP BY COALESCE(posture, 'never') ORDER BY 1",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                for r in &rows {
                    summary.by_posture.push(Count {
                        key: r.try_get("key").map_err(StoreError::from_sqlx)?,
                        count: r.try_get("n").map_err(StoreError::from_sqlx)?,
                    });
                }
                let rows = sqlx::query(
                    "SELECT f.check_id, MIN(f.title) AS title, f.status, COUNT(*) AS n \
                     FROM latest_findings f JOIN devices d ON d.id = f.device_id \
                     WHERE d.asset_state <> 'retired' \
                     GROUP BY f.check_id, f.status ORDER BY f.check_id, f.status",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                for r in &rows {
                    summary.by_check.push(CheckCount {
                        check_id: r.try_get("check_id").map_err(StoreError::from_sqlx)?,
                        title: r.try_get("title").map_err(StoreError::from_sqlx)?,
                        status: r.try_get("status").map_err(StoreError::from_sqlx)?,
                        count: r.try_get("n").map_err(StoreError::from_sqlx)?,
                    });
                }
                let rows = sqlx::query(
                    "SELECT p.day, p.posture, COUNT(*) AS n \
                     FROM daily_posture p JOIN devices d ON d.id = p.device_id \
                     WHERE p.day >= $1 AND d.asset_state <> 'retired' \
                     GROUP BY p.day, p.posture ORDER BY p.day, p.posture",
                )
                .bind(since_day)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                for r in &rows {
                    summary.by_day.push(DayCount {
                        day: r.try_get("day").map_err(StoreError::from_sqlx)?,
                        posture: r.try_get("posture").map_err(StoreError::from_sqlx)?,
                        count: r.try_get("n").map_err(StoreError::from_sqlx)?,
                    });
                }
                Ok(summary)
            }

            async fn request_check_now(&self, device_id: &str, now: i64) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE devices SET check_now_requested_at = $2 WHERE id = $1",
                )
                .bind(device_id)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(done.rows_affected() == 1)
            }

            async fn update_asset(
                &self,
                device_id: &str,
                update: &AssetUpdate,
                now: i64,
            ) -> StoreResult<bool> {
                let clear = |v: &Option<String>| -> Option<Option<String>> {
                    v.as_ref().map(|s| {
                        let s = s.trim();
                        (!s.is_empty()).then(|| s.to_owned())
                    })
                };
                let owner = clear(&update.owner);
                let note = clear(&update.note);
                // `$N IS NULL` keeps the current value; a set flag with a NULL value clears it.
                let done = sqlx::query(
                    "UPDATE devices SET \
                         owner = CASE WHEN $2 = 1 THEN $3 ELSE owner END, \
                         asset_note = CASE WHEN $4 = 1 THEN $5 ELSE asset_note END, \
                         asset_state_since = CASE WHEN $6 IS NOT NULL AND $6 <> asset_state \
                             THEN $7 ELSE asset_state_since END, \
                         asset_state = COALESCE($6, asset_state) \
                     WHERE id = $1",
                )
                .bind(device_id)
                .bind(i64::from(owner.is_some()))
                .bind(owner.flatten())
                .bind(i64::from(note.is_some()))
                .bind(note.flatten())
                .bind(update.state.map(|s| s.as_str()))
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(done.rows_affected() == 1)
            }

            async fn revoke_token(&self, device_id: &str) -> StoreResult<bool> {
                let done = sqlx::query("UPDATE devices SET token_sha256 = NULL WHERE id = $1")
                    .bind(device_id)
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                Ok(done.rows_affected() == 1)
            }

            async fn create_session(&self, id_sha256: &str, s: &Session) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO sessions (id_sha256, csrf_token, expires_at) VALUES ($1, $2, $3)",
                )
                .bind(id_sha256)
                .bind(&s.csrf_token)
                .bind(s.expires_at)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(())
            }

            async fn session(&self, id_sha256: &str, now: i64) -> StoreResult<Option<Session>> {
                let row = sqlx::query(
                    "SELECT csrf_token, expires_at FROM sessions \
                     WHERE id_sha256 = $1 AND expires_at > $2",
                )
                .bind(id_sha256)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                row.map(|r| {
                    Ok(Session {
                        csrf_token: r.try_get("csrf_token")?,
                        expires_at: r.try_get("expires_at")?,
                    })
                })
                .transpose()
                .map_err(StoreError::from_sqlx)
            }

            async fn delete_session(&self, id_sha256: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM sessions WHERE id_sha256 = $1")
                    .bind(id_sha256)
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                Ok(())
            }

            async fn create_login_link(
                &self,
                token_sha256: &str,
                next: &str,
                expires_at: i64,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO login_links (token_sha256, next_path, expires_at) VALUES ($1, $2, $3)",
                )
                .bind(token_sha256)
                .bind(next)
                .bind(expires_at)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(())
            }

            async fn consume_login_link(
                &self,
                token_sha256: &str,
                now: i64,
            ) -> StoreResult<Option<String>> {
                // DELETE … RETURNING: two concurrent uses of one link cannot both succeed.
                let row = sqlx::query(
                    "DELETE FROM login_links WHERE token_sha256 = $1 RETURNING next_path, expires_at",
                )
                .bind(token_sha256)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                let Some(row) = row else { return Ok(None) };
                let expires_at: i64 = row.try_get("expires_at").map_err(StoreError::from_sqlx)?;
                if expires_at <= now {
                    return Ok(None);
                }
                row.try_get("next_path").map(Some).map_err(StoreError::from_sqlx)
            }

            async fn prune(
                &self,
                reports_before: i64,
                days_before: &str,
                now: i64,
            ) -> StoreResult<PruneStats> {
                let mut stats = PruneStats::default();
                // Small batches keep each write transaction short, so ingest never waits long.
                loop {
                    let done = sqlx::query(
                        "DELETE FROM reports WHERE report_id IN (\
                             SELECT r.report_id FROM reports r \
                             WHERE r.received_at < $1 AND NOT EXISTS (\
                                 SELECT 1 FROM devices d WHERE d.latest_report_id = r.report_id) \
                             LIMIT 500)",
                    )
                    .bind(reports_before)
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                    stats.reports += done.rows_affected();
                    if done.rows_affected() == 0 {
                        break;
                    }
                }
                stats.daily_rows = sqlx::query("DELETE FROM daily_posture WHERE day < $1")
                    .bind(days_before)
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .rows_affected();
                stats.sessions = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .rows_affected()
                    + sqlx::query("DELETE FROM login_links WHERE expires_at <= $1")
                        .bind(now)
                        .execute(&self.pool)
                        .await
                        .map_err(StoreError::from_sqlx)?
                        .rows_affected();
                Ok(stats)
            }
        }

        fn summary_from_row(
            row: &<$db as sqlx::Database>::Row,
        ) -> Result<DeviceSummary, sqlx::Error> {
            let hostname: Option<String> = row.try_get("hostname")?;
            let enrolled_hostname: String = row.try_get("enrolled_hostname")?;
            let os_name: Option<String> = row.try_get("os_name")?;
            let os_version: Option<String> = row.try_get("os_version")?;
            let os = match (os_name, os_version) {
                (Some(n), Some(v)) => Some(format!("{n} {v}")),
                (Some(n), None) => Some(n),
                (None, v) => v,
            };
            Ok(DeviceSummary {
                id: row.try_get("id")?,
                hostname: hostname.unwrap_or(enrolled_hostname),
                owner: row.try_get("owner")?,
                state: row.try_get("asset_state")?,
                os_family: row
                    .try_get::<Option<String>, _>("os_family")?
                    .or(row.try_get("enrolled_platform")?),
                os,
                posture: row.try_get("posture")?,
                noncompliant_since: row.try_get("noncompliant_since")?,
                last_seen_at: row.try_get("last_seen_at")?,
                last_report_at: row.try_get("latest_generated_at")?,
                check_now_requested_at: row.try_get("check_now_requested_at")?,
                failing_checks: Vec::new(),
                users: row.try_get("users")?,
                serial: row.try_get("hw_serial")?,
            })
        }

        fn finding_from_row(
            row: &<$db as sqlx::Database>::Row,
        ) -> Result<LatestFinding, sqlx::Error> {
            Ok(LatestFinding {
                device_id: row.try_get("device_id")?,
                finding: FindingSummary {
                    check_id: row.try_get("check_id")?,
                    title: row.try_get("title")?,
                    clause: row.try_get("clause")?,
                    status: row.try_get("status")?,
                    summary: row.try_get("summary")?,
                },
                status_since: row.try_get("status_since")?,
            })
        }

        async fn ingest_one(
            tx: &mut sqlx::Transaction<'static, $db>,
            item: &IngestItem,
        ) -> Result<IngestOutcome, sqlx::Error> {
            let inserted = sqlx::query(
                "INSERT INTO reports (report_id, device_id, generated_at, received_at, posture, body) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (report_id) DO NOTHING",
            )
            .bind(&item.report_id)
            .bind(&item.device_id)
            .bind(item.generated_at)
            .bind(item.received_at)
            .bind(&item.posture)
            .bind(&item.body)
            .execute(&mut **tx)
            .await?
            .rows_affected()
                == 1;
            if !inserted {
                let owner = sqlx::query_scalar::<_, String>(
                    "SELECT device_id FROM reports WHERE report_id = $1",
                )
                .bind(&item.report_id)
                .fetch_optional(&mut **tx)
                .await?;
                if owner.as_deref() != Some(item.device_id.as_str()) {
                    return Ok(IngestOutcome::ForeignReportId);
                }
                let check_now = sqlx::query_scalar::<_, Option<i64>>(
                    "UPDATE devices SET last_seen_at = $2 WHERE id = $1 \
                     RETURNING check_now_requested_at",
                )
                .bind(&item.device_id)
                .bind(item.received_at)
                .fetch_optional(&mut **tx)
                .await?
                .flatten();
                return Ok(IngestOutcome::Duplicate { check_now });
            }

            let row = sqlx::query(
                "SELECT latest_generated_at, posture, noncompliant_since, check_now_requested_at \
                 FROM devices WHERE id = $1",
            )
            .bind(&item.device_id)
            .fetch_one(&mut **tx)
            .await?;
            let latest_generated_at: Option<i64> = row.try_get("latest_generated_at")?;
            let previous_posture: Option<String> = row.try_get("posture")?;
            let noncompliant_since: Option<i64> = row.try_get("noncompliant_since")?;
            let requested: Option<i64> = row.try_get("check_now_requested_at")?;

            // A check-now request is answered by a report generated after it (allowing for an
            // agent clock that runs a little behind).
            let check_now = requested.filter(|r| {
                item.generated_at < r - $crate::store::CHECK_NOW_CLOCK_SKEW_MS
            });
            let is_latest = latest_generated_at.is_none_or(|g| item.generated_at >= g);

            if is_latest {
                let since = if item.posture == "noncompliant" {
                    match (previous_posture.as_deref(), noncompliant_since) {
                        (Some("noncompliant"), Some(since)) => Some(since),
                        _ => Some(item.generated_at),
                    }
                } else {
                    None
                };
                let inv = &item.inventory;
                sqlx::query(
                    "UPDATE devices SET latest_report_id = $2, latest_generated_at = $3, \
                         latest_received_at = $4, posture = $5, noncompliant_since = $6, \
                         last_seen_at = $4, check_now_requested_at = $7, hostname = $8, \
                         os_family = $9, os_name = $10, os_version = $11, hw_vendor = $12, \
                         hw_model = $13, hw_serial = $14, users = $15 \
                     WHERE id = $1",
                )
                .bind(&item.device_id)
                .bind(&item.report_id)
                .bind(item.generated_at)
                .bind(item.received_at)
                .bind(&item.posture)
                .bind(since)
                .bind(check_now)
                .bind(&inv.hostname)
                .bind(&inv.os_family)
                .bind(&inv.os_name)
                .bind(&inv.os_version)
                .bind(&inv.hw_vendor)
                .bind(&inv.hw_model)
                .bind(&inv.hw_serial)
                .bind(&inv.users)
                .execute(&mut **tx)
                .await?;
                for f in &item.findings {
                    sqlx::query(
                        "INSERT INTO latest_findings (device_id, check_id, report_id, title, clause, \
                             status, summary, status_since) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (device_id, check_id) DO UPDATE SET \
                             report_id = excluded.report_id, title = excluded.title, \
                             clause = excluded.clause, summary = excluded.summary, \
                             status_since = CASE WHEN latest_findings.status = excluded.status \
                                 THEN latest_findings.status_since ELSE excluded.status_since END, \
                             status = excluded.status",
                    )
                    .bind(&item.device_id)
                    .bind(&f.check_id)
                    .bind(&item.report_id)
                    .bind(&f.title)
                    .bind(&f.clause)
                    .bind(&f.status)
                    .bind(&f.summary)
                    .bind(item.generated_at)
                    .execute(&mut **tx)
                    .await?;
                }
                // Checks the latest report no longer carries are no longer findings.
                sqlx::query("DELETE FROM latest_findings WHERE device_id = $1 AND report_id <> $2")
                    .bind(&item.device_id)
                    .bind(&item.report_id)
                    .execute(&mut **tx)
                    .await?;
            } else {
                sqlx::query(
                    "UPDATE devices SET last_seen_at = $2, check_now_requested_at = $3 WHERE id = $1",
                )
                .bind(&item.device_id)
                .bind(item.received_at)
                .bind(check_now)
                .execute(&mut **tx)
                .await?;
            }

            sqlx::query(
                "INSERT INTO daily_posture (day, device_id, posture, generated_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (day, device_id) DO UPDATE SET posture = excluded.posture, \
                     generated_at = excluded.generated_at \
                 WHERE excluded.generated_at >= daily_posture.generated_at",
            )
            .bind(&item.generated_day)
            .bind(&item.device_id)
            .bind(&item.posture)
            .bind(item.generated_at)
            .execute(&mut **tx)
            .await?;

            Ok(IngestOutcome::Stored { check_now })
        }
    };
}

pub(crate) use impl_store;

/// Columns of a device list row, table alias `d`.
pub(crate) const SUMMARY_COLUMNS: &str = "d.id, d.hostname, d.enrolled_hostname, d.owner, \
    d.asset_state, d.os_family, d.enrolled_platform, d.os_name, d.os_version, d.posture, \
    d.noncompliant_since, d.last_seen_at, d.latest_generated_at, d.check_now_requested_at, \
    d.users, d.hw_serial";

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Appends the `WHERE` conditions of a filter. Values are always bound, never spliced.
pub(crate) fn push_filter<DB>(q: &mut sqlx::QueryBuilder<DB>, f: &super::DeviceFilter, now: i64)
where
    DB: sqlx::Database,
    String: for<'a> sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: for<'a> sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    match f.status.as_deref().filter(|s| !s.is_empty()) {
        Some("never") => {
            q.push(" AND d.posture IS NULL");
        }
        Some(status) => {
            q.push(" AND d.posture = ");
            q.push_bind(status.to_owned());
        }
        None => {}
    }
    if let Some(check) = f.check.as_deref().filter(|s| !s.is_empty()) {
        q.push(
            " AND EXISTS (SELECT 1 FROM latest_findings f WHERE f.device_id = d.id AND f.check_id = ",
        );
        q.push_bind(check.to_owned());
        q.push(" AND f.status = ");
        q.push_bind(
            f.check_status
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or("fail")
                .to_owned(),
        );
        q.push(")");
    }
    if let Some(os) = f.os.as_deref().filter(|s| !s.is_empty()) {
        q.push(" AND COALESCE(d.os_family, d.enrolled_platform) = ");
        q.push_bind(os.to_owned());
    }
    if let Some(owner) = f.owner.as_deref().filter(|s| !s.is_empty()) {
        q.push(" AND lower(d.owner) LIKE ");
        q.push_bind(like_pattern(owner));
        q.push(" ESCAPE '\\'");
    }
    if let Some(host) = f.hostname.as_deref().filter(|s| !s.is_empty()) {
        q.push(" AND lower(COALESCE(d.hostname, d.enrolled_hostname)) LIKE ");
        q.push_bind(like_pattern(host));
        q.push(" ESCAPE '\\'");
    }
    match f.state.as_deref().filter(|s| !s.is_empty()) {
        Some("all") => {}
        Some(state) => {
            q.push(" AND d.asset_state = ");
            q.push_bind(state.to_owned());
        }
        None => {
            q.push(" AND d.asset_state <> 'retired'");
        }
    }
    if let Some(days) = f.stale_days {
        q.push(" AND COALESCE(d.last_seen_at, d.enrolled_at) < ");
        q.push_bind(now - i64::from(days) * DAY_MS);
    }
    if let Some(days) = f.seen_within_days {
        q.push(" AND d.last_seen_at >= ");
        q.push_bind(now - i64::from(days) * DAY_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_wildcards_in_user_text_match_themselves() {
        assert_eq!(like_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
        assert_eq!(like_pattern("Alice"), "%alice%");
    }
}
