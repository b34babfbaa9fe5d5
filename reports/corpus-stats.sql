-- corpus-stats: documents, sentences, tokens and entities per source and published date.
-- Grain: one row per (source, published_date); null means the path had no source or date folder.
with per_document as (
    select source, published_date, n_chars, n_sentences, n_tokens, n_entities
    from documents
),

final as (
    select
        source,
        published_date,
        count(*) as n_documents,
        sum(n_sentences) as n_sentences,
        sum(n_tokens) as n_tokens,
        sum(n_entities) as n_entities,
        round(avg(n_tokens), 1) as avg_tokens_per_document
    from per_document
    group by all
)

select * from final
order by source nulls last, published_date nulls last
