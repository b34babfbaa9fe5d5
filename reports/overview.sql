-- overview: the corpus in one row (documents, sources, dates, entities) and the last run.
-- Grain: one row; the last_run columns are null before the first run.
with corpus as (
    select
        count(*) as n_documents,
        count(distinct source) as n_sources,
        min(published_date) as first_date,
        max(published_date) as last_date,
        coalesce(sum(n_tokens), 0) as n_tokens
    from documents
),

mentions as (
    select count(*) as n_entities, count(distinct (type, canonical_key)) as n_distinct_entities
    from entities
),

last_run as (
    select run_id, kind, started_at, duration_s, status, docs_new, docs_failed, files_quarantined, fingerprint
    from runs
    order by started_at desc
    limit 1
),

final as (
    select
        corpus.*,
        mentions.*,
        last_run.run_id as last_run_id,
        last_run.kind as last_run_kind,
        last_run.started_at as last_run_started_at,
        last_run.duration_s as last_run_duration_s,
        last_run.status as last_run_status,
        last_run.docs_new as last_run_docs_new,
        last_run.docs_failed as last_run_docs_failed,
        last_run.files_quarantined as last_run_files_quarantined,
        last_run.fingerprint as last_run_fingerprint
    from corpus
    cross join mentions
    left join last_run on true
)

select * from final
