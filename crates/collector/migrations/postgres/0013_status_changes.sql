-- Live posture: reports say why they were made (a watched change or a check-now request, with
-- when the agent noticed it), and each latest finding keeps when and why its status last changed.
-- Keep in step with ../sqlite/0013_status_changes.sql.
--
-- Times named *_agent_clock come from the agent and are only shown; the collector orders
-- everything by its own receive time. latest_findings.status_since is the "changed at" time: the
-- receive time of the first report with the current status.

ALTER TABLE reports ADD COLUMN trigger_kind TEXT;
ALTER TABLE reports ADD COLUMN trigger_cause TEXT;
ALTER TABLE reports ADD COLUMN trigger_detected_at_agent_clock BIGINT;

ALTER TABLE latest_findings ADD COLUMN changed_by_report TEXT;
ALTER TABLE latest_findings ADD COLUMN change_trigger TEXT;
ALTER TABLE latest_findings ADD COLUMN change_cause TEXT;
ALTER TABLE latest_findings ADD COLUMN change_detected_at_agent_clock BIGINT;
