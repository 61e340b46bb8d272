from fastapi.testclient import TestClient


def test_healthz_reports_database_and_queue_without_login(api: TestClient) -> None:
    response = api.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["database"] == "ok"
    assert body["queue"] == "ok"
