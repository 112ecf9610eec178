-- The collector judges reports itself and orders them by its own clock. Keep in step with
-- ../postgres/0010_collector_judges.sql.
--
-- daily_posture.generated_at now holds the collector's receive time of the report that set the
-- row (the column keeps its name so that existing rows stay comparable).

ALTER TABLE devices ADD COLUMN clock_skew_ms INTEGER;
ALTER TABLE devices ADD COLUMN policy_mismatch INTEGER NOT NULL DEFAULT 0;

CREATE INDEX reports_device_received ON reports (device_id, received_at);

-- Identity changes seen in reports (never applied silently), re-enrollments and approvals.
CREATE TABLE device_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL REFERENCES devices (id),
    at        INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT,
    report_id TEXT
);
CREATE INDEX device_events_device ON device_events (device_id, at);
-- The same identity change reported again is the same event.
CREATE UNIQUE INDEX device_events_once ON device_events (device_id, kind, old_value, new_value);
