def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_login_and_me(client, make_user):
    admin = make_user("admin", "MX")
    r = client.get("/api/v1/auth/me", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["username"] == admin.username
