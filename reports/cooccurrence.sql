-- cooccurrence: pairs of entities mentioned in the same document, by number of shared documents.
-- Grain: one row per unordered pair of entities (type, canonical_key); the 50 most frequent pairs.
with doc_entities as (
    select distinct doc_id, type, canonical_key
    from entities
),

pairs as (
    select
        a.type as type_a,
        a.canonical_key as entity_a,
        b.type as type_b,
        b.canonical_key as entity_b,
        a.doc_id
    from doc_entities as a
    join doc_entities as b
        on a.doc_id = b.doc_id
        and (a.type < b.type or (a.type = b.type and a.canonical_key < b.canonical_key))
),

final as (
    select type_a, entity_a, type_b, entity_b, count(*) as n_documents
    from pairs
    group by all
)

select * from final
order by n_documents desc, type_a, entity_a, type_b, entity_b
limit 50
