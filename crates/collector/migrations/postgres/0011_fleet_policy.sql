-- The fleet policy: every version an administrator set, kept with when it was set. The newest is
-- the one agents fetch at check-in and reports are judged against. Keep in step with
-- ../sqlite/0011_fleet_policy.sql.

CREATE TABLE policies (
    version BIGSERIAL PRIMARY KEY,
    digest  TEXT NOT NULL,
    text    TEXT NOT NULL,
    set_at  BIGINT NOT NULL
);
