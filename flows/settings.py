"""khabar's settings: defaults, then KHABAR_* environment variables, then command-line options."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from tasks.entities.backends import CHOICES
from tasks.inventory import SHARD_SIZE

if TYPE_CHECKING:
    from tasks.entities import NerConfig


PROJECT_FILE = "khabar.toml"


class ProjectFileError(SettingsError):
    """A project file that is not TOML, or names a setting khabar does not have."""


def read_project_file(folder: Path) -> tuple[Path | None, dict[str, Any]]:
    """The settings of khabar.toml in a folder, else of [tool.khabar] in its pyproject.toml: (file, values)."""
    import tomllib

    for path, table in ((folder / PROJECT_FILE, ()), (folder / "pyproject.toml", ("tool", "khabar"))):
        if not path.is_file():
            continue
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ProjectFileError(f"{path} is not readable TOML ({exc})") from None
        for key in table:
            values = values.get(key, {})
        if values or not table:
            unknown = sorted(set(values) - set(Settings.model_fields))
            if unknown:
                raise ProjectFileError(f"{path} names settings khabar does not have: {', '.join(unknown)}")
            return path, values
    return None, {}


class _ProjectFile(PydanticBaseSettingsSource):
    """Settings from the project file in the working folder (see read_project_file)."""

    def __call__(self) -> dict[str, Any]:
        _, values = read_project_file(Path.cwd())
        return {k: v for k, v in values.items() if k in self.settings_cls.model_fields}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:  # not used by __call__
        return None, field_name, False


class ReadSettings(BaseSettings):
    """What the commands that only read the tables need (sql, report, runs, check): a bad KHABAR_WORKERS
    does not stop a query."""

    model_config = SettingsConfigDict(env_prefix="KHABAR_", extra="forbid")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Options win over KHABAR_* variables, which win over the project file, which wins over defaults."""
        return init_settings, env_settings, _ProjectFile(settings_cls)

    out_dir: Path = Field(Path("data/processed"), description="Folder of the Parquet tables, one sub-folder per table")
    sql_memory_limit: str = Field("2GB", description="DuckDB memory for one query (it spills beyond it)")
    sql_timeout_s: float = Field(60.0, ge=0, description="Seconds one query may run (0: no limit)")


class Settings(ReadSettings):
    """Built once at the entry point and passed down as plain values."""

    raw_dir: Path = Field(Path("data/raw"), description="Folder of raw article files (*.txt, searched recursively)")
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, description="Worker processes for shards")
    shard_size: int = Field(SHARD_SIZE, ge=1, description="Documents per shard task, at most")
    max_file_bytes: int = Field(50_000_000, ge=1, description="Larger input files are quarantined unread")
    max_doc_seconds: float = Field(
        300.0, ge=0, description="A document still processing after this is quarantined too_slow (0: no limit)"
    )
    ner: str = Field("gazetteer", description=f"Entity backend: {' | '.join(CHOICES)}")
    ner_model: Path | None = Field(None, description="CRF model file (crf), or camel-tools NER model folder (camel)")
    ner_quantize: bool = Field(
        False, description="int8 dynamic quantization of the camel model (faster, labels may differ)"
    )
    gazetteers: tuple[Path, ...] = Field((), description="Extra gazetteer TSV files (type, name, variants)")
    shard_retries: int = Field(
        2, ge=0, description="Retries of a failing shard task before its files are marked failed"
    )
    shard_retry_delay_s: float = Field(5.0, ge=0, description="Seconds between shard retries")
    lock_wait_s: float = Field(0.0, ge=0, description="Seconds to wait for another run on the same output folder")
    executor: Literal["processes", "dask"] = Field(
        "processes", description="Where shards run: khabar's worker processes, or a Dask cluster (prefect-dask)"
    )
    dask_address: str | None = Field(
        None, description="Scheduler of a running Dask cluster (tcp://HOST:8786); none: a local cluster per run"
    )
    layout: str | None = Field(
        None, description="How source and date are read from a file's path, e.g. '{date}/{source}-{n}.txt'"
    )

    @field_validator("dask_address")
    @classmethod
    def _address_is_one(cls, value: str | None) -> str | None:
        from flows.executors import scheduler_host_port

        if value:
            scheduler_host_port(value)  # ValueError: how to write one
        return value or None

    @model_validator(mode="after")
    def _address_needs_dask(self) -> Settings:
        if self.dask_address and self.executor != "dask":
            raise ValueError("a Dask address needs the dask executor (--executor dask, KHABAR_EXECUTOR=dask)")
        return self

    @field_validator("layout")
    @classmethod
    def _layout_compiles(cls, value: str | None) -> str | None:
        from tasks.layout import Layout

        if value is not None:
            Layout.of(value)  # LayoutError (a ValueError) names what is wrong
        return value


def pipeline_fingerprint(settings: Settings) -> tuple[str, dict[str, str]]:
    """The fingerprint of what these settings would make documents with, and what it is made of."""
    from tasks.fingerprint import fingerprint_detail, fingerprint_of

    detail = fingerprint_detail(ner_config(settings), settings.layout)
    return fingerprint_of(detail), detail


def ner_config(settings: Settings) -> NerConfig:
    """The entity backend the settings ask for, resolved (auto made concrete) and checked to load."""
    from tasks.entities import NerConfig, resolve

    return resolve(
        NerConfig(
            backend=settings.ner,
            model=str(settings.ner_model) if settings.ner_model else None,
            gazetteer_files=tuple(str(p) for p in settings.gazetteers),
            threads=max(1, (os.cpu_count() or 1) // settings.workers),
            quantize=settings.ner_quantize,
        )
    )


def flow_parameters(settings: Settings) -> dict[str, Any]:
    """The parameters both writing flows take from the settings (folders, shards, backend, retries, lock)."""
    return {
        "raw_dir": str(Path(settings.raw_dir)),
        "out_dir": str(Path(settings.out_dir)),
        "shard_size": settings.shard_size,
        "ner": ner_config(settings),
        "workers": settings.workers,
        "retries": settings.shard_retries,
        "max_doc_seconds": settings.max_doc_seconds,
        "retry_delay_s": settings.shard_retry_delay_s,
        "lock_wait_s": settings.lock_wait_s,
        "layout": settings.layout,
        "executor": settings.executor,
        "dask_address": settings.dask_address,
    }
