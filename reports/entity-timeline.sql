-- entity-timeline: mentions per published date of the most mentioned entities.
-- Grain: one row per (published_date, type, canonical_key) of the `top` (default 10) entities; documents without a date are left out.
with top_entities as (
    select type, canonical_key
    from entities
    group by all
    order by count(*) desc, type, canonical_key
    limit coalesce(getvariable('top'), 10)
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

select final.published_date, final.type, entity_names.name, n_mentions, n_documents, final.canonical_key
from final
join entity_names using (type, canonical_key)
order by published_date, n_mentions desc, type, canonical_key
