-- The per-day compliance chart read from maintained counts (issue 16). Keep in step with
-- ../sqlite/0018_daily_posture_counts.sql, which explains the table.
--
-- As for `fleet_counts` (0015): statement-level triggers read the statement's transition tables
-- and apply one summed change per counter, in key order, after taking the same
-- transaction-level advisory lock (`fleet_counts_lock`), so that concurrent writers queue for
-- the counters instead of locking counter rows in different orders.

CREATE TABLE daily_posture_counts (
    day     TEXT NOT NULL,
    posture TEXT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (day, posture)
);

INSERT INTO daily_posture_counts (day, posture, n)
SELECT p.day, p.posture, COUNT(*)
FROM daily_posture p JOIN devices d ON d.id = p.device_id
WHERE d.asset_state <> 'retired' GROUP BY p.day, p.posture;

CREATE INDEX daily_posture_device ON daily_posture (device_id, day);

CREATE FUNCTION daily_posture_counts_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO daily_posture_counts (day, posture, n)
        SELECT r.day, r.posture, COUNT(*)
        FROM new_rows r JOIN devices d ON d.id = r.device_id WHERE d.asset_state <> 'retired'
        GROUP BY 1, 2 HAVING fleet_counts_lock() ORDER BY 1, 2
        ON CONFLICT (day, posture) DO UPDATE SET n = daily_posture_counts.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO daily_posture_counts (day, posture, n)
        SELECT r.day, r.posture, -COUNT(*)
        FROM old_rows r JOIN devices d ON d.id = r.device_id WHERE d.asset_state <> 'retired'
        GROUP BY 1, 2 HAVING fleet_counts_lock() ORDER BY 1, 2
        ON CONFLICT (day, posture) DO UPDATE SET n = daily_posture_counts.n + excluded.n;
    ELSE
        -- Rows are matched on their primary key, which nothing updates.
        INSERT INTO daily_posture_counts (day, posture, n)
        WITH changed AS (
            SELECT o.day, o.device_id, o.posture AS old_posture, n.posture AS new_posture
            FROM old_rows o JOIN new_rows n ON n.day = o.day AND n.device_id = o.device_id
            WHERE o.posture <> n.posture
        ), delta (day, posture, n) AS (
            SELECT c.day, c.old_posture, -1
            FROM changed c JOIN devices d ON d.id = c.device_id WHERE d.asset_state <> 'retired'
            UNION ALL
            SELECT c.day, c.new_posture, 1
            FROM changed c JOIN devices d ON d.id = c.device_id WHERE d.asset_state <> 'retired'
        )
        SELECT day, posture, SUM(n) FROM delta
        GROUP BY day, posture HAVING SUM(n) <> 0 AND fleet_counts_lock() ORDER BY day, posture
        ON CONFLICT (day, posture) DO UPDATE SET n = daily_posture_counts.n + excluded.n;
    END IF;
    RETURN NULL;
END $$;

-- Retiring a device takes its days out of the counts; bringing it back puts them in.
CREATE FUNCTION daily_posture_counts_devices() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO daily_posture_counts (day, posture, n)
    WITH changed AS (
        SELECT o.id, n.asset_state = 'retired' AS retired
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.asset_state = 'retired') <> (n.asset_state = 'retired')
    )
    SELECT p.day, p.posture, SUM(CASE WHEN c.retired THEN -1 ELSE 1 END)
    FROM changed c JOIN daily_posture p ON p.device_id = c.id
    GROUP BY p.day, p.posture
    HAVING SUM(CASE WHEN c.retired THEN -1 ELSE 1 END) <> 0 AND fleet_counts_lock()
    ORDER BY p.day, p.posture
    ON CONFLICT (day, posture) DO UPDATE SET n = daily_posture_counts.n + excluded.n;
    RETURN NULL;
END $$;

CREATE TRIGGER daily_posture_counts_insert AFTER INSERT ON daily_posture
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION daily_posture_counts_rows();
CREATE TRIGGER daily_posture_counts_update AFTER UPDATE ON daily_posture
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION daily_posture_counts_rows();
CREATE TRIGGER daily_posture_counts_delete AFTER DELETE ON daily_posture
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION daily_posture_counts_rows();
CREATE TRIGGER daily_posture_counts_device_state AFTER UPDATE ON devices
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION daily_posture_counts_devices();
