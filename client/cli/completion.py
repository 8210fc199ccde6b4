"""Shell completion through click, with command names that hold a colon.

Bash splits words at ``:`` (it is in ``COMP_WORDBREAKS``), so for
``cbdeploy defaults:c<TAB>`` click would see the words ``defaults``, ``:``,
``c``. :class:`ColonBashComplete` joins them back before click completes, and
since readline then replaces only the text after the last colon, it answers
``configure`` rather than ``defaults:configure`` (what bash-completion's
``__ltrim_colon_completions`` does). Where bash did not split (``:`` removed
from ``COMP_WORDBREAKS``), nothing is joined or trimmed.

Registered for ``bash`` on import by ``client.cli.main``; zsh and fish keep click's
own classes (they do not split at colons).
"""

from __future__ import annotations

import os
from typing import Any

from click.shell_completion import BashComplete, CompletionItem, split_arg_string


def join_colon_words(words: list[str], current: int) -> tuple[list[str], int, bool]:
    """Rejoin words bash split at ``:``; the new index of ``current``, and whether
    the word at ``current`` was split (so completions must lose its part up to the colon).
    """
    joined: list[str] = []
    index = current
    glue = False
    split_current = False
    for position, word in enumerate(words):
        attach = bool(joined) and (word == ":" or glue)
        if attach:
            joined[-1] += word
        else:
            joined.append(word)
        glue = word == ":"
        if position == current:
            index = len(joined) - 1
            split_current = attach or word == ":"
    if current >= len(words):  # the cursor after a space: a new, empty word
        index = len(joined)
        split_current = False
    return joined, index, split_current


class ColonBashComplete(BashComplete):
    """click's bash completion, for words bash split at colons."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trim = ""

    def get_completion_args(self) -> tuple[list[str], str]:
        words = split_arg_string(os.environ["COMP_WORDS"])
        joined, index, split_current = join_colon_words(words, int(os.environ["COMP_CWORD"]))
        incomplete = joined[index] if index < len(joined) else ""
        if split_current and ":" in incomplete:
            self._trim = incomplete[: incomplete.rindex(":") + 1]
        return joined[1:index], incomplete

    def format_completion(self, item: CompletionItem) -> str:
        value = item.value
        if self._trim and isinstance(value, str) and value.startswith(self._trim):
            value = value[len(self._trim) :]
        return f"{item.type},{value}"
