"""The live API through a real uvicorn server in a real ``gridq live run``, over HTTP.

Tokens: none or a wrong one gets 401, a viewer's override 403, an operator's override is
taken by the controller at its next tick; no token ever reaches the log or the store.
"""

import json
import re
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gridq.io.live_store import LiveStore
from tests.conftest import invoke
from tests.live.livesites import Simulator, events, free_port, live_run, make_live_site
from tests.report.test_report import assert_offline, console_errors, render

SPEED = 300.0


def request(
    url: str, token: str | None = None, method: str = "GET", body: object = None
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one HTTP request."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    call = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(call, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def wait_for(check, what: str, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"waited {seconds:g} s for {what}")


def make_token(site_dir: Path, name: str, role: str) -> str:
    result = invoke("live", "token", site_dir, "--name", name, "--role", role)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """A home under control with its API up: base URL, tokens, site and log file."""
    root = tmp_path_factory.mktemp("api")
    api_port = free_port()
    site = make_live_site(
        root, "pv_battery_tou", 2041, 3, "persistence_day", 60, api={"port": api_port}
    )
    tokens = {
        "viewer": make_token(site.site_dir, "vic", "viewer"),
        "operator": make_token(site.site_dir, "olga", "operator"),
    }
    log = root / "live.log"
    with Simulator(site, speed=SPEED):
        controller = live_run(site, until=site.start + pd.Timedelta(hours=4), log=log)
        base = f"http://127.0.0.1:{api_port}"
        try:
            wait_for(lambda: "api_listening" in log.read_text(), "the API to listen")
            yield base, tokens, site, log, controller
        finally:
            if controller.poll() is None:
                controller.wait(120)
    assert controller.returncode == 0, log.read_text()[-2000:]


def test_no_token_or_a_wrong_one_is_401(served) -> None:
    base, *_ = served
    status, headers, _ = request(f"{base}/status")
    assert status == 401
    assert headers.get("www-authenticate", headers.get("WWW-Authenticate")) == "Bearer"
    assert request(f"{base}/status", token="not-a-token")[0] == 401
    assert request(f"{base}/metrics")[0] == 401


def test_a_viewer_reads_but_cannot_override(served) -> None:
    base, tokens, *_ = served
    status, _, body = request(f"{base}/status", tokens["viewer"])
    assert status == 200
    assert json.loads(body)["mode"] in ("plan", "starting", "last_plan", "rule_based")
    override = {"setpoint_kw": 1.0, "duration_s": 600, "reason": "test"}
    assert request(f"{base}/override", tokens["viewer"], "POST", override)[0] == 403
    assert request(f"{base}/override", tokens["viewer"], "DELETE")[0] == 403


def test_an_operators_override_is_taken_then_cleared(served) -> None:
    base, tokens, site, *_ = served
    override = {"setpoint_kw": -1.5, "duration_s": 3 * 3600, "reason": "site visit"}
    status, _, body = request(f"{base}/override", tokens["operator"], "POST", override)
    assert status == 201, body

    def current() -> dict:
        return json.loads(request(f"{base}/status", tokens["viewer"])[2])

    seen = wait_for(lambda: (s := current())["mode"] == "override" and s, "the override")
    assert seen["override"]["setpoint_kw"] == -1.5
    assert seen["override"]["reason"] == "site visit (by olga)"
    assert request(f"{base}/override", tokens["operator"], "DELETE")[0] == 200
    wait_for(lambda: current()["mode"] != "override", "the override to end")
    bad = {"setpoint_kw": 1.0, "duration_s": -5, "reason": "x"}
    status, _, body = request(f"{base}/override", tokens["operator"], "POST", bad)
    assert status == 422
    assert b"duration_s" in body


def test_plan_telemetry_events_and_metrics(served) -> None:
    base, tokens, site, *_ = served
    viewer = tokens["viewer"]
    wait_for(lambda: json.loads(request(f"{base}/status", viewer)[2])["plan"], "a plan")
    status, _, body = request(f"{base}/plan", viewer)
    assert status == 200
    plan = json.loads(body)
    assert pd.Timestamp(plan["issued_at"]) >= site.start
    assert len(plan["steps"]) >= 4
    for row in plan["steps"]:
        assert row["battery_charge_kw"] >= 0
        assert row["battery_discharge_kw"] >= 0
    wait_for(
        lambda: json.loads(
            request(
                f"{base}/telemetry?from={site.start_text}&to={site.end_text}".replace(
                    "Z", "%2B00:00"
                ),
                viewer,
            )[2]
        )["steps"],
        "a recorded step",
    )
    status, _, body = request(f"{base}/events?limit=5", viewer)
    assert status == 200
    assert 1 <= len(json.loads(body)["events"]) <= 5
    status, headers, body = request(f"{base}/metrics", viewer)
    assert status == 200
    text = body.decode()
    for name in (
        "gridq_tick_latency_seconds_count",
        "gridq_plan_seconds_count",
        "gridq_plan_age_seconds",
        "gridq_soc_kwh",
        "gridq_net_import_kw",
        "gridq_fallbacks_total",
        "gridq_device_errors_total",
        "gridq_alarms_total",
        'gridq_mode{mode="safe"} 0.0',
    ):
        assert name in text, name
    assert request(f"{base}/openapi.json")[0] == 200


def test_no_token_reaches_the_log_or_the_store(served) -> None:
    base, tokens, site, log, controller = served
    controller.wait(120)
    logged = log.read_text()
    store = (site.site_dir / "live.sqlite").read_bytes()
    for token in tokens.values():
        assert token not in logged
        assert token.encode() not in store
    lines = [e for e in events(logged) if e.get("event") == "api"]
    assert {e["caller"] for e in lines} >= {"vic", "olga", None}
    assert {e["status"] for e in lines} >= {200, 201, 401, 403, 422}
    reasons = LiveStore(site.site_dir / "live.sqlite").events()["reason"]
    assert reasons.str.contains("site visit \\(by olga\\)").any()


def test_another_address_without_tls_is_refused(tmp_path: Path) -> None:
    site = make_live_site(
        tmp_path, "pv_battery_tou", 2042, 2, "persistence_day", 60,
        api={"host": "0.0.0.0", "port": free_port()},
    )  # fmt: skip
    result = invoke("live", "run", site.site_dir)
    assert result.exit_code == 2
    assert "insecure_bind" in result.output
    assert len(result.output.strip().splitlines()) == 1
    config = yaml.safe_load((site.site_dir / "live.yaml").read_text())
    config["api"]["insecure_bind"] = True
    (site.site_dir / "live.yaml").write_text(yaml.safe_dump(config))
    for name, role in (("a b", "viewer"), ("ann", "admin")):
        assert invoke("live", "token", site.site_dir, "--name", name, "--role", role).exit_code == 2
    assert not (site.site_dir / "api_tokens").exists()


def test_the_live_report_shows_the_run_in_a_browser(served, tmp_path: Path) -> None:
    base, tokens, site, log, controller = served
    controller.wait(120)
    page = tmp_path / "live_report.html"
    result = invoke("live", "report", site.site_dir, "--out", page)
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert_offline(text)
    store = LiveStore(site.site_dir / "live.sqlite")
    plans, steps = len(store.plans()), len(store.steps())
    store.close()
    assert f'<td id="plans-adopted">{plans:,}</td>' in text
    assert f'<td id="steps-recorded">{steps:,}</td>' in text
    assert re.search(r'<td id="time-in-override">[0-9.]+% \(1 spells\)</td>', text)
    assert "site visit (by olga)" in text
    rendered = render(page.resolve(), tmp_path)
    assert 'data-ready="yes"' in rendered.stdout
    assert 'data-charts="3"' in rendered.stdout
    for chart_id in ("plan-vs-actual", "monthly-peaks", "events"):
        assert re.search(f'<div id="{chart_id}" class="[^"]*js-plotly-plot', rendered.stdout)
    assert console_errors(rendered) == []
    again = tmp_path / "again.html"
    assert invoke("live", "report", site.site_dir, "--out", again).exit_code == 0
    assert again.read_bytes() == page.read_bytes()


def test_a_report_of_a_site_never_run_is_one_line(tmp_path: Path) -> None:
    site = make_live_site(tmp_path, "pv_battery_tou", 2043, 2, "persistence_day", 60)
    result = invoke("live", "report", site.site_dir, "--out", tmp_path / "page.html")
    assert result.exit_code == 2
    assert "run gridq live run" in result.output
    assert not (tmp_path / "page.html").exists()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, PEM files in ``folder``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert, private = folder / "api.pem", folder / "api.key"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, private


def test_another_address_with_tls_serves_https(tmp_path: Path) -> None:
    api_port = free_port()
    site = make_live_site(
        tmp_path, "pv_battery_tou", 2044, 2, "persistence_day", 60,
        api={"host": "0.0.0.0", "port": api_port, "tls_cert": "api.pem", "tls_key": "api.key"},
    )  # fmt: skip
    cert, _ = self_signed(site.site_dir)
    token = make_token(site.site_dir, "tia", "viewer")
    log = tmp_path / "live.log"
    with Simulator(site, speed=SPEED):
        controller = live_run(site, until=site.start + pd.Timedelta(hours=1), log=log)
        try:
            wait_for(lambda: "api_listening" in log.read_text(), "the API to listen")
            trusted = ssl.create_default_context(cafile=str(cert))
            call = urllib.request.Request(
                f"https://127.0.0.1:{api_port}/status",
                headers={"Authorization": f"Bearer {token}"},
            )
            with urllib.request.urlopen(call, timeout=10, context=trusted) as answer:
                assert answer.status == 200
                assert "mode" in json.loads(answer.read())
            # Plain HTTP on the TLS port gets no answer a client could take for the API's.
            with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
                request(f"http://127.0.0.1:{api_port}/status", token)
        finally:
            controller.wait(120)
    assert controller.returncode == 0, log.read_text()[-2000:]
    assert '"url": "https://0.0.0.0:' in log.read_text()
