//! The SQL both stores share. SQLite and PostgreSQL accept the same statements here (`$N`
//! placeholders, `ON CONFLICT … DO UPDATE`, integer times, text bodies), so one macro implements
//! [`Store`](super::Store) for both pool types; opening the pool, starting a write transaction
//! and storing a batch of reports differ (PostgreSQL takes arrays, SQLite `VALUES` lists).

/// Expands to `impl Store for $store`, whose `pool` field is a `sqlx::Pool<$db>`; `$begin` is the
/// statement that starts a write transaction. The invoking module provides `ingest_batch` (for
/// SQLite, [`impl_values_ingest`]).
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
            ) -> StoreResult<$crate::store::EnrollOutcome> {
                use $crate::store::EnrollOutcome;
                let mut tx = self
                    .pool
                    .begin_with($begin)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                let fresh_id = uuid::Uuid::now_v7().to_string();
                // Each statement is atomic, so concurrent enrollments of one machine can neither
                // create two devices nor both take it over.
                let created = sqlx::query_scalar::<_, String>(
                    "INSERT INTO devices (id, machine_id, token_sha256, enrolled_at, \
                         enrolled_hostname, enrolled_platform, agent_version, last_seen_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $4) \
                     ON CONFLICT (machine_id) DO NOTHING RETURNING id",
                )
                .bind(&fresh_id)
                .bind(&e.machine_id)
                .bind(token_sha256)
                .bind(now)
                .bind(&e.hostname)
                .bind(&e.platform)
                .bind(&e.agent_version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                let (outcome, event) = if let Some(device_id) = created {
                    (
                        EnrollOutcome::Enrolled {
                            device_id,
                            re_enrolled: false,
                        },
                        None,
                    )
                } else {
                    // Known machine: its current token (while active) or an administrator's code
                    // for it re-enrolls it now.
                    let replaced = sqlx::query_scalar::<_, String>(
                        "UPDATE devices SET token_sha256 = $1, enrolled_hostname = $2, \
                             enrolled_platform = $3, agent_version = $4, last_seen_at = $5, \
                             pending_token_sha256 = NULL, pending_since = NULL, pending_hostname = NULL \
                         WHERE machine_id = $6 AND ((token_sha256 = $7 AND asset_state = 'active') \
                             OR id = $8) \
                         RETURNING id",
                    )
                    .bind(token_sha256)
                    .bind(&e.hostname)
                    .bind(&e.platform)
                    .bind(&e.agent_version)
                    .bind(now)
                    .bind(&e.machine_id)
                    .bind(&e.presented_token_sha256)
                    .bind(&e.approved_device)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                    match replaced {
                        Some(device_id) => {
                            let how = if e.approved_device.as_deref() == Some(device_id.as_str()) {
                                "re_enrolled_with_code"
                            } else {
                                "re_enrolled_with_token"
                            };
                            (
                                EnrollOutcome::Enrolled {
                                    device_id: device_id.clone(),
                                    re_enrolled: true,
                                },
                                Some((device_id, how)),
                            )
                        }
                        None => {
                            let device_id = sqlx::query_scalar::<_, String>(
                                "UPDATE devices SET pending_token_sha256 = $1, pending_since = $2, \
                                     pending_hostname = $3 \
                                 WHERE machine_id = $4 RETURNING id",
                            )
                            .bind(token_sha256)
                            .bind(now)
                            .bind(&e.hostname)
                            .bind(&e.machine_id)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(StoreError::from_sqlx)?;
                            (
                                EnrollOutcome::Pending {
                                    device_id: device_id.clone(),
                                },
                                Some((device_id, "re_enroll_pending")),
                            )
                        }
                    }
                };
                if let Some((device_id, kind)) = event {
                    sqlx::query(
                        "INSERT INTO device_events (device_id, at, kind, old_value, new_value) \
                         VALUES ($1, $2, $3, NULL, $4)",
                    )
                    .bind(&device_id)
                    .bind(now)
                    .bind(kind)
                    .bind(&e.hostname)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                }
                tx.commit().await.map_err(StoreError::from_sqlx)?;
                Ok(outcome)
            }

            async fn decide_enrollment(
                &self,
                device_id: &str,
                approve: bool,
                now: i64,
            ) -> StoreResult<bool> {
                let mut tx = self
                    .pool
                    .begin_with($begin)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                let sql = if approve {
                    "UPDATE devices SET token_sha256 = pending_token_sha256, \
                         enrolled_hostname = COALESCE(pending_hostname, enrolled_hostname), \
                         pending_token_sha256 = NULL, pending_since = NULL, pending_hostname = NULL \
                     WHERE id = $1 AND pending_token_sha256 IS NOT NULL"
                } else {
                    "UPDATE devices SET pending_token_sha256 = NULL, pending_since = NULL, \
                         pending_hostname = NULL \
                     WHERE id = $1 AND pending_token_sha256 IS NOT NULL"
                };
                let done = sqlx::query(sql)
                    .bind(device_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO device_events (device_id, at, kind) VALUES ($1, $2, $3)",
                )
                .bind(device_id)
                .bind(now)
                .bind(if approve { "re_enroll_approved" } else { "re_enroll_refused" })
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                tx.commit().await.map_err(StoreError::from_sqlx)?;
                Ok(true)
            }

            async fn create_enroll_code(
                &self,
                code_sha256: &str,
                device_id: Option<&str>,
                expires_at: i64,
                now: i64,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO enroll_codes (code_sha256, device_id, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(code_sha256)
                .bind(device_id)
                .bind(now)
                .bind(expires_at)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(())
            }

            async fn consume_enroll_code(
                &self,
                code_sha256: &str,
                now: i64,
            ) -> StoreResult<Option<Option<String>>> {
                let row = sqlx::query(
                    "UPDATE enroll_codes SET used_at = $2 \
                     WHERE code_sha256 = $1 AND used_at IS NULL AND expires_at > $2 \
                     RETURNING device_id",
                )
                .bind(code_sha256)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                row.map(|r| r.try_get::<Option<String>, _>("device_id"))
                    .transpose()
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
                    .ingest_pool
                    .begin_with($begin)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                let outcomes = ingest_batch(&mut tx, items)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                state_after_ingest(&mut tx, items)
                    .await
                    .map_err(StoreError::from_sqlx)?;
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
                // The API refuses a bad filter before; the dashboard's comes here.
                filter.validate().map_err(StoreError::InvalidInput)?;
                let mut q = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM devices d WHERE 1 = 1",
                    $crate::store::sql::SUMMARY_COLUMNS
                ));
                $crate::store::sql::push_filter(&mut q, filter, now);
                if let Some(cursor) = filter.cursor.as_deref().filter(|c| !c.is_empty()) {
                    let (seen, id) = $crate::store::parse_cursor(cursor)?;
                    q.push(" AND (d.last_seen_at, d.id) < (");
                    q.push_bind(seen);
                    q.push(", ");
                    q.push_bind(id);
                    q.push(")");
                }
                // The order of the (…, last_seen_at, id) indexes, read backwards: a page reads
                // its own rows, however deep it is.
                q.push(" ORDER BY d.last_seen_at DESC, d.id DESC LIMIT ");
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
                self.add_failing_checks(&mut devices).await?;
                Ok(devices)
            }

            async fn devices_page(
                &self,
                filter: &DeviceFilter,
                now: i64,
                after_id: Option<&str>,
                limit: u32,
            ) -> StoreResult<Vec<$crate::store::ExportDevice>> {
                let mut q = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {}, {} FROM devices d WHERE 1 = 1",
                    $crate::store::sql::SUMMARY_COLUMNS,
                    $crate::store::sql::EXPORT_COLUMNS
                ));
                $crate::store::sql::push_filter(&mut q, filter, now);
                if let Some(after) = after_id {
                    q.push(" AND d.id > ");
                    q.push_bind(after.to_owned());
                }
                q.push(" ORDER BY d.id LIMIT ");
                q.push_bind(i64::from(limit));
                self.export_devices(q).await
            }

            async fn received_page(
                &self,
                filter: &DeviceFilter,
                now: i64,
                after: Option<&$crate::store::ReceivedCursor>,
                until: i64,
                limit: u32,
            ) -> StoreResult<Vec<$crate::store::ExportDevice>> {
                let mut q = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {}, {} FROM devices d WHERE d.latest_received_at <= ",
                    $crate::store::sql::SUMMARY_COLUMNS,
                    $crate::store::sql::EXPORT_COLUMNS
                ));
                q.push_bind(until);
                $crate::store::sql::push_filter(&mut q, filter, now);
                match after {
                    Some($crate::store::ReceivedCursor { received_at, device_id: Some(id) }) => {
                        q.push(" AND (d.latest_received_at, d.id) > (");
                        q.push_bind(*received_at);
                        q.push(", ");
                        q.push_bind(id.clone());
                        q.push(")");
                    }
                    Some($crate::store::ReceivedCursor { received_at, device_id: None }) => {
                        q.push(" AND d.latest_received_at > ");
                        q.push_bind(*received_at);
                    }
                    None => {}
                }
                // The order of the devices_received index (migration 0019).
                q.push(" ORDER BY d.latest_received_at, d.id LIMIT ");
                q.push_bind(i64::from(limit));
                self.export_devices(q).await
            }

            async fn latest_findings_of(
                &self,
                reports: &[(String, String)],
            ) -> StoreResult<Vec<LatestFinding>> {
                let mut out = Vec::new();
                for chunk in reports.chunks(400) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "SELECT device_id, check_id, title, clause, status, summary, \
                             status_since, changed_by_report, change_trigger, change_cause, \
                             change_detected_at_agent_clock, enforcement \
                         FROM latest_findings WHERE (device_id, report_id) IN (VALUES ",
                    );
                    for (n, (device, report)) in chunk.iter().enumerate() {
                        if n > 0 {
                            q.push(", ");
                        }
                        q.push("(CAST(");
                        q.push_bind(device.clone());
                        q.push(" AS TEXT), CAST(");
                        q.push_bind(report.clone());
                        q.push(" AS TEXT))");
                    }
                    q.push(") ORDER BY device_id, check_id");
                    let rows = q
                        .build()
                        .fetch_all(&self.pool)
                        .await
                        .map_err(StoreError::from_sqlx)?;
                    for row in &rows {
                        out.push(finding_from_row(row).map_err(StoreError::from_sqlx)?);
                    }
                }
                Ok(out)
            }

            async fn findings_page(
                &self,
                filter: &DeviceFilter,
                now: i64,
                after: Option<(&str, &str)>,
                limit: u32,
            ) -> StoreResult<Vec<$crate::store::ExportFinding>> {
                // `lf`, not `f`: the filter's check condition has a subquery of its own on
                // latest_findings named `f`.
                let mut q = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT lf.device_id, lf.check_id, lf.title, lf.clause, lf.status, \
                         lf.summary, lf.status_since, lf.changed_by_report, lf.change_trigger, \
                         lf.change_cause, lf.change_detected_at_agent_clock, lf.enforcement, \
                         COALESCE(d.hostname, d.enrolled_hostname) AS device_hostname, \
                         d.owner AS device_owner, {} \
                     FROM latest_findings lf JOIN devices d ON d.id = lf.device_id \
                     WHERE 1 = 1",
                    $crate::store::sql::EXPORT_COLUMNS
                ));
                $crate::store::sql::push_filter(&mut q, filter, now);
                $crate::store::sql::push_after_pair(&mut q, "lf.device_id, lf.check_id", after);
                q.push(" ORDER BY lf.device_id, lf.check_id LIMIT ");
                q.push_bind(i64::from(limit));
                let rows = q
                    .build()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::store::ExportFinding {
                            finding: finding_from_row(r)?,
                            hostname: r.try_get("device_hostname")?,
                            owner: r.try_get("device_owner")?,
                            report: provenance_from_row(r)?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(StoreError::from_sqlx)
            }

            async fn findings_without_enforcement(
                &self,
                after: Option<(&str, &str)>,
                limit: u32,
            ) -> StoreResult<Vec<$crate::store::UnderivedFinding>> {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "SELECT device_id, check_id, report_id FROM latest_findings \
                     WHERE enforcement IS NULL",
                );
                $crate::store::sql::push_after_pair(&mut q, "device_id, check_id", after);
                q.push(" ORDER BY device_id, check_id LIMIT ");
                q.push_bind(i64::from(limit));
                let rows = q
                    .build()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::store::UnderivedFinding {
                            device_id: r.try_get("device_id")?,
                            check_id: r.try_get("check_id")?,
                            report_id: r.try_get("report_id")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(StoreError::from_sqlx)
            }

            async fn set_enforcement(
                &self,
                values: &[(
                    $crate::store::UnderivedFinding,
                    $crate::enforcement::Enforcement,
                )],
            ) -> StoreResult<u64> {
                let mut changed = 0;
                let mut tx = self
                    .pool
                    .begin_with($begin)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                for chunk in values.chunks(STATE_ROWS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "WITH v (device_id, check_id, report_id, enforcement) AS (VALUES ",
                    );
                    for (n, (row, value)) in chunk.iter().enumerate() {
                        if n > 0 {
                            q.push(", ");
                        }
                        q.push("(CAST(");
                        q.push_bind(row.device_id.clone());
                        q.push(" AS TEXT), CAST(");
                        q.push_bind(row.check_id.clone());
                        q.push(" AS TEXT), CAST(");
                        q.push_bind(row.report_id.clone());
                        q.push(" AS TEXT), CAST(");
                        q.push_bind(value.as_str());
                        q.push(" AS TEXT))");
                    }
                    q.push(
                        ") UPDATE latest_findings SET enforcement = v.enforcement FROM v \
                         WHERE latest_findings.device_id = v.device_id \
                         AND latest_findings.check_id = v.check_id \
                         AND latest_findings.report_id = v.report_id \
                         AND latest_findings.enforcement IS NULL",
                    );
                    changed += q
                        .build()
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::from_sqlx)?
                        .rows_affected();
                }
                tx.commit().await.map_err(StoreError::from_sqlx)?;
                Ok(changed)
            }

            async fn check_state(&self) -> StoreResult<Vec<$crate::store::StateMismatch>> {
                Ok(state_recount(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .into_iter()
                    .map(|(kind, key, status, maintained, recounted)| {
                        $crate::store::StateMismatch {
                            kind,
                            key,
                            status,
                            maintained,
                            recounted,
                        }
                    })
                    .collect())
            }

            async fn upkeep(&self, truncate: bool) -> StoreResult<$crate::store::Upkeep> {
                self.upkeep_impl(truncate).await
            }

            async fn reclaim_space(&self, max_pages: u32) -> StoreResult<u64> {
                self.reclaim_space_impl(max_pages).await
            }

            async fn device(&self, device_id: &str) -> StoreResult<Option<DeviceDetail>> {
                let sql = format!(
                    "SELECT {}, d.machine_id, d.enrolled_at, d.agent_version, d.asset_note, \
                         d.token_sha256, d.hw_vendor, d.hw_model, d.os_name, d.os_version, \
                         d.pending_since, d.pending_hostname, d.latest_report_id, \
                         d.latest_received_at, r.body AS latest_body \
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
                        enrollment_pending_since: row.try_get("pending_since")?,
                        pending_hostname: row.try_get("pending_hostname")?,
                        enrolled_at: row.try_get("enrolled_at")?,
                        agent_version: row.try_get("agent_version")?,
                        note: row.try_get("asset_note")?,
                        token_active: token.is_some(),
                        latest_report: row.try_get("latest_body")?,
                        events: Vec::new(),
                        findings: Vec::new(),
                        summary,
                    })
                })()
                .map_err(StoreError::from_sqlx)?;
                let mut detail = detail;
                if detail.latest_report.is_none() {
                    // Reports since migration 0016 are check-ins; older ones are in `reports`.
                    let latest: Option<String> =
                        row.try_get("latest_report_id").map_err(StoreError::from_sqlx)?;
                    let at: Option<i64> =
                        row.try_get("latest_received_at").map_err(StoreError::from_sqlx)?;
                    if let Some(latest) = latest {
                        detail.latest_report = checkins_sql::body(&self.pool, device_id, &latest, at)
                            .await
                            .map_err(StoreError::from_sqlx)?;
                    }
                }
                let rows = sqlx::query(
                    "SELECT device_id, check_id, title, clause, status, summary, status_since, \
                         changed_by_report, change_trigger, change_cause, \
                         change_detected_at_agent_clock, enforcement \
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
                let rows = sqlx::query(
                    "SELECT device_id, at, kind, old_value, new_value, report_id \
                     FROM device_events WHERE device_id = $1 ORDER BY at DESC, id DESC LIMIT 100",
                )
                .bind(device_id)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                detail.events = rows
                    .iter()
                    .map(|r| {
                        Ok($crate::store::DeviceEvent {
                            device_id: r.try_get("device_id")?,
                            at: r.try_get("at")?,
                            kind: r.try_get("kind")?,
                            old_value: r.try_get("old_value")?,
                            new_value: r.try_get("new_value")?,
                            report_id: r.try_get("report_id")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(StoreError::from_sqlx)?;
                detail.summary.failing_checks = detail
                    .findings
                    .iter()
                    .filter(|f| f.finding.status == posture_schema::Status::Fail)
                    .map(|f| f.finding.check_id.clone())
                    .collect();
                Ok(Some(detail))
            }

            async fn history(&self, device_id: &str, limit: u32) -> StoreResult<Vec<ReportMeta>> {
                let limit_n = usize::try_from(limit).unwrap_or(usize::MAX);
                let mut newer = checkins_sql::history(&self.pool, device_id, limit_n)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                let rows = sqlx::query(
                    "SELECT report_id, generated_at, received_at, posture, trigger_kind, \
                         trigger_cause, trigger_detected_at_agent_clock FROM reports \
                     WHERE device_id = $1 ORDER BY received_at DESC, report_id DESC LIMIT $2",
                )
                .bind(device_id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                let older = rows.iter()
                    .map(|r| {
                        Ok(ReportMeta {
                            report_id: r.try_get("report_id")?,
                            generated_at: r.try_get("generated_at")?,
                            received_at: r.try_get("received_at")?,
                            posture: posture_column(r, "posture")?,
                            trigger: r.try_get::<Option<String>, _>("trigger_kind")?.map(|kind| {
                                Ok::<_, sqlx::Error>($crate::store::ReportTrigger {
                                    kind,
                                    cause: r.try_get("trigger_cause")?,
                                    detected_at_agent_clock: r
                                        .try_get("trigger_detected_at_agent_clock")?,
                                })
                            }).transpose()?,
                        })
                    })
                    .collect::<Result<Vec<ReportMeta>, sqlx::Error>>()
                    .map_err(StoreError::from_sqlx)?;
                newer.extend(older);
                newer.sort_by(|a, b| {
                    (b.received_at, &b.report_id).cmp(&(a.received_at, &a.report_id))
                });
                newer.truncate(limit_n);
                Ok(newer)
            }

            async fn report(&self, device_id: &str, report_id: &str) -> StoreResult<Option<String>> {
                let legacy = sqlx::query_scalar::<_, String>(
                    "SELECT body FROM reports WHERE device_id = $1 AND report_id = $2",
                )
                .bind(device_id)
                .bind(report_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                if legacy.is_some() {
                    return Ok(legacy);
                }
                checkins_sql::body(&self.pool, device_id, report_id, None)
                    .await
                    .map_err(StoreError::from_sqlx)
            }

            async fn daily_rollups(
                &self,
                since_day: &str,
            ) -> StoreResult<Vec<$crate::store::CheckRollup>> {
                checkins_sql::rollups(&self.pool, since_day)
                    .await
                    .map_err(StoreError::from_sqlx)
            }

            async fn all_latest_findings(&self) -> StoreResult<Vec<LatestFinding>> {
                let rows = sqlx::query(
                    "SELECT f.device_id, f.check_id, f.title, f.clause, f.status, f.summary, \
                         f.status_since, f.changed_by_report, f.change_trigger, f.change_cause, \
                         f.change_detected_at_agent_clock, f.enforcement \
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
                // Maintained counters (migration 0015), not a count of the devices.
                let rows = sqlx::query(
                    "SELECT k1 AS key, n FROM fleet_counts \
                     WHERE kind = 'posture' AND n <> 0 ORDER BY k1",
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
                // The title from the (check_id, status, title) index: one seek per counter.
                let rows = sqlx::query(
                    "SELECT c.k1 AS check_id, c.k2 AS status, c.n AS n, \
                         COALESCE((SELECT f.title FROM latest_findings f \
                             WHERE f.check_id = c.k1 AND f.status = c.k2 \
                             ORDER BY f.title LIMIT 1), c.k1) AS title \
                     FROM fleet_counts c WHERE c.kind = 'check' AND c.n <> 0 \
                     ORDER BY c.k1, c.k2",
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
                // Maintained counters too (migration 0017): k2 is `STATUS:ENFORCEMENT`.
                let rows = sqlx::query(
                    "SELECT k1, k2, n FROM fleet_counts \
                     WHERE kind = 'enforcement' AND n <> 0 ORDER BY k1, k2",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                for r in &rows {
                    let key: String = r.try_get("k2").map_err(StoreError::from_sqlx)?;
                    let (status, enforcement) = key.split_once(':').ok_or_else(|| {
                        StoreError::Database(format!(
                            "fleet_counts enforcement key {key:?} is not STATUS:ENFORCEMENT"
                        ))
                    })?;
                    summary.by_enforcement.push($crate::store::EnforcementCount {
                        check_id: r.try_get("k1").map_err(StoreError::from_sqlx)?,
                        status: status.to_owned(),
                        enforcement: enforcement.to_owned(),
                        count: r.try_get("n").map_err(StoreError::from_sqlx)?,
                    });
                }
                summary.compute_pass_enforcement();
                // Maintained per-day counts (migration 0018): only the days asked are read.
                let rows = sqlx::query(
                    "SELECT day, posture, n FROM daily_posture_counts \
                     WHERE day >= $1 AND n <> 0 ORDER BY day, posture",
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

            async fn set_policy(
                &self,
                policy: &$crate::ingest::FleetPolicy,
                text: &str,
                now: i64,
            ) -> StoreResult<i64> {
                let mut tx = self
                    .pool
                    .begin_with($begin)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                let row = sqlx::query(
                    "INSERT INTO policies (digest, text, set_at) VALUES ($1, $2, $3) RETURNING version",
                )
                .bind(&policy.digest)
                .bind(text)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                let version = row.try_get("version").map_err(StoreError::from_sqlx)?;
                state_policy_changed(&mut tx, policy, now)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                tx.commit().await.map_err(StoreError::from_sqlx)?;
                Ok(version)
            }

            async fn current_policy(&self) -> StoreResult<Option<$crate::store::StoredPolicy>> {
                Ok(policy_rows(
                    sqlx::query(
                        "SELECT version, digest, text, set_at FROM policies \
                         ORDER BY version DESC LIMIT 1",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?,
                )?
                .pop())
            }

            async fn policy_versions(&self) -> StoreResult<Vec<$crate::store::StoredPolicy>> {
                policy_rows(
                    sqlx::query(
                        "SELECT version, digest, text, set_at FROM policies ORDER BY version DESC",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?,
                )
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
                                use $crate::store::content::day_of;
                let mut stats = PruneStats::default();
                let budget = self.prune_lock;
                let sqlx_err = StoreError::from_sqlx;
                // Closed days are rolled up before their check-ins may go.
                stats.rollup_days = checkins_sql::roll_up(&self.pool, day_of(now))
                    .await
                    .map_err(sqlx_err)?;
                // Whole days of check-ins, except the day of each device's latest report (and
                // days not rolled up yet, which are all on or after today).
                let cutoff_day = day_of(reports_before);
                let (blocks, records) = checkins_sql::delete_in_batches(
                    &self.pool,
                    "DELETE FROM checkin_blocks WHERE (device_id, day) IN (\
                         SELECT b.device_id, b.day FROM checkin_blocks b \
                         JOIN devices d ON d.id = b.device_id \
                         WHERE b.day < $1 AND b.day < d.latest_received_at / 86400000 \
                         LIMIT $2) \
                     RETURNING records",
                    cutoff_day,
                    budget,
                    true,
                )
                .await
                .map_err(sqlx_err)?;
                stats.checkin_blocks = blocks;
                stats.reports += records;
                // Within the days left: reports before the cutoff that are not the latest.
                stats.reports += checkins_sql::trim_blocks(&self.pool, cutoff_day, reports_before)
                    .await
                    .map_err(sqlx_err)?;
                // Parts: those of the blocks kept past the cutoff stay; the rest, unused since
                // the cutoff, go.
                checkins_sql::keep_parts_of_old_blocks(&self.pool, cutoff_day)
                    .await
                    .map_err(sqlx_err)?;
                stats.parts = checkins_sql::delete_in_batches(
                    &self.pool,
                    "DELETE FROM report_parts WHERE id IN (\
                         SELECT id FROM report_parts WHERE last_day < $1 LIMIT $2)",
                    cutoff_day,
                    budget,
                    false,
                )
                .await
                .map_err(sqlx_err)?
                .0;
                let _ = checkins_sql::delete_in_batches(
                    &self.pool,
                    "DELETE FROM recent_report_ids WHERE report_id IN (\
                         SELECT report_id FROM recent_report_ids WHERE received_at < $1 LIMIT $2)",
                    now - $crate::store::checkins::RECENT_IDS_MS,
                    budget,
                    false,
                )
                .await
                .map_err(sqlx_err)?
                .0;
                // Reports stored before migration 0016.
                stats.reports += checkins_sql::delete_in_batches(
                    &self.pool,
                    "DELETE FROM reports WHERE report_id IN (\
                         SELECT r.report_id FROM reports r \
                         WHERE r.received_at < $1 AND NOT EXISTS (\
                             SELECT 1 FROM devices d WHERE d.latest_report_id = r.report_id) \
                         LIMIT $2)",
                    reports_before,
                    budget,
                    false,
                )
                .await
                .map_err(sqlx_err)?
                .0;
                // Their per-day counts follow through triggers (migration 0018); the counts of
                // the days that are gone, all at 0 now, go after them.
                stats.daily_rows = checkins_sql::delete_in_batches(
                    &self.pool,
                    "DELETE FROM daily_posture WHERE (day, device_id) IN (\
                         SELECT day, device_id FROM daily_posture WHERE day < $1 LIMIT $2)",
                    days_before.to_owned(),
                    budget,
                    false,
                )
                .await
                .map_err(sqlx_err)?
                .0;
                if stats.daily_rows > 0 {
                    sqlx::query("DELETE FROM daily_posture_counts WHERE day < $1 AND n = 0")
                        .bind(days_before)
                        .execute(&self.pool)
                        .await
                        .map_err(sqlx_err)?;
                }
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

        impl $store {
            /// Runs an export's device query (summary and export columns) and fills in the
            /// failing checks of its rows.
            async fn export_devices(
                &self,
                mut q: sqlx::QueryBuilder<$db>,
            ) -> StoreResult<Vec<$crate::store::ExportDevice>> {
                let rows = q
                    .build()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                let mut summaries = rows
                    .iter()
                    .map(summary_from_row)
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(StoreError::from_sqlx)?;
                self.add_failing_checks(&mut summaries).await?;
                summaries
                    .into_iter()
                    .zip(&rows)
                    .map(|(summary, row)| {
                        Ok($crate::store::ExportDevice {
                            summary,
                            report: provenance_from_row(row)?,
                            inventory: $crate::store::Inventory {
                                hostname: row.try_get("hostname")?,
                                os_family: row.try_get("os_family")?,
                                os_name: row.try_get("os_name")?,
                                os_version: row.try_get("os_version")?,
                                hw_vendor: row.try_get("hw_vendor")?,
                                hw_model: row.try_get("hw_model")?,
                                hw_serial: row.try_get("hw_serial")?,
                                users: row.try_get("users")?,
                            },
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(StoreError::from_sqlx)
            }

            /// Fills in the failing checks of the listed devices only.
            async fn add_failing_checks(&self, devices: &mut [DeviceSummary]) -> StoreResult<()> {
                for chunk in devices.chunks_mut(500) {
                    if chunk.is_empty() {
                        continue;
                    }
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "SELECT device_id, check_id FROM latest_findings \
                         WHERE status = 'fail' AND device_id IN (",
                    );
                    let mut list = q.separated(", ");
                    for d in chunk.iter() {
                        list.push_bind(d.id.clone());
                    }
                    q.push(") ORDER BY device_id, check_id");
                    let rows = q
                        .build()
                        .fetch_all(&self.pool)
                        .await
                        .map_err(StoreError::from_sqlx)?;
                    let mut by_device = std::collections::HashMap::<String, Vec<String>>::new();
                    for row in &rows {
                        let device: String =
                            row.try_get("device_id").map_err(StoreError::from_sqlx)?;
                        let check: String =
                            row.try_get("check_id").map_err(StoreError::from_sqlx)?;
                        by_device.entry(device).or_default().push(check);
                    }
                    for d in chunk.iter_mut() {
                        if let Some(checks) = by_device.remove(&d.id) {
                            d.failing_checks = checks;
                        }
                    }
                }
                Ok(())
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
                posture: optional_posture_column(row, "posture")?,
                noncompliant_since: row.try_get("noncompliant_since")?,
                last_seen_at: row.try_get("last_seen_at")?,
                last_report_at: row.try_get("latest_generated_at")?,
                check_now_requested_at: row.try_get("check_now_requested_at")?,
                failing_checks: Vec::new(),
                users: row.try_get("users")?,
                serial: row.try_get("hw_serial")?,
                clock_skew_ms: row.try_get("clock_skew_ms")?,
                policy_mismatch: row.try_get::<i64, _>("policy_mismatch")? != 0,
            })
        }

        /// The report an export row comes from ([`EXPORT_COLUMNS`](crate::store::sql)).
        fn provenance_from_row(
            row: &<$db as sqlx::Database>::Row,
        ) -> Result<$crate::store::ReportProvenance, sqlx::Error> {
            Ok($crate::store::ReportProvenance {
                report_id: row.try_get("latest_report_id")?,
                policy_digest: row.try_get("policy_digest")?,
                agent_version: row.try_get("export_agent_version")?,
                generated_at: row.try_get("latest_generated_at")?,
                received_at: row.try_get("latest_received_at")?,
            })
        }

        fn policy_rows(
            rows: Vec<<$db as sqlx::Database>::Row>,
        ) -> StoreResult<Vec<$crate::store::StoredPolicy>> {
            rows.iter()
                .map(|r| {
                    Ok($crate::store::StoredPolicy {
                        version: r.try_get("version")?,
                        digest: r.try_get("digest")?,
                        text: r.try_get("text")?,
                        set_at: r.try_get("set_at")?,
                    })
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::from_sqlx)
        }

        /// A device's state before an ingest batch, from its `devices` row.
        fn device_state(
            row: &<$db as sqlx::Database>::Row,
        ) -> Result<$crate::store::batch::DeviceState, sqlx::Error> {
            Ok($crate::store::batch::DeviceState {
                latest_received_at: row.try_get("latest_received_at")?,
                posture: optional_posture_column(row, "posture")?,
                noncompliant_since: row.try_get("noncompliant_since")?,
                check_now: row.try_get("check_now_requested_at")?,
                machine_id: row.try_get("machine_id")?,
                hw_serial: row.try_get("hw_serial")?,
                os_family: row
                    .try_get::<Option<String>, _>("os_family")?
                    .or(row.try_get::<Option<String>, _>("enrolled_platform")?)
                    .filter(|f| !f.is_empty()),
            })
        }

        fn optional_posture_column(
            row: &<$db as sqlx::Database>::Row,
            column: &str,
        ) -> Result<Option<posture_schema::Posture>, sqlx::Error> {
            let word: Option<String> = row.try_get(column)?;
            word.map(|w| {
                posture_schema::Posture::parse(&w).ok_or_else(|| sqlx::Error::ColumnDecode {
                    index: column.to_owned(),
                    source: format!("{w:?} is not a posture").into(),
                })
            })
            .transpose()
        }

        fn posture_column(
            row: &<$db as sqlx::Database>::Row,
            column: &str,
        ) -> Result<posture_schema::Posture, sqlx::Error> {
            optional_posture_column(row, column)?.ok_or_else(|| sqlx::Error::ColumnDecode {
                index: column.to_owned(),
                source: "no posture".into(),
            })
        }

        fn status_column(
            row: &<$db as sqlx::Database>::Row,
            column: &str,
        ) -> Result<posture_schema::Status, sqlx::Error> {
            let word: String = row.try_get(column)?;
            posture_schema::Status::parse(&word).ok_or_else(|| sqlx::Error::ColumnDecode {
                index: column.to_owned(),
                source: format!("{word:?} is not a check status").into(),
            })
        }

        fn enforcement_column(
            row: &<$db as sqlx::Database>::Row,
            column: &str,
        ) -> Result<Option<$crate::enforcement::Enforcement>, sqlx::Error> {
            let word: Option<String> = row.try_get(column)?;
            word.map(|word| {
                $crate::enforcement::Enforcement::parse(&word).ok_or_else(|| {
                    sqlx::Error::ColumnDecode {
                        index: column.to_owned(),
                        source: format!("{word:?} is not an enforcement value").into(),
                    }
                })
            })
            .transpose()
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
                    status: status_column(row, "status")?,
                    summary: row.try_get("summary")?,
                    enforcement: enforcement_column(row, "enforcement")?,
                },
                status_since: row.try_get("status_since")?,
                change: $crate::store::StatusChange {
                    changed_at: row.try_get("status_since")?,
                    changed_by_report: row.try_get("changed_by_report")?,
                    change_trigger: row.try_get("change_trigger")?,
                    change_cause: row.try_get("change_cause")?,
                    change_detected_at_agent_clock: row
                        .try_get("change_detected_at_agent_clock")?,
                },
            })
        }
    };
}

pub(crate) use impl_store;

/// Expands to the `ingest_batch` that [`impl_store`] calls, with `VALUES` lists: SQLite has no
/// array parameters. The PostgreSQL store has its own, with one array per column.
macro_rules! impl_values_ingest {
    ($db:ty) => {
        /// Stores a batch with a fixed number of statements: insert the reports, look up what
        /// already existed, read the devices, then write devices, findings and daily rows.
        async fn ingest_batch(
            tx: &mut sqlx::Transaction<'static, $db>,
            items: &[IngestItem],
        ) -> Result<Vec<IngestOutcome>, sqlx::Error> {
            use std::collections::{HashMap, HashSet};
            use $crate::store::batch::{distinct_reports, plan};
            // Keeps every statement far below SQLite's 32766 and PostgreSQL's 65535 parameters.
            const ROWS_PER_STATEMENT: usize = 500;

            let rows = distinct_reports(items);
            // Check-ins and parts (src/store/checkins.rs): which ids are new, whose the others are.
            let (inserted, owners) = checkins_sql::store(tx, &rows).await?;

            let mut device_ids: Vec<&str> = items.iter().map(|i| i.device_id.as_str()).collect();
            device_ids.sort_unstable();
            device_ids.dedup();
            let mut states = HashMap::new();
            for chunk in device_ids.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, latest_received_at, posture, noncompliant_since, \
                     check_now_requested_at, machine_id, hw_serial, os_family, enrolled_platform \
                     FROM devices WHERE id IN (",
                );
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind((*id).to_owned());
                }
                q.push(")");
                for row in q.build().fetch_all(&mut **tx).await? {
                    states.insert(row.try_get::<String, _>("id")?, device_state(&row)?);
                }
            }

            let plan = plan(
                items,
                &inserted,
                &owners,
                states,
                $crate::store::CHECK_NOW_CLOCK_SKEW_MS,
            );

            // Identity events first: on PostgreSQL the device rows stay locked from their UPDATE
            // until the commit, and other writers' batches for the same devices wait that long.
            for chunk in plan.events.chunks(ROWS_PER_STATEMENT / 2) {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO device_events (device_id, at, kind, old_value, new_value, report_id) ",
                );
                q.push_values(chunk, |mut b, e| {
                    b.push_bind(e.device_id.clone())
                        .push_bind(e.at)
                        .push_bind(e.kind.clone())
                        .push_bind(e.old_value.clone())
                        .push_bind(e.new_value.clone())
                        .push_bind(e.report_id.clone());
                });
                // The same change seen again in later reports is the same event.
                q.push(" ON CONFLICT (device_id, kind, old_value, new_value) DO NOTHING");
                q.build().execute(&mut **tx).await?;
            }

            // Devices: one UPDATE … FROM a VALUES list. CASTs give PostgreSQL the column types;
            // SQLite accepts them as affinities.
            for chunk in plan.devices.chunks(ROWS_PER_STATEMENT / 4) {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "WITH v (id, last_seen_at, check_now, is_latest, report_id, generated_at, \
                         received_at, posture, since, clock_skew_ms, policy_mismatch, hostname, \
                         os_family, os_name, os_version, hw_vendor, hw_model, hw_serial, users) \
                         AS (VALUES ",
                );
                for (n, d) in chunk.iter().enumerate() {
                    if n > 0 {
                        q.push(", ");
                    }
                    let latest = d.latest.as_ref().map(|(item, _, _)| *item);
                    let inv = d.latest.as_ref().map(|(_, _, inventory)| inventory);
                    q.push("(CAST(");
                    q.push_bind(d.device_id.to_owned());
                    q.push(" AS TEXT), CAST(");
                    q.push_bind(d.last_seen_at);
                    q.push(" AS BIGINT), CAST(");
                    q.push_bind(d.check_now);
                    q.push(" AS BIGINT), CAST(");
                    q.push_bind(i64::from(latest.is_some()));
                    q.push(" AS BIGINT), CAST(");
                    q.push_bind(latest.map(|i| i.report_id.clone()));
                    q.push(" AS TEXT), CAST(");
                    q.push_bind(latest.map(|i| i.generated_at));
                    q.push(" AS BIGINT), CAST(");
                    q.push_bind(latest.map(|i| i.received_at));
                    q.push(" AS BIGINT), CAST(");
                    q.push_bind(latest.map(|i| i.posture.as_str()));
                    q.push(" AS TEXT), CAST(");
                    q.push_bind(d.latest.as_ref().and_then(|(_, since, _)| *since));
                    q.push(" AS BIGINT), CAST(");
                    q.push_bind(latest.and_then(|i| i.clock_skew_ms));
                    q.push(" AS BIGINT), CAST(");
                    q.push_bind(latest.map(|i| i64::from(i.policy_mismatch)));
                    q.push(" AS BIGINT)");
                    for text in [
                        inv.and_then(|i| i.hostname.clone()),
                        inv.and_then(|i| i.os_family.clone()),
                        inv.and_then(|i| i.os_name.clone()),
                        inv.and_then(|i| i.os_version.clone()),
                        inv.and_then(|i| i.hw_vendor.clone()),
                        inv.and_then(|i| i.hw_model.clone()),
                        inv.and_then(|i| i.hw_serial.clone()),
                        inv.and_then(|i| i.users.clone()),
                    ] {
                        q.push(", CAST(");
                        q.push_bind(text);
                        q.push(" AS TEXT)");
                    }
                    q.push(")");
                }
                q.push(
                    ") UPDATE devices SET \
                     last_seen_at = v.last_seen_at, \
                     check_now_requested_at = v.check_now, \
                     latest_report_id = CASE WHEN v.is_latest = 1 THEN v.report_id ELSE devices.latest_report_id END, \
                     latest_generated_at = CASE WHEN v.is_latest = 1 THEN v.generated_at ELSE devices.latest_generated_at END, \
                     latest_received_at = CASE WHEN v.is_latest = 1 THEN v.received_at ELSE devices.latest_received_at END, \
                     posture = CASE WHEN v.is_latest = 1 THEN v.posture ELSE devices.posture END, \
                     noncompliant_since = CASE WHEN v.is_latest = 1 THEN v.since ELSE devices.noncompliant_since END, \
                     clock_skew_ms = CASE WHEN v.is_latest = 1 THEN v.clock_skew_ms ELSE devices.clock_skew_ms END, \
                     policy_mismatch = CASE WHEN v.is_latest = 1 THEN v.policy_mismatch ELSE devices.policy_mismatch END, \
                     hostname = CASE WHEN v.is_latest = 1 THEN v.hostname ELSE devices.hostname END, \
                     os_family = CASE WHEN v.is_latest = 1 THEN v.os_family ELSE devices.os_family END, \
                     os_name = CASE WHEN v.is_latest = 1 THEN v.os_name ELSE devices.os_name END, \
                     os_version = CASE WHEN v.is_latest = 1 THEN v.os_version ELSE devices.os_version END, \
                     hw_vendor = CASE WHEN v.is_latest = 1 THEN v.hw_vendor ELSE devices.hw_vendor END, \
                     hw_model = CASE WHEN v.is_latest = 1 THEN v.hw_model ELSE devices.hw_model END, \
                     hw_serial = CASE WHEN v.is_latest = 1 THEN v.hw_serial ELSE devices.hw_serial END, \
                     users = CASE WHEN v.is_latest = 1 THEN v.users ELSE devices.users END \
                     FROM v WHERE devices.id = v.id",
                );
                q.build().execute(&mut **tx).await?;
            }

            // Latest findings of devices whose latest report changed: upsert, then drop checks
            // the new latest report no longer has.
            let latest: Vec<&IngestItem> = plan
                .devices
                .iter()
                .filter_map(|d| d.latest.as_ref().map(|(item, _, _)| *item))
                .collect();
            let findings: Vec<(&IngestItem, &FindingSummary)> = latest
                .iter()
                .flat_map(|item| {
                    let mut seen = HashSet::new();
                    item.findings
                        .iter()
                        .filter(move |f| seen.insert(f.check_id.as_str()))
                        .map(move |f| (*item, f))
                })
                .collect();
            for chunk in findings.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO latest_findings (device_id, check_id, report_id, title, clause, \
                         status, summary, status_since, changed_by_report, change_trigger, \
                         change_cause, change_detected_at_agent_clock, enforcement) ",
                );
                q.push_values(chunk, |mut b, (item, f)| {
                    let trigger = item.trigger.as_ref();
                    b.push_bind(item.device_id.clone())
                        .push_bind(f.check_id.clone())
                        .push_bind(item.report_id.clone())
                        .push_bind(f.title.clone())
                        .push_bind(f.clause.clone())
                        .push_bind(f.status.as_str())
                        .push_bind(f.summary.clone())
                        .push_bind(item.received_at)
                        .push_bind(item.report_id.clone())
                        .push_bind(trigger.map(|t| t.kind.clone()))
                        .push_bind(trigger.and_then(|t| t.cause.clone()))
                        .push_bind(trigger.and_then(|t| t.detected_at_agent_clock))
                        .push_bind(f.enforcement.map(|e| e.as_str()));
                });
                // "Changed at" moves only when the status does: the receive time and trigger of
                // the first report with the new status. Every right-hand side reads the row as
                // it was before this update, in both databases.
                let keep_or_take = |column: &str| {
                    format!(
                        "{column} = CASE WHEN latest_findings.status = excluded.status \
                             THEN latest_findings.{column} ELSE excluded.{column} END"
                    )
                };
                q.push(
                    " ON CONFLICT (device_id, check_id) DO UPDATE SET \
                         report_id = excluded.report_id, title = excluded.title, \
                         clause = excluded.clause, summary = excluded.summary, \
                         enforcement = excluded.enforcement, ",
                );
                q.push(
                    [
                        "status_since",
                        "changed_by_report",
                        "change_trigger",
                        "change_cause",
                        "change_detected_at_agent_clock",
                    ]
                    .map(keep_or_take)
                    .join(", "),
                );
                q.push(", status = excluded.status");
                q.build().execute(&mut **tx).await?;
            }
            for chunk in latest.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "DELETE FROM latest_findings WHERE device_id IN (",
                );
                let mut list = q.separated(", ");
                for item in chunk {
                    list.push_bind(item.device_id.clone());
                }
                q.push(") AND report_id NOT IN (");
                let mut list = q.separated(", ");
                for item in chunk {
                    list.push_bind(item.report_id.clone());
                }
                q.push(")");
                q.build().execute(&mut **tx).await?;
            }

            for chunk in plan.daily.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO daily_posture (day, device_id, posture, generated_at) ",
                );
                // `generated_at` holds the collector's receive time since reports are ordered by
                // it (migration 0010).
                q.push_values(chunk, |mut b, item| {
                    b.push_bind(item.received_day.clone())
                        .push_bind(item.device_id.clone())
                        .push_bind(item.posture.as_str())
                        .push_bind(item.received_at);
                });
                q.push(
                    " ON CONFLICT (day, device_id) DO UPDATE SET posture = excluded.posture, \
                         generated_at = excluded.generated_at \
                     WHERE excluded.generated_at >= daily_posture.generated_at",
                );
                q.build().execute(&mut **tx).await?;
            }

            Ok(plan.outcomes)
        }
    };
}

pub(crate) use impl_values_ingest;

/// Columns of a device list row, table alias `d`.
pub(crate) const SUMMARY_COLUMNS: &str = "d.id, d.hostname, d.enrolled_hostname, d.owner, \
    d.asset_state, d.os_family, d.enrolled_platform, d.os_name, d.os_version, d.posture, \
    d.noncompliant_since, d.last_seen_at, d.latest_generated_at, d.check_now_requested_at, \
    d.users, d.hw_serial, d.clock_skew_ms, d.policy_mismatch";

/// Columns an export row adds to [`SUMMARY_COLUMNS`] (or to a finding), table alias `d`: the
/// report the row comes from, and the inventory the list does not show.
pub(crate) const EXPORT_COLUMNS: &str = "d.latest_report_id, d.policy_digest, \
    COALESCE(d.report_agent_version, d.agent_version) AS export_agent_version, \
    d.latest_generated_at, d.latest_received_at, d.hw_vendor, d.hw_model";

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

/// The keyset condition of a page over a (text, text) key: ` AND (COLUMNS) > (a, b)` after the
/// last row of the previous page, nothing for the first page.
pub(crate) fn push_after_pair<DB>(
    q: &mut sqlx::QueryBuilder<DB>,
    columns: &str,
    after: Option<(&str, &str)>,
) where
    DB: sqlx::Database,
    String: for<'a> sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if let Some((first, second)) = after {
        q.push(" AND (");
        q.push(columns);
        q.push(") > (");
        q.push_bind(first.to_owned());
        q.push(", ");
        q.push_bind(second.to_owned());
        q.push(")");
    }
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
        Some("policy_mismatch") => {
            q.push(" AND d.policy_mismatch <> 0");
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
        // `validate` refused any other word before the query was built.
        if let Some(matches) = f
            .enforced
            .as_deref()
            .filter(|s| !s.is_empty())
            .and_then(crate::enforcement::filter_matches)
        {
            q.push(" AND (f.enforcement IN (");
            let mut list = q.separated(", ");
            for e in matches {
                list.push_bind(e.as_str().to_owned());
            }
            q.push(")");
            // Not derived yet (before the startup backfill finished) reads as unknown.
            if matches.contains(&crate::enforcement::Enforcement::Unknown) {
                q.push(" OR f.enforcement IS NULL");
            }
            q.push(")");
        }
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
        // Enrollment sets last_seen_at and migration 0015 filled it where it was missing, so the
        // (last_seen_at, id) index serves this range.
        q.push(" AND d.last_seen_at < ");
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
