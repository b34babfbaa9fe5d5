-- problem-files: files the last run quarantined or could not process, with the reasons.
-- Grain: one row per path in the raw folder whose status is quarantined or failed as of the last run.
with last_run as (
    select run_id
    from runs
    order by started_at desc
    limit 1
),

final as (
    select files.path, files.status, files.reason, files.detail, files.size_bytes
    from files
    join last_run on files.last_seen_run_id = last_run.run_id
    where files.status in ('quarantined', 'failed')
)

select * from final
order by status, reason, path
