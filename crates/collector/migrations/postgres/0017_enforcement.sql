-- Whether management enforces each check's result on each device (issue 23). Keep in step with
-- ../sqlite/0017_enforcement.sql, which explains the column and the counters. The triggers are
-- statement-level like those of 0015, take the same advisory lock before their first counter
-- change and apply one summed change per counter, in key order.

ALTER TABLE latest_findings ADD COLUMN enforcement TEXT;

INSERT INTO fleet_counts (kind, k1, k2, n)
SELECT 'enforcement', f.check_id, f.status || ':' || COALESCE(f.enforcement, 'unknown'), COUNT(*)
FROM latest_findings f JOIN devices d ON d.id = f.device_id
WHERE d.asset_state <> 'retired' GROUP BY 1, 2, 3;

CREATE FUNCTION fleet_enforcement_devices() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Retiring a device takes its findings out of the counts; bringing it back puts them in.
    INSERT INTO fleet_counts (kind, k1, k2, n)
    WITH changed AS (
        SELECT n.id, n.asset_state = 'retired' AS retired
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.asset_state = 'retired') <> (n.asset_state = 'retired')
    )
    SELECT 'enforcement', f.check_id, f.status || ':' || COALESCE(f.enforcement, 'unknown'),
        SUM(CASE WHEN c.retired THEN -1 ELSE 1 END)
    FROM changed c JOIN latest_findings f ON f.device_id = c.id
    GROUP BY 1, 2, 3 HAVING SUM(CASE WHEN c.retired THEN -1 ELSE 1 END) <> 0
        AND fleet_counts_lock()
    ORDER BY 1, 2, 3
    ON CONFLICT (kind, k1, k2) DO UPDATE SET n = fleet_counts.n + excluded.n;
    RETURN NULL;
END $$;

CREATE FUNCTION fleet_enforcement_findings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO fleet_counts (kind, k1, k2, n)
        SELECT 'enforcement', r.check_id, r.status || ':' || COALESCE(r.enforcement, 'unknown'),
            COUNT(*)
        FROM new_rows r JOIN devices d ON d.id = r.device_id WHERE d.asset_state <> 'retired'
        GROUP BY 1, 2, 3 HAVING fleet_counts_lock() ORDER BY 1, 2, 3
        ON CONFLICT (kind, k1, k2) DO UPDATE SET n = fleet_counts.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO fleet_counts (kind, k1, k2, n)
        SELECT 'enforcement', r.check_id, r.status || ':' || COALESCE(r.enforcement, 'unknown'),
            -COUNT(*)
        FROM old_rows r JOIN devices d ON d.id = r.device_id WHERE d.asset_state <> 'retired'
        GROUP BY 1, 2, 3 HAVING fleet_counts_lock() ORDER BY 1, 2, 3
        ON CONFLICT (kind, k1, k2) DO UPDATE SET n = fleet_counts.n + excluded.n;
    ELSE
        -- Rows are matched on their primary key, which nothing updates.
        INSERT INTO fleet_counts (kind, k1, k2, n)
        WITH changed AS (
            SELECT o.device_id, o.check_id,
                o.status || ':' || COALESCE(o.enforcement, 'unknown') AS old_key,
                n.status || ':' || COALESCE(n.enforcement, 'unknown') AS new_key
            FROM old_rows o JOIN new_rows n ON n.device_id = o.device_id AND n.check_id = o.check_id
        ), delta (kind, k1, k2, n) AS (
            SELECT 'enforcement', c.check_id, c.old_key, -1
            FROM changed c JOIN devices d ON d.id = c.device_id
            WHERE d.asset_state <> 'retired' AND c.old_key <> c.new_key
            UNION ALL
            SELECT 'enforcement', c.check_id, c.new_key, 1
            FROM changed c JOIN devices d ON d.id = c.device_id
            WHERE d.asset_state <> 'retired' AND c.old_key <> c.new_key
        )
        SELECT kind, k1, k2, SUM(n) FROM delta
        GROUP BY kind, k1, k2 HAVING SUM(n) <> 0 AND fleet_counts_lock() ORDER BY kind, k1, k2
        ON CONFLICT (kind, k1, k2) DO UPDATE SET n = fleet_counts.n + excluded.n;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER fleet_enforcement_device_update AFTER UPDATE ON devices
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fleet_enforcement_devices();
CREATE TRIGGER fleet_enforcement_finding_insert AFTER INSERT ON latest_findings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fleet_enforcement_findings();
CREATE TRIGGER fleet_enforcement_finding_update AFTER UPDATE ON latest_findings
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fleet_enforcement_findings();
CREATE TRIGGER fleet_enforcement_finding_delete AFTER DELETE ON latest_findings
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION fleet_enforcement_findings();

CREATE INDEX latest_findings_enforcement ON latest_findings (check_id, status, enforcement, device_id);
-- The findings still to derive at start (only rows stored before this migration are NULL), so a
-- start after the backfill finds none without reading the table.
CREATE INDEX latest_findings_underived ON latest_findings (device_id, check_id) WHERE enforcement IS NULL;
