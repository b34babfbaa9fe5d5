"""The entity backends, one object each: what it needs, its code version, its model hash, how it loads.

resolve, load_extractor, code_version and model_hash in tasks.entities, the CLI's help and the
settings' description all iterate BACKENDS; adding a backend is adding one Backend here (and its
module). Each part imports its module when called, so listing the backends loads no model code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tasks.entities import EntityExtractor, NerConfig


@dataclass(frozen=True)
class Backend:
    name: str
    reads_model: bool  # whether it reads --ner-model
    available: Callable[[NerConfig], bool]  # whether `auto` may choose it for this configuration
    check: Callable[[NerConfig], NerConfig]  # the configuration made concrete, or NerConfigError
    code_version: Callable[[], str]  # bumped when its output changes for the same model
    model_hash: Callable[[NerConfig], str]  # sha256 of everything it reads, without loading it
    load: Callable[[NerConfig], EntityExtractor]  # the backend, user lists included where it reads them
    # whether the gazetteer's rulings overrule it (tasks.entities.rulings): every backend but the gazetteer,
    # which applies those rules as it tags
    ruled: bool = True
    # whether a name it found once is found again where it recurs untagged (tasks.entities.consistency):
    # the learned backends (it raised every block of the cross-validation for crf and bilstm); not the
    # gazetteer, whose guesses it spread (its mean fell)
    finds_again: bool = False
    # whether khabar's fork server may build it before it forks the workers (flows.workers), which then find
    # it built: not the torch backends, whose thread pools do not survive a fork
    forks_safely: bool = False


def _fail(message: str) -> Exception:
    from tasks.entities import NerConfigError

    return NerConfigError(message)


# gazetteer: the packaged name lists and cue rules; reads the user's lists itself.


def _gazetteer_version() -> str:
    from tasks.entities import gazetteer

    return gazetteer.VERSION


def _gazetteer_hash(config: NerConfig) -> str:
    from tasks.entities import gazetteer

    return gazetteer.lists_digest(config.gazetteer_files)


def _gazetteer_load(config: NerConfig) -> EntityExtractor:
    from tasks.entities.gazetteer import GazetteerExtractor

    return GazetteerExtractor.from_resources(extra_files=config.gazetteer_files)


GAZETTEER = Backend(
    name="gazetteer",
    reads_model=False,
    available=lambda config: True,
    check=lambda config: config,
    code_version=_gazetteer_version,
    model_hash=_gazetteer_hash,
    load=_gazetteer_load,
    ruled=False,
    forks_safely=True,
)


# crf: a model file trained by `khabar ner train`; its features stack the gazetteer's rules.


def _crf_check(config: NerConfig) -> NerConfig:
    from tasks.entities import crf

    if not config.model:
        raise _fail("the crf backend needs a model file: --ner-model MODEL (train one with `khabar ner train`)")
    if not Path(config.model).is_file():
        raise _fail(f"no CRF model file at {config.model}")
    try:
        crf.model_meta(config.model)
    except crf.ModelFileError as exc:
        raise _fail(str(exc)) from None
    return config


def _crf_version() -> str:
    from tasks.entities.crf import features_version

    return features_version()


def _crf_hash(config: NerConfig) -> str:
    """The model file's and the packaged lists' hashes together: the features (and the rulings) read both."""
    from tasks.entities import gazetteer
    from tasks.entities.crf import file_hash

    return hashlib.sha256(f"{file_hash(config.model or '')}:{gazetteer.lists_digest()}".encode()).hexdigest()


def _crf_load(config: NerConfig) -> EntityExtractor:
    from tasks.entities.crf import CRFExtractor

    return CRFExtractor(config.model or "")


CRF = Backend(
    name="crf",
    reads_model=True,
    available=lambda config: config.model is not None and Path(config.model).is_file(),
    check=_crf_check,
    code_version=_crf_version,
    model_hash=_crf_hash,
    load=_crf_load,
    finds_again=True,
    forks_safely=True,
)


# bilstm: a BiLSTM-CRF decoded with a CRF, both in one model file from `khabar ner train --backend bilstm`.


def _bilstm_check(config: NerConfig) -> NerConfig:
    from tasks.entities import bilstm, crf

    if not config.model:
        raise _fail(
            "the bilstm backend needs a model file: --ner-model MODEL "
            "(train one with `khabar ner train --backend bilstm`)"
        )
    config = _crf_check(config)
    try:
        bilstm.model_meta(config.model or "")
    except crf.ModelFileError as exc:
        raise _fail(str(exc)) from None
    return config


def _bilstm_version() -> str:
    from tasks.entities import bilstm

    return bilstm.version()


def _bilstm_available(config: NerConfig) -> bool:
    from tasks.entities import bilstm

    return config.model is not None and bilstm.is_bilstm_model(config.model)


def _bilstm_load(config: NerConfig) -> EntityExtractor:
    from tasks.entities.bilstm import BiLSTMExtractor

    return BiLSTMExtractor(config.model or "", threads=config.threads)


BILSTM = Backend(
    name="bilstm",
    reads_model=True,
    available=_bilstm_available,
    check=_bilstm_check,
    code_version=_bilstm_version,
    model_hash=_crf_hash,  # the same inputs: the model file and the packaged lists its CRF features read
    load=_bilstm_load,
    finds_again=True,
)


# camel: the CAMeL Tools NER model (AraBERT), installed where camel-tools keeps its data.


def _camel_available(config: NerConfig) -> bool:
    """Its model installed, in the folder --ner-model names or the default one; never for a model file
    (a crf or bilstm model), which camel cannot read."""
    from tasks.entities import camel

    if config.model is not None and not Path(config.model).is_dir():
        return False
    return camel.model_installed(config.model)


def _camel_check(config: NerConfig) -> NerConfig:
    from tasks.entities import camel

    try:
        camel.require_model(config.model)
    except camel.ModelNotInstalledError as exc:
        raise _fail(str(exc)) from None
    return config


def _camel_version() -> str:
    from tasks.entities.camel import VERSION

    return VERSION


def _camel_hash(config: NerConfig) -> str:
    """The model folder's and the packaged lists' hashes together: the rulings over it read the lists."""
    from tasks.entities import camel, gazetteer

    folder = camel.folder_hash(camel.require_model(config.model))
    return hashlib.sha256(f"{folder}:{gazetteer.lists_digest()}".encode()).hexdigest()


def _camel_load(config: NerConfig) -> EntityExtractor:
    from tasks.entities.camel import CamelExtractor

    return CamelExtractor(config.model, threads=config.threads, quantize=config.quantize)


CAMEL = Backend(
    name="camel",
    reads_model=True,
    available=_camel_available,
    check=_camel_check,
    code_version=_camel_version,
    model_hash=_camel_hash,
    load=_camel_load,
    # a learned model like crf and bilstm, and like them it tags a word by its context, so a name it tagged
    # once can be left untagged where it recurs (بالقاهرة after القاهرة); unmeasured: no camel model here
    finds_again=True,
)


BACKENDS: dict[str, Backend] = {b.name: b for b in (GAZETTEER, CRF, BILSTM, CAMEL)}
AUTO = "auto"
AUTO_ORDER = ("camel", "bilstm", "crf", "gazetteer")  # auto takes the first that is available
CHOICES = (*BACKENDS, AUTO)


def choices_in_words() -> str:
    """The backend names for help texts: "gazetteer, crf, camel or auto"."""
    return f"{', '.join(CHOICES[:-1])} or {CHOICES[-1]}"
