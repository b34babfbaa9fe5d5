import pyarrow as pa
import pytest

from schemas import DOCUMENT_TABLES, TABLES


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_table_declares_name_grain_and_column_docs(name):
    schema = TABLES[name]
    assert schema.metadata[b"table"].decode() == name
    assert schema.metadata[b"grain"]
    for field in schema:
        assert field.metadata and field.metadata[b"doc"], f"{name}.{field.name} has no description"


@pytest.mark.parametrize("name", DOCUMENT_TABLES)
def test_document_tables_are_keyed_by_doc_id(name):
    field = TABLES[name].field("doc_id")
    assert field.type == pa.string() and not field.nullable


def test_timestamps_are_utc():
    for schema in TABLES.values():
        for field in schema:
            if pa.types.is_timestamp(field.type):
                assert field.type.tz == "UTC", field.name
