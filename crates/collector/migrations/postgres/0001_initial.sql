-- posture-collector schema, PostgreSQL. Times are Unix milliseconds (BIGINT); report bodies are the
-- JSON exactly as received (TEXT). Keep in step with ../sqlite/0001_initial.sql.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE devices (
    id                     TEXT PRIMARY KEY NOT NULL,
    machine_id             TEXT NOT NULL UNIQUE,
    token_sha256           TEXT UNIQUE,
    enrolled_at            BIGINT NOT NULL,
    enrolled_hostname      TEXT NOT NULL,
    enrolled_platform      TEXT NOT NULL,
    agent_version          TEXT NOT NULL,
    owner                  TEXT,
    asset_state            TEXT NOT NULL DEFAULT 'active',
    asset_state_since      BIGINT,
    asset_note             TEXT,
    last_seen_at           BIGINT,
    check_now_requested_at BIGINT,
    latest_report_id       TEXT,
    latest_generated_at    BIGINT,
    latest_received_at     BIGINT,
    posture                TEXT,
    noncompliant_since     BIGINT,
    hostname               TEXT,
    os_family              TEXT,
    os_name                TEXT,
    os_version             TEXT,
    hw_vendor              TEXT,
    hw_model               TEXT,
    hw_serial              TEXT,
    users                  TEXT
);
CREATE INDEX devices_posture ON devices (posture);
CREATE INDEX devices_last_seen ON devices (last_seen_at);

CREATE TABLE reports (
    report_id    TEXT PRIMARY KEY NOT NULL,
    device_id    TEXT NOT NULL REFERENCES devices (id),
    generated_at BIGINT NOT NULL,
    received_at  BIGINT NOT NULL,
    posture      TEXT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX reports_device_generated ON reports (device_id, generated_at);
CREATE INDEX reports_received ON reports (received_at);

CREATE TABLE latest_findings (
    device_id    TEXT NOT NULL REFERENCES devices (id),
    check_id     TEXT NOT NULL,
    report_id    TEXT NOT NULL,
    title        TEXT NOT NULL,
    clause       TEXT NOT NULL,
    status       TEXT NOT NULL,
    summary      TEXT NOT NULL,
    status_since BIGINT NOT NULL,
    PRIMARY KEY (device_id, check_id)
);
CREATE INDEX latest_findings_check ON latest_findings (check_id, status);

CREATE TABLE daily_posture (
    day          TEXT NOT NULL,
    device_id    TEXT NOT NULL REFERENCES devices (id),
    posture      TEXT NOT NULL,
    generated_at BIGINT NOT NULL,
    PRIMARY KEY (day, device_id)
);

CREATE TABLE sessions (
    id_sha256  TEXT PRIMARY KEY NOT NULL,
    csrf_token TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE login_links (
    token_sha256 TEXT PRIMARY KEY NOT NULL,
    next_path    TEXT NOT NULL,
    expires_at   BIGINT NOT NULL
);
