"""The web demo: its handlers, the `/translate` API through gradio_client, and the page in a real browser."""

import importlib.util
import json
import shutil
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from translate.heatmap import attention_html, piece_label, weight_color
from translate.translator import Translator


def load_app():
    """app.py sits at the repository root, outside the package, as `python app.py` wants it."""
    spec = importlib.util.spec_from_file_location("app", Path(__file__).resolve().parent.parent / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    return module


app = load_app()
# gradio's own queue statistics use pandas options that pandas 3 deprecates; not ours to fix
pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def translator(tiny_model_dir) -> Translator:
    return Translator.from_dir(tiny_model_dir)


@pytest.fixture(scope="module")
def reverse_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model relabelled English → Hindi: enough to exercise the direction switch."""
    out = tmp_path_factory.mktemp("reverse") / "en-hi"
    shutil.copytree(tiny_model_dir, out)
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    (out / "config.json").write_text(json.dumps({**config, "src_lang": "en", "tgt_lang": "hi"}), encoding="utf-8")
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(translator):
    """The demo served on a free loopback port for the duration of the module."""
    demo = app.build_demo(translator)
    url = app.launch(demo, "127.0.0.1", free_port(), block=False)
    yield url
    demo.close()


# --- handlers ------------------------------------------------------------------------------------------------


def test_translate_text(translator):
    assert app.translate_text(translator, "आप कैसे हैं") == "How are you"
    assert app.translate_text(translator, "आप कैसे हैं", beam=1) == "How are you"


def test_empty_input_gives_empty_output(translator):
    assert app.translate_text(translator, "") == ""
    assert app.translate_text(translator, "  \n ") == ""
    assert app.translate_with_details(translator, "") == ("", [])


def test_lines_stay_aligned(translator):
    out = app.translate_text(translator, "आप कैसे हैं\n\nधन्यवाद।\r\n")
    assert out.split("\n") == ["How are you", "", "Thank you."]


def test_over_the_limit_is_refused_with_a_message(translator):
    with pytest.raises(gr.Error, match="limit is 5,000"):
        app.translate_text(translator, "क" * (app.MAX_CHARS + 1))
    with pytest.raises(gr.Error, match="limit is 5,000"):
        app.translate_with_details(translator, "क " * app.MAX_CHARS)


def test_split_lines():
    assert app.split_lines("a\r\nb\n") == ["a", "b"]
    assert app.split_lines("a\n\nb") == ["a", "", "b"]
    assert app.split_lines("") == [""]
    assert app.split_lines("a\u2028b") == ["a\u2028b"]  # only "\n" ends a line, as in the CLI


def test_details_nbest_and_heatmap(translator):
    out, cands = app.translate_with_details(translator, "आप कैसे हैं", beam=5)
    assert out == "How are you" and cands[0].text == "How are you"
    assert 1 <= len(cands) <= app.N_BEST
    rows = app.nbest_rows(cands)
    assert [row[0] for row in rows] == list(range(1, len(cands) + 1))
    assert [row[2] for row in rows] == sorted((row[2] for row in rows), reverse=True)
    html = app.heatmap(translator, cands[0])
    assert ">आप<" in html and ">you<" in html and ">&lt;/s&gt;<" in html and "▁आप" not in html
    assert html.count("<td") == (len(cands[0].src_pieces) + 1) * (len(cands[0].tgt_pieces) + 1)
    assert app.heatmap(translator, None) == app.HEATMAP_HINT


def test_details_explain_the_first_line_of_several(translator):
    out, cands = app.translate_with_details(translator, "\nआप कैसे हैं\nधन्यवाद।", beam=1)
    assert out.split("\n") == ["", "How are you", "Thank you."]
    assert len(cands) == 1 and cands[0].text == "How are you"


def test_attention_html():
    attn = np.array([[0.9, 0.1], [0.2, 0.8]])  # 1 target piece + EOS, 1 source piece + EOS
    html = attention_html(["▁नमस्ते"], ["▁Hello"], attn, "Hindi", "English")
    assert "नमस्ते" in html and "Hello" in html and 'title="नमस्ते → Hello: 0.90"' in html
    assert html.count("<td") == 4 and "<script" not in attention_html(["<script>"], ["x"], attn)
    with pytest.raises(ValueError, match="does not match"):
        attention_html(["a", "b"], ["c"], attn)
    assert piece_label("▁घर") == "घर" and piece_label("▁") == "␣" and piece_label("ता") == "ता"
    assert weight_color(0.0) == "#fff7ec" and weight_color(1.0) == "#7f0000" and weight_color(7) == "#7f0000"


def test_translate_file(translator, tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes("\ufeffआप कैसे हैं\r\n\nधन्यवाद।\n".encode())
    seen = []
    out = app.translate_file(translator, src, tmp_path, beam=1, progress=lambda done, desc: seen.append(done))
    assert out.name == "in.en.txt"
    assert out.read_text(encoding="utf-8") == "How are you\n\nThank you.\n"
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


def test_translate_file_in_chunks(translator, tmp_path, monkeypatch):
    monkeypatch.setattr(app, "FILE_CHUNK", 2)
    src = tmp_path / "many.txt"
    src.write_text("आप कैसे हैं\n" * 5, encoding="utf-8")
    seen = []
    out = app.translate_file(translator, src, tmp_path, progress=lambda done, desc: seen.append(desc))
    assert out.read_text(encoding="utf-8") == "How are you\n" * 5
    assert seen == ["0 of 5 lines", "2 of 5 lines", "4 of 5 lines", "5 lines"]


def test_translate_empty_file(translator, tmp_path):
    src = tmp_path / "empty.txt"
    src.write_bytes(b"")
    assert app.translate_file(translator, src, tmp_path).read_text(encoding="utf-8") == ""


def test_bad_files_get_a_clear_message(translator, tmp_path, monkeypatch):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("café\n".encode("latin-1"))
    with pytest.raises(gr.Error, match="not UTF-8"):
        app.translate_file(translator, latin1, tmp_path)
    monkeypatch.setattr(app, "MAX_FILE_BYTES", 10)
    big = tmp_path / "big.txt"
    big.write_text("आप कैसे हैं\n", encoding="utf-8")
    with pytest.raises(gr.Error, match="limit is 10"):
        app.translate_file(translator, big, tmp_path)


def test_direction_switch_only_with_two_models(translator, reverse_model_dir):
    def radio(demo: gr.Blocks) -> dict:
        return next(c["props"] for c in demo.config["components"] if c["type"] == "radio")

    one = radio(app.build_demo(translator))
    assert one["visible"] is False
    both = radio(app.build_demo(translator, Translator.from_dir(reverse_model_dir)))
    assert both["visible"] is True
    assert [choice[0] for choice in both["choices"]] == ["Hindi → English", "English → Hindi"]


def test_load_translators(tiny_model_dir, reverse_model_dir, monkeypatch, tmp_path):
    monkeypatch.setattr(app, "REVERSE_MODEL", tmp_path / "absent")
    main, reverse = app.load_translators(tiny_model_dir, None)
    assert app.direction(main) == "Hindi → English" and reverse is None
    monkeypatch.setattr(app, "REVERSE_MODEL", reverse_model_dir)
    assert app.direction(app.load_translators(tiny_model_dir, None)[1]) == "English → Hindi"
    broken = tmp_path / "broken"
    broken.mkdir()
    monkeypatch.setattr(app, "REVERSE_MODEL", broken)
    assert app.load_translators(tiny_model_dir, None)[1] is None  # a default that does not load is skipped
    with pytest.raises(app.UserError):
        app.load_translators(tiny_model_dir, broken)  # one asked for must load


def test_main_reports_a_bad_model_dir(tmp_path, capsys):
    assert app.main(["--model", str(tmp_path / "nope")]) == 2
    assert "model directory not found" in capsys.readouterr().err


def test_defaults():
    args = app.parse_args([])
    assert (args.model, args.host, args.port) == (app.SHIPPED_MODEL, "127.0.0.1", 7860)


def test_usage_mistakes_are_one_line_errors(capsys):
    with pytest.raises(SystemExit) as exc:
        app.parse_args(["--port", "eighty"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "app.py: error: argument --port: invalid int value: 'eighty' (see app.py --help)"]


# --- the API through gradio_client ---------------------------------------------------------------------------


def test_client_translate(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert list(endpoints) == ["/translate"]
    assert [p["parameter_name"] for p in endpoints["/translate"]["parameters"]] == ["text"]
    assert client.predict("आप कैसे हैं", api_name="/translate") == "How are you"
    assert client.predict("", api_name="/translate") == ""
    with pytest.raises(Exception, match="limit is 5,000"):
        client.predict("क" * (app.MAX_CHARS + 1), api_name="/translate")


def test_concurrent_clients_are_queued(server):
    from gradio_client import Client

    def ask(_: int) -> str:
        return Client(server, verbose=False).predict("धन्यवाद।", api_name="/translate")

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(ask, range(6), timeout=120)) == ["Thank you."] * 6


# --- the page in a real browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page(server):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium fonts-lohit-deva)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1280, "height": 1000})
        tab.goto(server)
        yield tab
        browser.close()


def test_browser_translates(page, translator):
    from playwright.sync_api import expect

    page.locator("#src textarea").fill("आप कैसे हैं")
    page.locator("#go").click()
    expect(page.locator("#tgt textarea")).to_have_value("How are you", timeout=60_000)
    expect(page.locator("#heatmap table.attn")).to_contain_text("आप")
    expect(page.locator("#nbest")).to_contain_text("How are you")
    _, cands = app.translate_with_details(translator, "आप कैसे हैं")
    columns = page.locator("#heatmap th.col")
    expect(columns).to_have_count(len(cands[0].tgt_pieces) + 1)
    page.locator("#nbest [role=gridcell][data-row='1'][data-col='1']").click()  # the second-best candidate
    expect(columns).to_have_count(len(cands[1].tgt_pieces) + 1)


def test_browser_enter_and_examples(page):
    from playwright.sync_api import expect

    page.locator("#src textarea").fill("धन्यवाद।")
    page.locator("#src textarea").press("Enter")
    expect(page.locator("#tgt textarea")).to_have_value("Thank you.", timeout=60_000)
    page.get_by_text("आपका नाम क्या है?", exact=True).click()
    expect(page.locator("#src textarea")).to_have_value("आपका नाम क्या है?")
    expect(page.locator("#tgt textarea")).to_have_value("What is your name?", timeout=60_000)


def test_browser_shows_the_length_limit(page):
    from playwright.sync_api import expect

    page.locator("#src textarea").fill("क" * (app.MAX_CHARS + 1))
    page.locator("#go").click()
    expect(page.get_by_text("the limit is 5,000").first).to_be_visible(timeout=30_000)


def test_browser_file_upload_and_download(page, tmp_path):
    from playwright.sync_api import expect

    src = tmp_path / "letter.txt"
    src.write_text("आप कैसे हैं\n\nधन्यवाद।\n", encoding="utf-8")
    page.get_by_text("Translate a .txt file").click()
    page.locator("#upload input[type=file]").set_input_files(str(src))
    expect(page.locator("#upload a[href$='/letter.txt']")).to_be_visible(timeout=30_000)  # uploaded
    page.locator("#go-file").click()
    link = page.locator("#result a[href$='/letter.en.txt']")
    expect(link).to_be_visible(timeout=60_000)
    with page.expect_download() as download:
        link.click()
    assert Path(download.value.path()).read_text(encoding="utf-8") == "How are you\n\nThank you.\n"
