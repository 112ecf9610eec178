-- Exports (docs/collector-api.md, "Exports"). Keep in step with ../postgres/0019_export_cursor.sql.
--
-- * `devices.report_agent_version`: the agent version the device's latest report names, written
--   with the policy digest after each ingest (src/store/state.rs). `devices.agent_version` is the
--   version given at enrollment and goes stale when an agent is upgraded in place. NULL until
--   the device's next report; exports show the enrollment's version meanwhile.
-- * `devices_received`: the OCSF export's `since` cursor reads devices in the order the
--   collector received their latest reports, then by id, from a point on.
ALTER TABLE devices ADD COLUMN report_agent_version TEXT;
CREATE INDEX devices_received ON devices (latest_received_at, id);
