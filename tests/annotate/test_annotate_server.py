"""The annotation server over real HTTP (uvicorn on a loopback port): tokens, bad requests, the API flow."""

import httpx
import pytest

from rayrlhf.annotate.server import MAX_BODY_BYTES
from rayrlhf.annotate.store import QueueSettings, QueueStore
from rayrlhf.config import OracleConfig
from tests.support.annotate import live_server, make_queries


@pytest.fixture()
def served(tmp_path):
    store = QueueStore.for_run(tmp_path)
    store.configure(QueueSettings(undo_window_s=30))
    store.post(make_queries(3), iteration=1)
    token = store.issue_token("alice")
    server = live_server(store)
    client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    yield store, server, client, token
    client.close()
    server.stop()


def test_missing_or_wrong_token_gets_401(served):
    store, server, client, token = served
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {token}"}, {"Authorization": token}):
        for method, path in (("GET", "/api/next"), ("POST", "/api/answer"), ("POST", "/api/undo"), ("GET", "/api/progress")):
            r = httpx.request(method, server.url + path, headers=headers, json={} if method == "POST" else None)
            assert r.status_code == 401, (headers, path, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
            assert "token" in r.json()["detail"]
    assert store.counts()["open"] == 3 and store.answers() == []


def test_a_rotated_token_replaces_the_old_one(served):
    store, server, client, old = served
    new = store.issue_token("alice")
    assert client.get("/api/progress").status_code == 401
    assert httpx.get(server.url + "/api/progress", headers={"Authorization": f"Bearer {new}"}).json()["annotator"] == "alice"
    assert old not in store.path.read_bytes().decode("latin-1")  # only hashes are stored


def test_bad_answers_get_a_4xx_with_a_message_and_change_nothing(served):
    store, server, client, _ = served
    q = client.get("/api/next").json()["query"]
    cases = [
        (client.post("/api/answer", content=b"{not json", headers={"Content-Type": "application/json"}), 422, "malformed"),
        (client.post("/api/answer", json={"query_id": q["query_id"], "best": 0, "worst": 0}), 422, "different"),
        (client.post("/api/answer", json={"query_id": q["query_id"], "best": 0, "worst": 9}), 422, "from 0 to 2"),
        (client.post("/api/answer", json={"query_id": q["query_id"], "best": "0", "worst": 1}), 422, "best"),
        (client.post("/api/answer", json={"query_id": q["query_id"], "best": True, "worst": 1}), 422, "best"),
        (client.post("/api/answer", json={"query_id": q["query_id"], "best": 0, "worst": 1, "arm": "x"}), 422, "arm"),
        (client.post("/api/answer", json={"query_id": q["query_id"], "ranking": [0, 1]}), 422, "permutation"),
        (client.post("/api/answer", json={"best": 0, "worst": 1}), 422, "query_id"),
        (client.post("/api/answer", json={"query_id": "f" * 20, "best": 0, "worst": 1}), 404, "unknown query"),
        (client.post("/api/answer", json={"query_id": q["query_id"], "comment": "x" * (MAX_BODY_BYTES + 1)}), 413, "over"),
    ]
    for response, status, words in cases:
        assert response.status_code == status, response.text
        assert words in response.json()["detail"]
    assert store.answers() == []


def test_a_body_without_a_length_is_refused(served):
    store, server, client, _ = served

    def chunks():
        yield b'{"query_id": "x", "skip": true}'

    r = client.post("/api/answer", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 411


def test_answer_closed_and_repeated_answers_get_409(served):
    store, server, client, _ = served
    bob = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {store.issue_token('bob')}"})
    q = client.get("/api/next").json()["query"]
    assert client.post("/api/answer", json={"query_id": q["query_id"], "best": 2, "worst": 0}).status_code == 200
    again = client.post("/api/answer", json={"query_id": q["query_id"], "best": 1, "worst": 0})
    late = bob.post("/api/answer", json={"query_id": q["query_id"], "best": 1, "worst": 0})
    assert again.status_code == 409 and late.status_code == 409
    assert "closed" in late.json()["detail"]
    assert len(store.votes(q["query_id"])) == 1


def test_the_api_flow_next_answer_undo_progress(served):
    store, server, client, _ = served
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert page.headers["x-frame-options"] == "DENY" and "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"  # the ?token= link never leaks to another site
    assert client.get("/static/app.js").status_code == 200
    first = client.get("/api/next").json()
    assert first["progress"] == {"annotator": "alice", "answered_by_you": 0, "waiting": 3, "done": 0, "total": 3,
                                 "people": {"iteration": 1, "people_span_s": 0.0, "people_busy_s": 0.0, "people_idle_share": 0.0}}
    q = first["query"]
    assert client.get("/api/next").json()["query"]["query_id"] == q["query_id"]  # a reload keeps the same query
    r = client.post("/api/answer", json={"query_id": q["query_id"], "skip": True})
    assert r.json()["progress"]["answered_by_you"] == 1
    undone = client.post("/api/undo").json()
    assert undone["query"] == q and undone["progress"]["answered_by_you"] == 0
    assert client.post("/api/answer", json={"query_id": q["query_id"], "ranking": [2, 0, 1]}).status_code == 200
    nxt = client.get("/api/next").json()["query"]
    assert nxt["query_id"] != q["query_id"]
    [vote] = store.votes(q["query_id"])
    shown_text = [q["responses"][s] for s in (2, 0, 1)]
    assert [store.get(q["query_id"]).responses[i] for i in vote.ranking] == shown_text
    # the page's idle share: alice's one answer over the span from posting to it, recomputed from the raw rows
    conn = store.connect()
    posted = conn.execute("SELECT MIN(created) FROM queries").fetchone()[0]
    [(answered, seconds)] = conn.execute("SELECT time, seconds FROM answers").fetchall()
    people = client.get("/api/progress").json()["people"]
    assert people["iteration"] == 1 and people["people_span_s"] == pytest.approx(answered - posted)
    assert people["people_idle_share"] == pytest.approx(1 - seconds / (answered - posted))


def test_the_server_binds_loopback_by_default():
    assert OracleConfig().web.host == "127.0.0.1"
    assert OracleConfig().backend == "simulated"  # people are opt-in; the simulated oracle stays the default


def test_a_web_backend_can_serve_its_own_queue(tmp_path):
    from rayrlhf.annotate.people import WebQueueBackend

    said = []
    backend = WebQueueBackend(tmp_path, serve=True, port=0, log=said.append)
    try:
        assert backend.server.url.startswith("http://127.0.0.1:")
        assert backend.server.url in said[0] and "annotate token" in said[0]
        token = backend.store.issue_token("carol")
        r = httpx.get(backend.server.url + "/api/progress", headers={"Authorization": f"Bearer {token}"})
        assert r.json()["annotator"] == "carol"
    finally:
        backend.close()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{r.url.port}/healthz", timeout=2)
