"""A method a path does not serve is 405, and Allow names every method the path does serve."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/clients/0", "DELETE, GET, PATCH"),
        ("PUT", "/clients", "GET, POST"),
        ("OPTIONS", "/comms/bulk", "POST"),
        ("TRACE", "/templates/0", "DELETE, GET, PATCH"),
    ],
)
def test_a_method_the_path_does_not_serve_is_405_naming_the_ones_it_does(
    api: TestClient, method: str, path: str, allow: str
) -> None:
    response = api.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["error"]["code"] == "method_not_allowed"
