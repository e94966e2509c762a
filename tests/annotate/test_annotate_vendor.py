"""Vendor batches: export -> (fabricated) vendor file -> import -> resume, through the real CLI; bad rows are
refused with the file and row named and nothing appended; a second import of the same file changes nothing."""

import csv
import json

import pytest

from rayrlhf.annotate import WaitingForLabels
from rayrlhf.annotate.ledger import AnnotationLedger
from rayrlhf.annotate.people import VendorBackend
from rayrlhf.annotate.store import QueueStore
from rayrlhf.cli import main
from tests.support.annotate import LedgerRecorder, make_queries


def ask_missing(run_dir, queries, rec):
    """What the coordinator does on (re)start: ask the backend only for queries the ledger lacks."""
    missing = [q for q in queries if rec.ledger.get(q) is None]
    VendorBackend(run_dir).ask(missing, rec)


def number_of(row: dict, text: str) -> int:
    return row["responses"].index(text) + 1  # vendor files count responses from 1, in the exported order


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture()
def waiting_run(tmp_path):
    run_dir = tmp_path / "run"
    queries = make_queries(4, k=3)
    rec = LedgerRecorder(run_dir)
    with pytest.raises(WaitingForLabels) as stop:
        ask_missing(run_dir, queries, rec)
    assert stop.value.pending_count == 4 and "annotate export" in stop.value.message
    return run_dir, queries


