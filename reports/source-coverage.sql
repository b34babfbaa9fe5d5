-- source-coverage: what each source covers: documents, entities per document and the dates it spans.
-- Grain: one row per source; null is the documents whose path names no source.
with per_source as (
    select
        source,
        count(*) as n_documents,
        sum(n_tokens) as n_tokens,
        sum(n_entities) as n_entities,
        min(published_date) as first_date,
        max(published_date) as last_date,
        count(distinct published_date) as n_days
    from documents
    group by all
),

final as (
    select
        source,
        n_documents,
        round(n_entities / n_documents, 1) as entities_per_document,
        round(n_tokens / n_documents, 1) as tokens_per_document,
        first_date,
        last_date,
        n_days
    from per_source
)

select * from final
order by n_documents desc, source nulls last
