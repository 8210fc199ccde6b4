"""The two maskers: the emulator's (CodeBuild's log) and the runner's (its own reports)."""

from __future__ import annotations

import io
import json

from cbdeploy.emulator.logs import BuildLog, Masker
from cbdeploy.runner.masking import Masker as RunnerMasker
from cbdeploy.runner.masking import masked, secret_values


def test_emulator_masks_every_occurrence_longest_first() -> None:
    mask = Masker()
    mask.add("abc")
    mask.add("abcdef")
    mask.add("")  # an empty value masks nothing
    assert mask("x abcdef y abc z abcabc") == "x *** y *** z ******"
    assert mask("key AKIAABCDEFGHIJKLMNOP, not AKIAABCDEFGHIJKLMNOPQ") == (
        "key ***, not AKIAABCDEFGHIJKLMNOPQ"
    )


def test_emulator_masks_each_line_of_a_multi_line_value() -> None:
    mask = Masker()
    mask.add("-----BEGIN KEY-----\nQUJDREVG\n}\n-----END KEY-----")
    # The log is written line by line: each line is masked, except very short ones.
    assert mask("QUJDREVG") == "***"
    assert mask("-----END KEY-----") == "***"
    assert mask("}") == "}"


def test_build_log_masks_before_writing() -> None:
    log = BuildLog("us-east-1", "g", "s", clock=lambda: 1.0)
    log.mask.add("s3cret")
    log.write("echo s3cret")
    log.container("Running command echo s3cret")
    messages = [str(e["message"]) for e in log._pending]
    assert messages[0] == "echo ***\n"
    assert messages[1].endswith("Running command echo ***\n")


def test_runner_masks_json_spellings() -> None:
    value = 'é"\\x'
    mask = RunnerMasker([value])
    for text in (value, json.dumps(value), json.dumps(value, ensure_ascii=False)):
        assert value not in mask.text(text) and "\\u00e9" not in mask.text(text)
    assert mask.text(json.dumps({"k": "a" + value + "b"})) == '{"k": "a***b"}'


def test_runner_masks_named_variables_and_key_ids_only() -> None:
    environ = {"A": "alpha-secret", "B": "", "PLAIN": "plain", "AWS_ACCESS_KEY_ID": "testing"}
    assert secret_values(["A", "B", "MISSING"], environ) == ["alpha-secret"]
    environ["AWS_ACCESS_KEY_ID"] = "ASIAEXAMPLEEXAMPLE12"
    assert secret_values([], environ) == ["ASIAEXAMPLEEXAMPLE12"]
    out = io.StringIO()
    stream = masked(out, RunnerMasker(["alpha-secret"]))
    stream.write("alpha-secret plain\n")
    stream.flush()
    assert out.getvalue() == "*** plain\n"
