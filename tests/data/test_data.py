"""Prompt data: local files through `datasets`, bad rows stopped or skipped-and-counted."""

import json

import pytest

from rayrlhf.config import load_config
from rayrlhf.data.prompts import DataError, load_prompts

ROWS = [
    {"text": "first document", "summary": "one"},
    {"text": "", "summary": "two"},
    {"text": 42, "summary": "three"},
    {"text": "fourth document", "summary": None},
    {"text": "fifth document", "summary": "five"},
]


@pytest.fixture
def jsonl(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS))
    return path


def _cfg(path, *extra):
    return load_config(None, [f"data.dataset={path}", "data.prompt_field=text", "data.reference_field=summary", *extra])


def test_bad_row_stops_with_index_and_field(jsonl):
    with pytest.raises(DataError, match=r"row 1: field 'text' is empty.*data.on_bad_row=skip"):
        load_prompts(_cfg(jsonl))


def test_bad_rows_skipped_and_counted(jsonl):
    ds, report = load_prompts(_cfg(jsonl, "data.on_bad_row=skip", "data.prompt_template=Summarize: {prompt}"))
    assert report.skipped == 3 and report.total == 5
    assert "row 1: field 'text' is empty" in report.summary()
    assert "row 2: field 'text' is not text (got int)" in report.summary()
    assert "row 3: field 'summary' is missing" in report.summary()
    assert ds["prompt"][0] == "Summarize: first document" and ds["reference"][-1] == "five"


def test_not_text_is_reported(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"text": "ok", "summary": "s"}) + "\n" + json.dumps({"text": 7, "summary": "s"}))
    with pytest.raises(DataError, match="row 1: field 'text' is not text"):
        load_prompts(_cfg(path))


def test_missing_column_and_missing_file(tmp_path, jsonl):
    with pytest.raises(DataError, match=r"no column\(s\) \['document'\]"):
        load_prompts(load_config(None, [f"data.dataset={jsonl}", "data.prompt_field=document", "data.reference_field=null"]))
    with pytest.raises(DataError, match="file not found"):
        load_prompts(_cfg(tmp_path / "nope.jsonl"))


def test_csv_and_builtin(tmp_path, tiny_config, tiny_task):
    path = tmp_path / "p.csv"
    path.write_text("text,summary\nhello world,hi\n")
    ds, _ = load_prompts(_cfg(path))
    assert ds["prompt"] == ["hello world"]
    ds, report = load_prompts(tiny_config, split="heldout")
    assert len(ds) == 12 and report.skipped == 0 and ds["prompt"][0].startswith("Summarize: ")


def test_a_single_file_holds_out_its_tail(tmp_path):
    from rayrlhf.data.prompts import load_splits

    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"text": f"doc {i}", "summary": f"s {i}"}) + "\n" for i in range(10)))
    train, held = load_splits(_cfg(path, "eval.num_prompts=3"), log=lambda m: None)
    assert [r["prompt"] for r in train] == [f"doc {i}" for i in range(7)]
    assert [r["reference"] for r in held] == ["s 7", "s 8", "s 9"]
    with pytest.raises(DataError, match=r"has 10 usable rows; eval.num_prompts=10 would leave none"):
        load_splits(_cfg(path, "eval.num_prompts=10"), log=lambda m: None)


def test_unreadable_files_name_the_file_and_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"text": "a", "summary": "b"}\n\n{"text": "c" "summary": "d"}\n')
    with pytest.raises(DataError, match=r"p.jsonl: line 3 is not JSON \(Expecting ',' delimiter at column 14\)"):
        load_prompts(_cfg(path))
    path.write_text("")
    with pytest.raises(DataError, match="p.jsonl is empty"):
        load_prompts(_cfg(path))
