-- Enrollment cannot take a device over: re-enrolling a known machine needs its current token, a
-- one-time code an administrator issued for it, or an administrator's approval (the new token
-- waits in pending_token_sha256 until then). Keep in step with ../postgres/0012_enrollment.sql.

ALTER TABLE devices ADD COLUMN pending_token_sha256 TEXT;
ALTER TABLE devices ADD COLUMN pending_since INTEGER;
ALTER TABLE devices ADD COLUMN pending_hostname TEXT;

-- One-time enrollment codes: a code for a new machine (device_id NULL) or for re-enrolling one
-- device. Only the SHA-256 of a code is stored.
CREATE TABLE enroll_codes (
    code_sha256 TEXT PRIMARY KEY NOT NULL,
    device_id   TEXT REFERENCES devices (id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
