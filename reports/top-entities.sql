-- top-entities: the most mentioned entities of each type, with mention and document counts.
-- Grain: one row per (type, canonical_key); the `top` (default 10) most mentioned of each type.
with counted as (
    select
        type,
        canonical_key,
        count(*) as n_mentions,
        count(distinct doc_id) as n_documents
    from entities
    group by all
),

ranked as (
    select
        counted.*,
        row_number() over (
            partition by type
            order by n_mentions desc, n_documents desc, canonical_key
        ) as rank_in_type
    from counted
),

final as (
    select ranked.type, rank_in_type, entity_names.name, n_mentions, n_documents, ranked.canonical_key
    from ranked
    join entity_names using (type, canonical_key)
    where rank_in_type <= coalesce(getvariable('top'), 10)
)

select * from final
order by type, rank_in_type
