-- entity-timeline: mentions per published date of the 10 most mentioned entities.
-- Grain: one row per (published_date, type, canonical_key); documents without a date are left out.
with top_entities as (
    select type, canonical_key
    from entities
    group by all
    order by count(*) desc, type, canonical_key
    limit 10
),

dated_mentions as (
    select documents.published_date, entities.type, entities.canonical_key, entities.doc_id
    from entities
    join top_entities using (type, canonical_key)
    join documents using (doc_id)
    where documents.published_date is not null
),

final as (
    select
        published_date,
        type,
        canonical_key,
        count(*) as n_mentions,
        count(distinct doc_id) as n_documents
    from dated_mentions
    group by all
)

select * from final
order by published_date, n_mentions desc, type, canonical_key
