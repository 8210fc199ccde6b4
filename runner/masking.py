"""Hide secret values in everything the runner prints itself (markers, its own lines).

CodeBuild replaces the values of PARAMETER_STORE and SECRETS_MANAGER variables,
and AWS access key ids, with ``***`` in the build log. The runner reports
outputs and progress as JSON markers, where a value can appear escaped
(``\\"``, ``\\u00e9``) and so slip past CodeBuild's replacement: it masks the
raw value and each of its JSON spellings before anything reaches the log. The
client learns the variables' names from the plan (``secretNames``), never
their values.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Mapping
from typing import TextIO, cast

MASK = "***"
# Long-term (AKIA) and temporary (ASIA) access key ids.
ACCESS_KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
# IAM's AccessKeyId is 16 to 128 word characters; shorter values are not key ids.
_KEY_ID_SHAPE = re.compile(r"^\w{16,128}$")
MIN_LINE = 4  # lines of a multi-line secret shorter than this are not masked alone


class Masker:
    """Replaces every known secret value (and its JSON spellings) with ``***``."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        forms = set()
        for value in values:
            forms.update(_spellings(value))
        # Longest first, so a secret that contains another is masked whole.
        self._forms = sorted((f for f in forms if f), key=lambda f: (-len(f), f))

    def text(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return ACCESS_KEY_ID.sub(MASK, text)


def _spellings(value: str) -> set[str]:
    parts = [value]
    if "\n" in value:
        parts += [line for line in value.splitlines() if len(line.strip()) >= MIN_LINE]
    forms = set()
    for part in parts:
        forms.add(part)
        forms.add(json.dumps(part)[1:-1])
        forms.add(json.dumps(part, ensure_ascii=False)[1:-1])
    return forms


def secret_values(names: Iterable[str], environ: Mapping[str, str]) -> list[str]:
    """The values to hide: the named secret variables, and the access key id in use."""
    values = [environ[name] for name in names if environ.get(name)]
    key_id = environ.get("AWS_ACCESS_KEY_ID", "")
    if _KEY_ID_SHAPE.match(key_id):
        values.append(key_id)
    return values


class MaskedOutput(io.TextIOBase):
    """A text stream that masks everything written through it.

    ``fileno`` is the wrapped stream's: the pipeline copies a step's own output
    straight to that descriptor, unchanged (CodeBuild masks the build log).
    """

    def __init__(self, out: TextIO, masker: Masker) -> None:
        super().__init__()
        self._out = out
        self._masker = masker

    def write(self, text: str) -> int:
        self._out.write(self._masker.text(text))
        return len(text)

    def flush(self) -> None:
        self._out.flush()

    def fileno(self) -> int:
        return self._out.fileno()

    def writable(self) -> bool:
        return True


def masked(out: TextIO, masker: Masker) -> TextIO:
    return cast(TextIO, MaskedOutput(out, masker))
