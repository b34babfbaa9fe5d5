-- cooccurrence: pairs of entities mentioned in the same document, by number of shared documents.
-- Grain: one row per unordered pair of entities (type, canonical_key); the 5 x `top` (default 50) most frequent pairs.
with doc_entities as (
    select distinct doc_id, type, canonical_key
    from entities
),

pairs as (
    select
        a.type as type_a,
        a.canonical_key as key_a,
        b.type as type_b,
        b.canonical_key as key_b,
        a.doc_id
    from doc_entities as a
    join doc_entities as b
        on a.doc_id = b.doc_id
        and (a.type < b.type or (a.type = b.type and a.canonical_key < b.canonical_key))
),

counted as (
    select type_a, key_a, type_b, key_b, count(*) as n_documents
    from pairs
    group by all
    order by n_documents desc, type_a, key_a, type_b, key_b
    limit 5 * coalesce(getvariable('top'), 10)
),

final as (
    select
        counted.type_a,
        name_a.name as name_a,
        counted.type_b,
        name_b.name as name_b,
        counted.n_documents,
        counted.key_a,
        counted.key_b
    from counted
    join entity_names as name_a on name_a.type = counted.type_a and name_a.canonical_key = counted.key_a
    join entity_names as name_b on name_b.type = counted.type_b and name_b.canonical_key = counted.key_b
)

select * from final
order by n_documents desc, type_a, key_a, type_b, key_b
