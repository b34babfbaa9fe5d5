"""Orchestration: the Prefect flow, its task runner and Prefect API, the settings and the CLI."""
