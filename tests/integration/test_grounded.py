"""Grounded answers end to end: real broker, gateway, worker (SmolLM2) and retrieval index.

Covers the sources event and the query log, the out-of-scope answer, the answer cache, the
feedback topic, the OpenAI-compatible API through the official `openai` package, the
terminal chat, the web chat in a real headless Chromium, and a worker pointed at a Qdrant
server that is not there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from events.embedded import free_port
from events.topics import FEEDBACK_SUBMITTED, QUERY_COMPLETED
from tests.integration.harness import ROOT, Fleet, healthy, parse_sse, service_env, wait_until
from tests.integration.kafka_io import collect
from workers.inference.service import OUT_OF_SCOPE_ANSWER

pytestmark = pytest.mark.integration
MODEL = "smollm2-135m"


@dataclass(frozen=True)
class System:
    base: str
    bootstrap: str


@pytest.fixture(scope="module")
def system(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """One retrieval-enabled inference worker and a gateway on a free port."""
    fleet = Fleet(tmp_path_factory.mktemp("logs"))
    port = free_port()
    fleet.start(
        "worker",
        ["worker", "inference"],
        service_env(
            kafka_bootstrap,
            MELANCIA_BASE_MODEL=MODEL,
            MELANCIA_INFERENCE_CONCURRENCY="2",
            MELANCIA_TORCH_THREADS="1",
            MELANCIA_HEARTBEAT_S="1",
        ),
    )
    fleet.start("gateway", ["gateway"], service_env(kafka_bootstrap, MELANCIA_PORT=str(port)))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: healthy(base), 300, "gateway healthy with a retrieval worker")
        yield System(base, kafka_bootstrap)
    except BaseException:
        print(fleet.logs())
        raise
    finally:
        fleet.stop()


def _stream(base: str, body: dict[str, object]) -> tuple[str, list]:  # type: ignore[type-arg]
    with httpx.stream("POST", f"{base}/api/v1/query/stream", json=body, timeout=180) as response:
        assert response.status_code == 200, response.read()
        return response.headers["x-query-id"], list(parse_sse(response.iter_lines()))


def _logged(system: System, query_id: str) -> dict:  # type: ignore[type-arg]
    [record] = collect(
        system.bootstrap, QUERY_COMPLETED, lambda v: v["data"]["query_id"] == query_id, timeout_s=60
    )
    return record["data"]  # type: ignore[no-any-return]


def test_sources_come_before_the_tokens_and_the_log_records_what_was_retrieved(
    system: System,
) -> None:
    body = {"question": "Como calculo o ACOS da minha campanha?", "max_new_tokens": 12}
    query_id, events = _stream(system.base, body)
    kinds = [e.event for e in events]
    assert kinds[0] == "started" and kinds[1] == "sources" and kinds[-1] == "done"
    assert kinds.count("sources") == 1 and "token" in kinds
    sources = events[1].data["sources"]
    assert "metricas-acos" in [s["article_id"] for s in sources]
    logged = _logged(system, query_id)
    assert [(r["article_id"], r["score"]) for r in logged["retrieved"]] == [
        (s["article_id"], s["score"]) for s in sources
    ]
    assert logged["out_of_scope"] is False


def test_an_out_of_scope_question_is_answered_honestly(system: System) -> None:
    reply = httpx.post(
        f"{system.base}/api/v1/query",
        json={"question": "Qual é a capital da Austrália?"},
        timeout=120,
    ).json()
    assert reply["answer"] == OUT_OF_SCOPE_ANSWER and reply["sources"] == []
    assert _logged(system, reply["query_id"])["out_of_scope"] is True


def test_a_repeated_question_is_served_from_the_cache_and_logged(system: System) -> None:
    body = {"question": "O que é TACoS?", "max_new_tokens": 10}
    first = httpx.post(f"{system.base}/api/v1/query", json=body, timeout=120).json()
    again = httpx.post(
        f"{system.base}/api/v1/query", json={**body, "question": "o que é tacos"}, timeout=120
    ).json()
    assert not first["cached"] and again["cached"]
    assert again["answer"] == first["answer"] and again["sources"] == first["sources"]
    logged = _logged(system, again["query_id"])
    assert logged["cached"] is True and logged["answer"] == first["answer"]
    cleared = httpx.post(f"{system.base}/api/v1/cache/clear", timeout=10).json()
    assert cleared["cleared"] >= 1
    third = httpx.post(f"{system.base}/api/v1/query", json=body, timeout=120).json()
    assert not third["cached"] and third["answer"] == first["answer"]


def test_feedback_is_published_and_unknown_queries_are_404(system: System) -> None:
    reply = httpx.post(
        f"{system.base}/api/v1/query",
        json={"question": "O que é CPC?", "max_new_tokens": 4},
        timeout=120,
    ).json()
    sent = httpx.post(
        f"{system.base}/api/v1/feedback",
        json={"query_id": reply["query_id"], "rating": "down", "comment": "curta demais"},
        timeout=10,
    )
    assert sent.status_code == 202
    [event] = collect(
        system.bootstrap,
        FEEDBACK_SUBMITTED,
        lambda v: v["data"]["query_id"] == reply["query_id"],
    )
    assert event["data"]["rating"] == -1 and event["data"]["comment"] == "curta demais"
    unknown = httpx.post(
        f"{system.base}/api/v1/feedback", json={"query_id": "nope", "rating": "up"}, timeout=10
    )
    assert unknown.status_code == 404


def test_the_official_openai_client_streams_the_same_text_it_gets_whole(system: System) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{system.base}/v1", api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": "O que é ROAS e como calcular?"}]
    httpx.post(f"{system.base}/api/v1/cache/clear", timeout=10)
    whole = client.chat.completions.create(
        model="melancia",
        messages=messages,
        temperature=0,
        max_tokens=20,  # type: ignore[arg-type]
    )
    assert whole.object == "chat.completion" and whole.model == MODEL
    text = whole.choices[0].message.content
    assert text and whole.choices[0].finish_reason in ("stop", "length")
    assert whole.usage is not None and whole.usage.completion_tokens > 0

    httpx.post(f"{system.base}/api/v1/cache/clear", timeout=10)  # make the stream generate too
    stream = client.chat.completions.create(
        model=MODEL,
        messages=messages,  # type: ignore[arg-type]
        temperature=0,
        max_tokens=20,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens

    assert {MODEL, "melancia"} <= {m.id for m in client.models.list()}
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="melancia", messages=[])


def test_melancia_chat_prints_the_answer_and_its_sources(system: System) -> None:
    command = ["chat", "--url", system.base, "--max-new-tokens", "8", "Como reduzir o ACOS?"]
    done = subprocess.run(
        [sys.executable, "-m", "melancia", *command],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "[1] " in done.stdout and MODEL in done.stdout


def test_a_worker_pointed_at_a_missing_qdrant_server_stops_at_start_with_the_reason(
    kafka_bootstrap: str, tmp_path: pytest.TempPathFactory
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    log = tmp_path / "worker.log"  # type: ignore[operator]
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "melancia", "worker", "inference"],
            env=service_env(kafka_bootstrap, MELANCIA_BASE_MODEL="tiny", MELANCIA_QDRANT_URL=url),
            stdout=handle,
            stderr=handle,
            cwd=ROOT,
        )
        try:
            code = proc.wait(120)
        finally:
            if proc.poll() is None:
                proc.kill()
    output = log.read_text(errors="replace")
    assert code != 0, output
    assert f"Qdrant server at {url} is unreachable" in output
    assert "Traceback" not in output


# --- the web chat in a real browser -------------------------------------------------------


@pytest.fixture
def browser() -> Iterator[object]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (binary and driver_path):
        pytest.skip(
            "Chromium/chromedriver not installed: `make setup` installs them with apt "
            "(as root or with sudo); this machine could not"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=390,844")  # a phone-sized screen
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_web_chat_streams_an_answer_with_sources_takes_feedback_and_stops(
    system: System, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    driver: WebDriver = browser  # type: ignore[assignment]
    wait = WebDriverWait(driver, 180, poll_frequency=0.05)
    driver.get(f"{system.base}/")
    assert driver.find_element(By.CSS_SELECTOR, "html").get_attribute("lang") == "pt-BR"
    assert driver.find_element(By.CSS_SELECTOR, "label[for=pergunta]").text == "Sua pergunta"
    assert driver.execute_script("return document.documentElement.scrollWidth <= innerWidth")

    # Ask with the keyboard; watch text arrive while the answer is still streaming.
    field = driver.find_element(By.ID, "pergunta")
    field.send_keys("O que é ROAS e como ele se relaciona com o ACOS?", Keys.ENTER)
    turn = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".turno"))
    answer = turn.find_element(By.CSS_SELECTOR, ".resposta")
    text = turn.find_element(By.CSS_SELECTOR, ".texto")
    seen_streaming = wait.until(
        lambda _: (
            (text.text and answer.get_attribute("aria-busy") == "true")
            or "concluida" in (turn.get_attribute("class") or "")
        )
    )
    assert seen_streaming is True, "no text appeared before the answer finished"
    wait.until(lambda _: "concluida" in (turn.get_attribute("class") or ""))
    sources = turn.find_elements(By.CSS_SELECTOR, ".fontes li")
    assert sources and sources[0].find_element(By.TAG_NAME, "strong").text
    assert MODEL in turn.find_element(By.CSS_SELECTOR, ".meta").text
    query_id = turn.get_attribute("data-query-id")
    assert query_id

    turn.find_element(By.CSS_SELECTOR, ".voto[data-rating=up]").click()
    wait.until(lambda _: "Obrigado" in turn.find_element(By.CSS_SELECTOR, ".obrigado").text)
    [vote] = collect(
        system.bootstrap, FEEDBACK_SUBMITTED, lambda v: v["data"]["query_id"] == query_id
    )
    assert vote["data"]["rating"] == 1

    # A long answer, stopped with the Parar button once it has started.
    driver.find_element(By.CSS_SELECTOR, ".ajustes summary").click()
    tokens = driver.find_element(By.ID, "max-tokens")
    tokens.clear()
    tokens.send_keys("400")
    field.send_keys("Escreva um guia longo sobre campanhas de Product Ads no Mercado Livre.")
    driver.find_element(By.ID, "enviar").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".turno")) == 2)
    second = driver.find_elements(By.CSS_SELECTOR, ".turno")[1]
    wait.until(lambda _: second.find_element(By.CSS_SELECTOR, ".texto").text)
    started = time.monotonic()
    driver.find_element(By.ID, "parar").click()
    wait.until(lambda _: "interrompida" in (second.get_attribute("class") or ""))
    assert driver.find_element(By.ID, "estado").text == "Geração interrompida."
    assert driver.find_element(By.ID, "enviar").is_enabled()
    stopped_id = second.get_attribute("data-query-id")
    logged = _logged(system, str(stopped_id))
    assert logged["finish_reason"] == "cancelled" and logged["completion_tokens"] < 400
    assert time.monotonic() - started < 60
