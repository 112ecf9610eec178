-- Current fleet state that reads can use without looking at every device (issue 16). Keep in
-- step with ../sqlite/0015_fleet_state.sql, which explains the tables.
--
-- The counters are maintained by statement-level triggers that read the statement's transition
-- tables and apply one summed change per counter, in key order. A transaction that changes a
-- counter first takes one transaction-level advisory lock: concurrent ingest batches then queue
-- for the counters (from their first count change to their commit) instead of locking counter
-- rows in different orders and deadlocking.

ALTER TABLE devices ADD COLUMN policy_digest TEXT;
-- Read with a pattern, not as json: PostgreSQL's JSON functions refuse a whole document that has
-- a \u0000 escape anywhere, which a stored report body may have. A digest never holds a quote
-- or a backslash; a body where it is not found leaves NULL (a policy mismatch until the device
-- reports again).
UPDATE devices SET policy_digest = substring(r.body from '"policy"\s*:\s*\{.*?"digest"\s*:\s*"([^"\\]*)"')
FROM reports r WHERE r.report_id = devices.latest_report_id;

UPDATE devices SET last_seen_at = enrolled_at WHERE last_seen_at IS NULL;

CREATE TABLE fleet_counts (
    kind TEXT NOT NULL,
    k1   TEXT NOT NULL,
    k2   TEXT NOT NULL,
    n    BIGINT NOT NULL,
    PRIMARY KEY (kind, k1, k2)
);

INSERT INTO fleet_counts (kind, k1, k2, n)
SELECT 'posture', COALESCE(posture, 'never'), '', COUNT(*) FROM devices
WHERE asset_state <> 'retired' GROUP BY COALESCE(posture, 'never');

INSERT INTO fleet_counts (kind, k1, k2, n)
SELECT 'check', f.check_id, f.status, COUNT(*)
FROM latest_findings f JOIN devices d ON d.id = f.device_id
WHERE d.asset_state <> 'retired' GROUP BY f.check_id, f.status;

-- Taken before a transaction changes its first counter (from a HAVING clause, so only when a
-- statement changes a count); held until the commit.
CREATE FUNCTION fleet_counts_lock() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1600015);
    RETURN true;
END $$;

