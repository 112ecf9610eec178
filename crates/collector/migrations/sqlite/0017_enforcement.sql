-- Whether management enforces each check's result on each device (issue 23). Keep in step with
-- ../postgres/0017_enforcement.sql.
--
-- * `latest_findings.enforcement`: `enforced`, `not_enforced`, `partly`, `unknown` or
--   `not_applicable`, derived by the collector from the report's per-setting results at ingest
--   (src/enforcement.rs has the rule). NULL means not derived yet: rows stored before this
--   migration, which the collector derives again from their stored report when it starts
--   (`store::backfill_enforcement`), before it serves.
-- * `fleet_counts` rows ('enforcement', check id, 'STATUS:ENFORCEMENT') per finding of a device
--   in service, a NULL enforcement counted as `unknown`, so that the summary reads "compliant,
--   62% enforced" from counters: they sum, per check and status, to the ('check', ...) rows.
--   Kept by the triggers below, next to the 0015 ones, in the same transaction as every change.
-- * an index for the device list's `?check=…&enforced=…` filter.

ALTER TABLE latest_findings ADD COLUMN enforcement TEXT;

INSERT INTO fleet_counts (kind, k1, k2, n)
SELECT 'enforcement', f.check_id, f.status || ':' || COALESCE(f.enforcement, 'unknown'), COUNT(*)
FROM latest_findings f JOIN devices d ON d.id = f.device_id
WHERE d.asset_state <> 'retired' GROUP BY 1, 2, 3;

CREATE TRIGGER fleet_enforcement_device_update AFTER UPDATE OF asset_state ON devices
WHEN (OLD.asset_state = 'retired') <> (NEW.asset_state = 'retired')
BEGIN
    INSERT INTO fleet_counts (kind, k1, k2, n)
    SELECT 'enforcement', check_id, status || ':' || COALESCE(enforcement, 'unknown'),
        CASE WHEN NEW.asset_state = 'retired' THEN -COUNT(*) ELSE COUNT(*) END
    FROM latest_findings WHERE device_id = NEW.id
    GROUP BY 1, 2, 3
    ON CONFLICT (kind, k1, k2) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER fleet_enforcement_finding_insert AFTER INSERT ON latest_findings
BEGIN
    INSERT INTO fleet_counts (kind, k1, k2, n)
    SELECT 'enforcement', NEW.check_id, NEW.status || ':' || COALESCE(NEW.enforcement, 'unknown'), 1
    WHERE EXISTS (SELECT 1 FROM devices WHERE id = NEW.device_id AND asset_state <> 'retired')
    ON CONFLICT (kind, k1, k2) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER fleet_enforcement_finding_update
AFTER UPDATE OF status, check_id, device_id, enforcement ON latest_findings
WHEN OLD.status IS NOT NEW.status OR OLD.check_id IS NOT NEW.check_id
    OR OLD.device_id IS NOT NEW.device_id
    OR COALESCE(OLD.enforcement, 'unknown') IS NOT COALESCE(NEW.enforcement, 'unknown')
BEGIN
    INSERT INTO fleet_counts (kind, k1, k2, n)
    SELECT 'enforcement', OLD.check_id, OLD.status || ':' || COALESCE(OLD.enforcement, 'unknown'), -1
    WHERE EXISTS (SELECT 1 FROM devices WHERE id = OLD.device_id AND asset_state <> 'retired')
    ON CONFLICT (kind, k1, k2) DO UPDATE SET n = n + excluded.n;
    INSERT INTO fleet_counts (kind, k1, k2, n)
    SELECT 'enforcement', NEW.check_id, NEW.status || ':' || COALESCE(NEW.enforcement, 'unknown'), 1
    WHERE EXISTS (SELECT 1 FROM devices WHERE id = NEW.device_id AND asset_state <> 'retired')
    ON CONFLICT (kind, k1, k2) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER fleet_enforcement_finding_delete AFTER DELETE ON latest_findings
BEGIN
    INSERT INTO fleet_counts (kind, k1, k2, n)
    SELECT 'enforcement', OLD.check_id, OLD.status || ':' || COALESCE(OLD.enforcement, 'unknown'), -1
    WHERE EXISTS (SELECT 1 FROM devices WHERE id = OLD.device_id AND asset_state <> 'retired')
    ON CONFLICT (kind, k1, k2) DO UPDATE SET n = n + excluded.n;
END;

-- `?check=X&check_status=S&enforced=…`: the devices whose finding for X has status S and one of
-- the matched enforcement values, read from the index.
CREATE INDEX latest_findings_enforcement ON latest_findings (check_id, status, enforcement, device_id);
-- The findings still to derive at start (only rows stored before this migration are NULL), so a
-- start after the backfill finds none without reading the table.
CREATE INDEX latest_findings_underived ON latest_findings (device_id, check_id) WHERE enforcement IS NULL;
