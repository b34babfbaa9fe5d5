"""The one error a document step may raise: the input is kept aside with a reason code."""

from __future__ import annotations

# Reason codes, as written to files.reason.
EMPTY_TEXT = "empty_text"
BINARY_CONTENT = "binary_content"
UNDECODABLE = "undecodable"
TOO_LARGE = "too_large"
UNREADABLE = "unreadable"
PROCESSING_ERROR = "processing_error"
OUTSIDE_RAW = "outside_raw_folder"
NOT_A_FILE = "not_a_regular_file"
VANISHED = "vanished"
CHANGED_DURING_RUN = "changed_during_run"
TOO_SLOW = "too_slow"

# Reasons that follow from the bytes alone: the same content gets the same outcome without being
# processed again. The others depend on the moment or the path (a file changed while read, a
# permission) or on khabar's code (a processing error), and are retried when the file changes.
CONTENT_REASONS = frozenset({EMPTY_TEXT, BINARY_CONTENT, UNDECODABLE})


class QuarantineError(Exception):
    """Raised for an input that cannot become a document; carries a snake_case reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
