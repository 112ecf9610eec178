-- The per-day compliance chart (summary, dashboard) read from maintained counts instead of a
-- join of `daily_posture` with `devices` over the whole fleet (issue 16). Keep in step with
-- ../postgres/0018_daily_posture_counts.sql.
--
-- `daily_posture_counts` (day, posture) -> n is the number of `daily_posture` rows of that day
-- and posture whose device is not retired: exactly what the chart counted with the join (lost
-- devices count, retired ones do not; a day without a row of a device counts nothing for it).
-- Triggers keep it in the same transaction as every change of `daily_posture` (ingest, prune)
-- and every retirement or return to service of a device, so no code path can forget it. Rows
-- at 0 stay until prune removes the days they count.

CREATE TABLE daily_posture_counts (
    day     TEXT NOT NULL,
    posture TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (day, posture)
);

INSERT INTO daily_posture_counts (day, posture, n)
SELECT p.day, p.posture, COUNT(*)
FROM daily_posture p JOIN devices d ON d.id = p.device_id
WHERE d.asset_state <> 'retired' GROUP BY p.day, p.posture;

-- A device's rows, for its retirement and return (the primary key leads with the day).
CREATE INDEX daily_posture_device ON daily_posture (device_id, day);

CREATE TRIGGER daily_posture_counts_insert AFTER INSERT ON daily_posture
BEGIN
    INSERT INTO daily_posture_counts (day, posture, n)
    SELECT NEW.day, NEW.posture, 1
    WHERE EXISTS (SELECT 1 FROM devices WHERE id = NEW.device_id AND asset_state <> 'retired')
    ON CONFLICT (day, posture) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER daily_posture_counts_update AFTER UPDATE OF day, posture, device_id ON daily_posture
WHEN OLD.day IS NOT NEW.day OR OLD.posture IS NOT NEW.posture OR OLD.device_id IS NOT NEW.device_id
BEGIN
    INSERT INTO daily_posture_counts (day, posture, n)
    SELECT OLD.day, OLD.posture, -1
    WHERE EXISTS (SELECT 1 FROM devices WHERE id = OLD.device_id AND asset_state <> 'retired')
    ON CONFLICT (day, posture) DO UPDATE SET n = n + excluded.n;
    INSERT INTO daily_posture_counts (day, posture, n)
    SELECT NEW.day, NEW.posture, 1
    WHERE EXISTS (SELECT 1 FROM devices WHERE id = NEW.device_id AND asset_state <> 'retired')
    ON CONFLICT (day, posture) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER daily_posture_counts_delete AFTER DELETE ON daily_posture
BEGIN
    INSERT INTO daily_posture_counts (day, posture, n)
    SELECT OLD.day, OLD.posture, -1
    WHERE EXISTS (SELECT 1 FROM devices WHERE id = OLD.device_id AND asset_state <> 'retired')
    ON CONFLICT (day, posture) DO UPDATE SET n = n + excluded.n;
END;

-- Retiring a device takes its days out of the counts; bringing it back puts them in.
CREATE TRIGGER daily_posture_counts_device_state AFTER UPDATE OF asset_state ON devices
WHEN (OLD.asset_state = 'retired') <> (NEW.asset_state = 'retired')
BEGIN
    INSERT INTO daily_posture_counts (day, posture, n)
    SELECT day, posture, CASE WHEN NEW.asset_state = 'retired' THEN -COUNT(*) ELSE COUNT(*) END
    FROM daily_posture WHERE device_id = NEW.id
    GROUP BY day, posture
    ON CONFLICT (day, posture) DO UPDATE SET n = n + excluded.n;
END;
