-- Current fleet state that reads can use without looking at every device (issue 16). Keep in
-- step with ../postgres/0015_fleet_state.sql.
--
-- `devices` (one row per device: posture, since when, last seen, OS, owner, asset state) and
-- `latest_findings` (one row per device and check: status, since when, report id) are the
-- current state; the ingest transaction writes both. This migration adds:
--
-- * `fleet_counts`: the counts that the summary, the dashboard cards and /metrics show,
--   maintained by triggers in the same transaction as every change of `devices` or
--   `latest_findings` (ingest, asset state, policy change, prune), so no code path can forget
--   them. Kinds: ('posture', posture or 'never', '') per device in service (not retired) and
--   ('check', check id, status) per finding of a device in service. Rows at 0 stay.
-- * `devices.policy_digest`: the policy digest of the device's latest report, so a fleet
--   policy change can recompute `policy_mismatch` and the posture at once.
-- * indexes that serve each filter and sort of the device list with keyset pagination.

ALTER TABLE devices ADD COLUMN policy_digest TEXT;
UPDATE devices SET policy_digest = (
    SELECT json_extract(r.body, '$.policy.digest') FROM reports r
    WHERE r.report_id = devices.latest_report_id AND json_valid(r.body)
) WHERE latest_report_id IS NOT NULL;

-- Enrollment always set it; a NULL would fall out of keyset pages.
UPDATE devices SET last_seen_at = enrolled_at WHERE last_seen_at IS NULL;

CREATE TABLE fleet_counts (
    kind TEXT NOT NULL,
    k1   TEXT NOT NULL,
    k2   TEXT NOT NULL,
    n    INTEGER NOT NULL,
    PRIMARY KEY (kind, k1, k2)
);

INSERT INTO fleet_counts (kind, k1, k2, n)
SELECT 'posture', COALESCE(posture, 'never'), '', COUNT(*) FROM devices
WHERE asset_state <> 'retired' GROUP BY COALESCE(posture, 'never');

INSERT INTO fleet_counts (kind, k1, k2, n)
SELECT 'check', f.check_id, f.status, COUNT(*)
FROM latest_findings f JOIN devices d ON d.id = f.device_id
WHERE d.asset_state <> 'retired' GROUP BY f.check_id, f.status;

CREATE TRIGGER fleet_counts_device_insert AFTER INSERT ON devices
WHEN NEW.asset_state <> 'retired'
BEGIN
    INSERT INTO fleet_counts (kind, k1, k2, n) VALUES ('posture', COALESCE(NEW.posture, 'never'), '', 1)
    ON CONFLICT (kind, k1, k2) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER fleet_counts_device_update AFTER UPDATE OF posture, asset_state ON devices
WHEN OLD.posture IS NOT NEW.posture OR OLD.asset_state IS NOT NEW.asset_state
BEGIN
    INSERT INTO fleet_counts (kind, k1, k2, n)
    SELECT 'posture', COALESCE(OLD.posture, 'never'), '', -1 WHERE OLD.asset_state <> 'retired'
    ON CONFLICT (kind, k1, k2) DO UPDATE SET n = n + excluded.n;
    INSERT INTO fleet_counts (kind, k1, k2, n)
    SELECT 'posture', COALESCE(NEW.posture, 'never'), '', 1 WHERE NEW.asset_state <> 'retired'
    ON CONFLICT (kind, k1, k2) DO UPDATE SET n = n + excluded.n;
    -- Retiring a device takes its findings out of the counts; bringing it back puts them in.
    INSERT INTO fleet_counts (kind, k1, k2, n)
    SELECT 'check', check_id, status, CASE WHEN NEW.asset_state = 'retired' THEN -COUNT(*) ELSE COUNT(*) END
    FROM latest_findings
    WHERE device_id = NEW.id AND (OLD.asset_state = 'retired') <> (NEW.asset_state = 'retired')
    GROUP BY check_id, status
    ON CONFLICT (kind, k1, k2) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER fleet_counts_device_delete AFTER DELETE ON devices
WHEN OLD.asset_state <> 'retired'
BEGIN
    INSERT INTO fleet_counts (kind, k1, k2, n) VALUES ('posture', COALESCE(OLD.posture, 'never'), '', -1)
    ON CONFLICT (kind, k1, k2) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER fleet_counts_finding_insert AFTER INSERT ON latest_findings
BEGIN
    INSERT INTO fleet_counts (kind, k1, k2, n)
    SELECT 'check', NEW.check_id, NEW.status, 1
    WHERE EXISTS (SELECT 1 FROM devices WHERE id = NEW.device_id AND asset_state <> 'retired')
    ON CONFLICT (kind, k1, k2) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER fleet_counts_finding_update AFTER UPDATE OF status, check_id, device_id ON latest_findings
WHEN OLD.status IS NOT NEW.status OR OLD.check_id IS NOT NEW.check_id OR OLD.device_id IS NOT NEW.device_id
BEGIN
    INSERT INTO fleet_counts (kind, k1, k2, n)
    SELECT 'check', OLD.check_id, OLD.status, -1
    WHERE EXISTS (SELECT 1 FROM devices WHERE id = OLD.device_id AND asset_state <> 'retired')
    ON CONFLICT (kind, k1, k2) DO UPDATE SET n = n + excluded.n;
    INSERT INTO fleet_counts (kind, k1, k2, n)
    SELECT 'check', NEW.check_id, NEW.status, 1
    WHERE EXISTS (SELECT 1 FROM devices WHERE id = NEW.device_id AND asset_state <> 'retired')
    ON CONFLICT (kind, k1, k2) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER fleet_counts_finding_delete AFTER DELETE ON latest_findings
BEGIN
    INSERT INTO fleet_counts (kind, k1, k2, n)
    SELECT 'check', OLD.check_id, OLD.status, -1
    WHERE EXISTS (SELECT 1 FROM devices WHERE id = OLD.device_id AND asset_state <> 'retired')
    ON CONFLICT (kind, k1, k2) DO UPDATE SET n = n + excluded.n;
END;

-- The device list: most recently seen first, then by id (the keyset), under each filter.
DROP INDEX IF EXISTS devices_last_seen;
DROP INDEX IF EXISTS devices_posture;
CREATE INDEX devices_seen ON devices (last_seen_at, id);
CREATE INDEX devices_posture_seen ON devices (posture, last_seen_at, id);
CREATE INDEX devices_state_seen ON devices (asset_state, last_seen_at, id);
CREATE INDEX devices_os_seen ON devices (COALESCE(os_family, enrolled_platform), last_seen_at, id);
-- Substring searches (owner, host name) scan these small indexes instead of the table.
CREATE INDEX devices_owner ON devices (lower(owner), last_seen_at, id);
CREATE INDEX devices_hostname ON devices (lower(COALESCE(hostname, enrolled_hostname)), last_seen_at, id);
-- Titles for the per-check counts, read from the index without the findings.
DROP INDEX IF EXISTS latest_findings_check;
CREATE INDEX latest_findings_check ON latest_findings (check_id, status, title);
