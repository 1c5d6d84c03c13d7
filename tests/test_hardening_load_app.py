"""The app under load: 16 gradio_client clients × 6 requests at once on loopback, mixing normal, empty and
oversized text. Valid requests all succeed with the right answer, oversized ones get the clear message, and the
server still answers afterwards. Prints the latency percentiles (seconds per request, as a client sees them).
"""

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_app import app, free_port

from translate.translator import Translator

CLIENTS, REQUESTS = 16, 6
TIMEOUT = 120  # seconds for any one request; the whole test is bounded by CLIENTS × REQUESTS × TIMEOUT at worst
LIMIT_MESSAGE = "the limit is 5,000"
# (kind, text, expected answer or None for a refusal); each client sends all six, starting at a different one
REQUESTS_MIX = [
    ("normal", "आप कैसे हैं", "How are you"),
    ("empty", "", ""),
    ("oversized", "क" * (app.MAX_CHARS + 1), None),
    ("normal", "धन्यवाद।\n\nयह मेरा घर है।", "Thank you.\n\nThis is my house."),
    ("empty", "  \n\t ", ""),
    ("oversized", "मैं ठीक हूँ। " * 100_000, None),  # 1.3 million characters
]

pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    """The demo served on a free loopback port."""
    demo = app.build_demo(Translator.from_dir(tiny_model_dir))
    url = app.launch(demo, "127.0.0.1", free_port(), block=False)
    assert url.startswith("http://127.0.0.1:")
    yield url
    demo.close()


def one_client(url: str, first: int) -> list[tuple[int, float, str | None, str | None]]:
    """Send the six requests in turn: (index in REQUESTS_MIX, seconds, answer, error message) for each."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    results = []
    for k in range(REQUESTS):
        index = (first + k) % len(REQUESTS_MIX)
        start = time.perf_counter()
        try:
            answer = client.submit(REQUESTS_MIX[index][1], api_name="/translate").result(timeout=TIMEOUT)
            error = None
        except Exception as err:  # noqa: BLE001 (collected and checked below)
            answer, error = None, str(err)
        results.append((index, time.perf_counter() - start, answer, error))
    return results


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def test_sixteen_clients_six_requests_each(server, capsys):
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        futures = [pool.submit(one_client, server, i) for i in range(CLIENTS)]
        results = [r for f in futures for r in f.result(timeout=REQUESTS * TIMEOUT)]
    assert len(results) == CLIENTS * REQUESTS

    valid = [(REQUESTS_MIX[i][2], seconds, answer, error) for i, seconds, answer, error in results
             if REQUESTS_MIX[i][0] != "oversized"]
    refused = [(seconds, answer, error) for i, seconds, answer, error in results if REQUESTS_MIX[i][0] == "oversized"]
    assert [r for r in valid if r[3] is not None] == []  # 0 errors for valid input
    assert all(answer == expected for expected, _, answer, _ in valid)
    assert len(refused) == CLIENTS * 2 and all(answer is None and LIMIT_MESSAGE in error for _, answer, error in refused)

    from gradio_client import Client  # the server is still there and still right

    assert Client(server, verbose=False).predict("धन्यवाद।", api_name="/translate") == "Thank you."

    ok, no = [r[1] for r in valid], [r[0] for r in refused]
    with capsys.disabled():
        print(f"\napp under load ({CLIENTS} clients x {REQUESTS} requests): valid requests p50 "
              f"{percentile(ok, 50):.3f} s, p95 {percentile(ok, 95):.3f} s (n={len(ok)}); oversized "
              f"p50 {percentile(no, 50):.3f} s, p95 {percentile(no, 95):.3f} s (n={len(no)})")