def test_export_import_resume_round_trip(waiting_run, tmp_path, capsys):
    run_dir, queries = waiting_run
    out = tmp_path / "pending.jsonl"
    assert main(["annotate", "export", str(run_dir), "--out", str(out)]) == 0
    exported = {r["query_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert list(exported) == [q.id for q in queries] and all(set(r) == {"query_id", "prompt", "responses"} for r in exported.values())
    q0, q1, q2, q3 = (exported[q.id] for q in queries)
    good = [
        {"query_id": q0["query_id"], "best": number_of(q0, "q0-r1"), "worst": number_of(q0, "q0-r2"), "annotator": "v1", "seconds": 30},
        {"query_id": q1["query_id"], "ranking": [number_of(q1, t) for t in ("q1-r2", "q1-r0", "q1-r1")], "annotator": "v2"},
        {"query_id": q2["query_id"], "skip": True, "annotator": "v1"},
    ]
    bad = good + [
        {"query_id": "0123456789abcdef0123", "best": 1, "worst": 2},
        {"query_id": q3["query_id"], "ranking": [1, 1, 2]},
        {"query_id": q0["query_id"], "best": 2, "worst": 3, "annotator": "v1"},
        {"query_id": q3["query_id"], "best": 7, "worst": 1},
        {"query_id": q3["query_id"], "best": 1, "worst": 1, "annotator": "v3"},
    ]
    bad_file = write_jsonl(tmp_path / "vendor_bad.jsonl", bad)
    capsys.readouterr()
    assert main(["annotate", "import", str(run_dir), bad_file]) == 2
    err = capsys.readouterr().err
    assert bad_file in err and "5 bad row(s); nothing was imported" in err
    for line, words in ((4, "unknown query id"), (5, "every response number 1..3 once"), (6, "duplicate"),
                        (7, "from 1 to 3, got 7"), (8, "must be different")):
        assert f"line {line}: " in err and words in err, (line, words, err)
    assert not (run_dir / "annotations.jsonl").exists() and QueueStore.for_run(run_dir).answers() == []

    good_file = write_jsonl(tmp_path / "vendor_good.jsonl", good)
    assert main(["annotate", "import", str(run_dir), good_file]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["answers"] == 3 and result["still_pending"] == 1
    ledger = AnnotationLedger(run_dir / "annotations.jsonl")
    a0, a1, a2 = (ledger.get(q) for q in queries[:3])
    assert queries[0].responses[a0.best] == "q0-r1" and queries[0].responses[a0.worst] == "q0-r2" and a0.partial
    assert [queries[1].responses[i] for i in a1.ranking] == ["q1-r2", "q1-r0", "q1-r1"] and not a1.partial
    assert a2.ranking is None and a2.meta["annotator"] == "v1" and a0.meta["seconds"] == 30 and a0.meta["via"] == "vendor"

    lines_before = (run_dir / "annotations.jsonl").read_text()
    assert main(["annotate", "import", str(run_dir), good_file]) == 0  # the same file again: a no-op
    assert json.loads(capsys.readouterr().out)["already_imported"] == 3
    assert (run_dir / "annotations.jsonl").read_text() == lines_before

    # resume: only q3 is missing; the run stops again for it
    rec = LedgerRecorder(run_dir)
    with pytest.raises(WaitingForLabels) as stop:
        ask_missing(run_dir, queries, rec)
    assert stop.value.pending_count == 1 and rec.order == []

    # the last label comes back as a Label Studio export
    ls_out = tmp_path / "tasks.json"
    assert main(["annotate", "export", str(run_dir), "--format", "label-studio", "--out", str(ls_out)]) == 0
    assert (tmp_path / "tasks.labeling_config.xml").is_file()
    [task] = json.loads(ls_out.read_text())
    assert task["data"]["query_id"] == queries[3].id
    shown = [task["data"][f"response_{n}"] for n in (1, 2, 3)]
    task["annotations"] = [
        {"completed_by": {"id": 7, "email": "ann@vendor.example"}, "lead_time": 12.5, "was_cancelled": False,
         "result": [{"from_name": "best", "to_name": "prompt", "type": "choices", "value": {"choices": [str(shown.index("q3-r0") + 1)]}},
                    {"from_name": "worst", "to_name": "prompt", "type": "choices", "value": {"choices": [str(shown.index("q3-r2") + 1)]}}]},
        {"completed_by": 9, "was_cancelled": True, "result": []},
    ]
    ls_out.write_text(json.dumps([task]))
    assert main(["annotate", "import", str(run_dir), str(ls_out)]) == 0
    rec = LedgerRecorder(run_dir)
    ask_missing(run_dir, queries, rec)  # nothing missing: the run continues without stopping
    a3 = rec.ledger.get(queries[3])
    assert queries[3].responses[a3.best] == "q3-r0" and queries[3].responses[a3.worst] == "q3-r2"
    assert a3.meta["annotator"] == "ann@vendor.example" and a3.meta["seconds"] == 12.5
    assert len(rec.ledger) == 4 and len((run_dir / "annotations.jsonl").read_text().splitlines()) == 4


def test_a_lost_ledger_line_is_recorded_from_the_queue_not_asked_again(waiting_run, tmp_path):
    run_dir, queries = waiting_run
    store = QueueStore.for_run(run_dir)
    rows = [{"query_id": q.id, "best": 1, "worst": 2} for q in queries]
    assert main(["annotate", "import", str(run_dir), write_jsonl(tmp_path / "all.jsonl", rows)]) == 0
    (run_dir / "annotations.jsonl").unlink()  # e.g. a ledger restored from an older backup
    rec = LedgerRecorder(run_dir)
    ask_missing(run_dir, queries, rec)
    assert sorted(rec.order) == sorted(q.id for q in queries)
    assert len(store.answers()) == 4  # still one paid answer per query


def test_argilla_records_carry_the_query_id_and_their_responses_import(waiting_run, tmp_path, capsys):
    run_dir, queries = waiting_run
    out = tmp_path / "records.json"
    assert main(["annotate", "export", str(run_dir), "--format", "argilla", "--out", str(out)]) == 0
    records = json.loads(out.read_text())
    assert [r["id"] for r in records] == [q.id for q in queries]
    flat = []
    for r in records[:2]:
        shown = [r[f"response_{n}"] for n in (1, 2, 3)]
        i = queries[[q.id for q in queries].index(r["id"])]
        flat.append({"id": r["id"], "best.responses": [str(shown.index(i.responses[0]) + 1)],
                     "worst.responses": [str(shown.index(i.responses[1]) + 1)], "best.responses.users": ["u-1"]})
    out.write_text(json.dumps(flat))
    assert main(["annotate", "import", str(run_dir), str(out)]) == 0
    ledger = AnnotationLedger(run_dir / "annotations.jsonl")
    assert [(ledger.get(q).best, ledger.get(q).worst) for q in queries[:2]] == [(0, 1), (0, 1)]
    assert ledger.get(queries[0]).meta["annotator"] == "argilla-u-1"


def test_pairs_and_audit_read_the_labels_back(waiting_run, tmp_path, capsys):
    import datasets

    from rayrlhf.rewards.evaluate import load_pairs

    run_dir, queries = waiting_run
    rows = [{"query_id": queries[0].id, "ranking": [1, 2, 3], "annotator": "v1", "seconds": 20},
            {"query_id": queries[1].id, "skip": True, "annotator": "v2", "seconds": 5}]
    exported = {}
    main(["annotate", "export", str(run_dir), "--out", str(tmp_path / "p.jsonl")])
    for line in (tmp_path / "p.jsonl").read_text().splitlines():
        exported[json.loads(line)["query_id"]] = json.loads(line)["responses"]
    assert main(["annotate", "import", str(run_dir), write_jsonl(tmp_path / "l.jsonl", rows)]) == 0
    pairs_file = tmp_path / "pairs.jsonl"
    assert main(["annotate", "pairs", str(run_dir), "--out", str(pairs_file)]) == 0
    ds = datasets.load_dataset("json", data_files=str(pairs_file), split="train")
    assert len(ds) == 1 and {"prompt", "chosen", "rejected", "annotator"} <= set(ds.column_names)
    shown = exported[queries[0].id]
    assert (ds[0]["chosen"], ds[0]["rejected"], ds[0]["annotator"]) == (shown[0], shown[2], "v1")
    pairs, _ = load_pairs(pairs_file)
    assert pairs[0].prompt == queries[0].prompt and pairs[0].chosen == shown[0]

    capsys.readouterr()
    audit_file = tmp_path / "audit.csv"
    assert main(["annotate", "audit", str(run_dir), "--out", str(audit_file), "--cost-per-label", "0.5"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["labels"] == 2 and summary["skips"] == 1 and summary["total_cost"] == 1.0
    assert summary["seconds_per_label_median"] == 12.5
    audit = list(csv.DictReader(audit_file.open()))
    assert [(r["annotator"], r["event"], r["cost"], r["seconds"]) for r in audit] == [("v1", "answer", "0.5", "20.0"),
                                                                                      ("v2", "skip", "0.5", "5.0")]


def test_tokens_from_the_cli_are_printed_once_and_stored_hashed(tmp_path, capsys):
    assert main(["annotate", "token", str(tmp_path), "--annotator", "alice"]) == 0
    out = json.loads(capsys.readouterr().out)
    store = QueueStore.for_run(tmp_path)
    assert store.annotator_for(out["token"]) == "alice" and out["link"].endswith(out["token"])
    assert out["token"].encode() not in store.path.read_bytes()
    assert main(["annotate", "token", str(tmp_path), "--annotator", "bad name!"]) == 2
    assert "annotator name" in capsys.readouterr().err
    assert main(["annotate", "export", str(tmp_path / "nowhere")]) == 2
    assert "no annotation queue" in capsys.readouterr().err


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.extended
def test_a_routed_run_sends_the_vendor_only_the_prompts_routed_to_people(train_config, tmp_path):
    """oracle.backend=vendor with oracle.route=uncertain: each stop exports only the round's human share; the model
    labels the rest (model_labels.jsonl), and the run completes after the imports."""
    from tests.support.cli import rayrlhf

    run_dir = tmp_path / "run"
    args = ["train", *train_config, f"run.output_dir={run_dir}", "rollout.backend=hf", "train.iterations=1",
            "oracle.backend=vendor", "oracle.route=uncertain", "oracle.labels_per_iteration=8", "oracle.route_after=2",
            "oracle.spot_check=0"]
    exported_ids: list[str] = []
    first = rayrlhf(*args, check=False)
    for stop in range(4):
        if first.returncode == 0:
            break
        assert first.returncode == 75, first.stderr[-3000:]
        out = tmp_path / f"batch{stop}.jsonl"
        rayrlhf("annotate", "export", str(run_dir), "--out", str(out))
        rows = [json.loads(x) for x in out.read_text().splitlines()]
        exported_ids += [r["query_id"] for r in rows]
        labels = write_jsonl(tmp_path / f"labels{stop}.jsonl", [
            {"query_id": r["query_id"], "best": 1 + max(range(len(r["responses"])), key=lambda i: len(r["responses"][i])),
             "worst": 1 + min(range(len(r["responses"])), key=lambda i: len(r["responses"][i]))}
            if len(set(map(len, r["responses"]))) > 1 else {"query_id": r["query_id"], "skip": True} for r in rows])
        rayrlhf("annotate", "import", str(run_dir), labels)
        first = rayrlhf("train", "--resume", str(run_dir), check=False)
    assert first.returncode == 0, first.stderr[-3000:]
    routed = [json.loads(x) for x in (run_dir / "model_labels.jsonl").read_text().splitlines()]
    human = [e["query_id"] for r in routed for e in r["human"]]
    model = {e["query_id"] for r in routed for e in r["model"]}
    assert sorted(exported_ids) == sorted(set(exported_ids)) and set(exported_ids) <= set(human) and len(human) <= 8
    assert model and not model & set(exported_ids)  # the vendor never saw a model-labelled prompt
    [row] = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert row["oracle_queries"] == len(exported_ids) and row["label_model/model_labels"] == len(model)
