-- top-entities: the most mentioned entities of each type, with mention and document counts.
-- Grain: one row per (type, canonical_key); the 10 most mentioned of each type.
with surface_counts as (
    select type, canonical_key, surface, count(*) as n
    from entities
    group by all
),

counted as (
    select
        type,
        canonical_key,
        sum(n) as n_mentions,
        first(surface order by n desc, surface) as example_surface
    from surface_counts
    group by all
),

documents_per_entity as (
    select type, canonical_key, count(distinct doc_id) as n_documents
    from entities
    group by all
),

ranked as (
    select
        counted.*,
        documents_per_entity.n_documents,
        row_number() over (
            partition by counted.type
            order by n_mentions desc, n_documents desc, counted.canonical_key
        ) as rank_in_type
    from counted
    join documents_per_entity using (type, canonical_key)
),

final as (
    select type, rank_in_type, canonical_key, example_surface, n_mentions, n_documents
    from ranked
    where rank_in_type <= 10
)

select * from final
order by type, rank_in_type
