-- Every report insert maintains each index of `reports`. Since reports are ordered by the
-- collector's receive time (0010), a device's reports are read by (device_id, received_at), and
-- no query reads them by generated_at any more: the older index only cost writes. Keep in step
-- with ../sqlite/0014_drop_reports_device_generated.sql.

DROP INDEX IF EXISTS reports_device_generated;
