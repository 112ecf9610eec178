-- The fleet policy: every version an administrator set, kept with when it was set. The newest is
-- the one agents fetch at check-in and reports are judged against. Keep in step with
-- ../postgres/0011_fleet_policy.sql.

CREATE TABLE policies (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    digest  TEXT NOT NULL,
    text    TEXT NOT NULL,
    set_at  INTEGER NOT NULL
);
