"""The validator on the real Claudesidian datasets: SFT almost all valid, KTO labels reflected."""

from __future__ import annotations

import pytest

from toolset_schemas.validator import validate_files

from .test_claudesidian_data import SFT_NAMES_NOT_IN_SCHEMAS

pytest.importorskip(
    "toolset.data.readers", reason="the core conversation reader (toolset.data.readers) is not there yet"
)


def test_sft_data_is_almost_entirely_valid(upstream_data):
    report = validate_files([upstream_data / "Datasets" / "tools_datasets"])
    summary = report.summary()
    assert summary["files"] == 4 and summary["conversations"] > 5000
    assert summary["valid_percent"] >= 97.0, summary
    errors = [f for f in report.findings if f.severity == "error"]
    # The genuine errors found in the SFT data (see the helper report): tool names tool_schemas.json lacks,
    # ids that ignore the id format, and a few wrong enum values / quoted numbers and booleans.
    assert {f.code for f in errors} <= {"unknown-tool", "bad-id-format", "bad-enum", "wrong-type"}
    assert {f.message.split("'")[1] for f in errors if f.code == "unknown-tool"} == SFT_NAMES_NOT_IN_SCHEMAS
    # Every call carries a context first, with the ids of its system prompt.
    assert not {"missing-required", "context-not-first", "session-mismatch", "workspace-mismatch"} & {
        f.code for f in report.findings
    }


def test_kto_labels_match_what_the_validator_finds(upstream_data):
    report = validate_files([upstream_data / "Datasets" / "behavior_datasets"])
    kto = report.summary()["kto"]
    assert kto["desirable"] > 2000 and kto["undesirable"] > 2000
    assert kto["desirable_valid"] / kto["desirable"] >= 0.99
    # Many undesirable lines are wrong in behaviour only (no schema can see that); the others carry the
    # wrong tool names, bad ids and missing parameters they were written with.
    assert kto["undesirable_with_errors"] / kto["undesirable"] >= 0.3
    assert {"unknown-tool", "bad-id-format", "missing-required"} <= set(kto["expected_by_code"])
    assert all(f.severity == "info" for f in report.expected_findings)
