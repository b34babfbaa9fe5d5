"""The work: pure functions over documents, each step with a thin Prefect task wrapper where it does I/O."""
