-- Reports are stored as check-ins plus content-addressed parts (src/store/content.rs), so that an
-- unchanged report costs one small record instead of another copy of its body, and retention
-- deletes one row per device and day instead of one per report. Keep in step with
-- ../postgres/0016_checkins.sql.
--
-- Reports stored before this migration stay in `reports` and are read from there until
-- retention removes them; new reports are no longer written to it.

-- Pieces of report bodies, each stored once (zstd) under the SHA-256 of its kind and bytes: a
-- skeleton (the body around the holes) or one element of `checks`. `last_day` is the newest UTC
-- day (days since 1970-01-01) of a check-in that uses the part; retention deletes parts whose
-- last day is past. Ids are never reused (AUTOINCREMENT), so a stale id can never name another
-- part.
CREATE TABLE report_parts (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    digest    BLOB NOT NULL UNIQUE,
    data      BLOB NOT NULL,
    raw_bytes INTEGER NOT NULL,
    check_id  TEXT,
    status    TEXT,
    last_day  INTEGER NOT NULL
);
CREATE INDEX report_parts_last_day ON report_parts (last_day);

-- One row per device and UTC day of receipt: that day's check-in records, appended at ingest
-- (report id, times, posture, part ids; about 50 bytes each). `records` counts them.
CREATE TABLE checkin_blocks (
    device_id TEXT NOT NULL REFERENCES devices (id),
    day       INTEGER NOT NULL,
    records   INTEGER NOT NULL,
    data      BLOB NOT NULL,
    PRIMARY KEY (device_id, day)
);
CREATE INDEX checkin_blocks_day ON checkin_blocks (day, device_id);

-- Report ids received in the last days, with their device: a resent report is recognised as a
-- duplicate, and another device's id refused, with one indexed lookup.
CREATE TABLE recent_report_ids (
    report_id   TEXT PRIMARY KEY NOT NULL,
    device_id   TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX recent_report_ids_received ON recent_report_ids (received_at);

-- Daily roll-ups, kept beyond raw retention: per UTC day, the devices whose last report of the
-- day had each posture, and each status of each check.
CREATE TABLE rollup_days (
    day     INTEGER PRIMARY KEY NOT NULL,
    devices INTEGER NOT NULL
);
CREATE TABLE daily_posture_rollups (
    day     TEXT NOT NULL,
    posture TEXT NOT NULL,
    devices INTEGER NOT NULL,
    PRIMARY KEY (day, posture)
);
CREATE TABLE daily_check_rollups (
    day      TEXT NOT NULL,
    check_id TEXT NOT NULL,
    status   TEXT NOT NULL,
    devices  INTEGER NOT NULL,
    PRIMARY KEY (day, check_id, status)
);

-- Pruning the legacy `reports` table keeps each device's latest report; without this index that
-- test scanned every device for every report.
CREATE INDEX devices_latest_report ON devices (latest_report_id);