CREATE FUNCTION fleet_counts_devices() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO fleet_counts (kind, k1, k2, n)
        SELECT 'posture', COALESCE(posture, 'never'), '', COUNT(*)
        FROM new_rows WHERE asset_state <> 'retired'
        GROUP BY 1, 2, 3 HAVING fleet_counts_lock() ORDER BY 1, 2, 3
        ON CONFLICT (kind, k1, k2) DO UPDATE SET n = fleet_counts.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO fleet_counts (kind, k1, k2, n)
        SELECT 'posture', COALESCE(posture, 'never'), '', -COUNT(*)
        FROM old_rows WHERE asset_state <> 'retired'
        GROUP BY 1, 2, 3 HAVING fleet_counts_lock() ORDER BY 1, 2, 3
        ON CONFLICT (kind, k1, k2) DO UPDATE SET n = fleet_counts.n + excluded.n;
    ELSE
        INSERT INTO fleet_counts (kind, k1, k2, n)
        WITH changed AS (
            SELECT o.id, o.posture AS old_posture, o.asset_state AS old_state,
                   n.posture AS new_posture, n.asset_state AS new_state
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE o.posture IS DISTINCT FROM n.posture OR o.asset_state <> n.asset_state
        ), delta (kind, k1, k2, n) AS (
            SELECT 'posture', COALESCE(old_posture, 'never'), '', -1
            FROM changed WHERE old_state <> 'retired'
            UNION ALL
            SELECT 'posture', COALESCE(new_posture, 'never'), '', 1
            FROM changed WHERE new_state <> 'retired'
            UNION ALL
            -- Retiring a device takes its findings out of the counts; bringing it back puts
            -- them in.
            SELECT 'check', f.check_id, f.status, CASE WHEN c.new_state = 'retired' THEN -1 ELSE 1 END
            FROM changed c JOIN latest_findings f ON f.device_id = c.id
            WHERE (c.old_state = 'retired') <> (c.new_state = 'retired')
        )
        SELECT kind, k1, k2, SUM(n) FROM delta
        GROUP BY kind, k1, k2 HAVING SUM(n) <> 0 AND fleet_counts_lock() ORDER BY kind, k1, k2
        ON CONFLICT (kind, k1, k2) DO UPDATE SET n = fleet_counts.n + excluded.n;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION fleet_counts_findings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO fleet_counts (kind, k1, k2, n)
        SELECT 'check', r.check_id, r.status, COUNT(*)
        FROM new_rows r JOIN devices d ON d.id = r.device_id WHERE d.asset_state <> 'retired'
        GROUP BY 1, 2, 3 HAVING fleet_counts_lock() ORDER BY 1, 2, 3
        ON CONFLICT (kind, k1, k2) DO UPDATE SET n = fleet_counts.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO fleet_counts (kind, k1, k2, n)
        SELECT 'check', r.check_id, r.status, -COUNT(*)
        FROM old_rows r JOIN devices d ON d.id = r.device_id WHERE d.asset_state <> 'retired'
        GROUP BY 1, 2, 3 HAVING fleet_counts_lock() ORDER BY 1, 2, 3
        ON CONFLICT (kind, k1, k2) DO UPDATE SET n = fleet_counts.n + excluded.n;
    ELSE
        -- Rows are matched on their primary key, which nothing updates.
        INSERT INTO fleet_counts (kind, k1, k2, n)
        WITH changed AS (
            SELECT o.device_id, o.check_id, o.status AS old_status, n.status AS new_status
            FROM old_rows o JOIN new_rows n ON n.device_id = o.device_id AND n.check_id = o.check_id
            WHERE o.status IS DISTINCT FROM n.status
        ), delta (kind, k1, k2, n) AS (
            SELECT 'check', c.check_id, c.old_status, -1
            FROM changed c JOIN devices d ON d.id = c.device_id WHERE d.asset_state <> 'retired'
            UNION ALL
            SELECT 'check', c.check_id, c.new_status, 1
            FROM changed c JOIN devices d ON d.id = c.device_id WHERE d.asset_state <> 'retired'
        )
        SELECT kind, k1, k2, SUM(n) FROM delta
        GROUP BY kind, k1, k2 HAVING SUM(n) <> 0 AND fleet_counts_lock() ORDER BY kind, k1, k2
        ON CONFLICT (kind, k1, k2) DO UPDATE SET n = fleet_counts.n + excluded.n;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER fleet_counts_device_insert AFTER INSERT ON devices
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fleet_counts_devices();
CREATE TRIGGER fleet_counts_device_update AFTER UPDATE ON devices
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fleet_counts_devices();
CREATE TRIGGER fleet_counts_device_delete AFTER DELETE ON devices
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION fleet_counts_devices();
CREATE TRIGGER fleet_counts_finding_insert AFTER INSERT ON latest_findings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fleet_counts_findings();
CREATE TRIGGER fleet_counts_finding_update AFTER UPDATE ON latest_findings
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fleet_counts_findings();
CREATE TRIGGER fleet_counts_finding_delete AFTER DELETE ON latest_findings
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION fleet_counts_findings();

DROP INDEX IF EXISTS devices_last_seen;
DROP INDEX IF EXISTS devices_posture;
CREATE INDEX devices_seen ON devices (last_seen_at, id);
CREATE INDEX devices_posture_seen ON devices (posture, last_seen_at, id);
CREATE INDEX devices_state_seen ON devices (asset_state, last_seen_at, id);
CREATE INDEX devices_os_seen ON devices ((COALESCE(os_family, enrolled_platform)), last_seen_at, id);
CREATE INDEX devices_owner ON devices ((lower(owner)), last_seen_at, id);
CREATE INDEX devices_hostname ON devices ((lower(COALESCE(hostname, enrolled_hostname))), last_seen_at, id);
DROP INDEX IF EXISTS latest_findings_check;
CREATE INDEX latest_findings_check ON latest_findings (check_id, status, title);
