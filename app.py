"""The web demo: type Hindi, read English, compare the n-best list, see the attention; translate whole .txt files.

    python app.py [--model DIR] [--reverse-model DIR] [--host 127.0.0.1] [--port 7860]

Each model loads once at start-up. `build_demo` makes the page and the `/translate` API endpoint; the handlers are
plain functions of a Translator, so tests call them directly. Nothing leaves the machine: no analytics, no share
link, fonts served locally.
"""

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from translate.cli import SHIPPED_MODEL, Parser
from translate.errors import UserError
from translate.heatmap import HEATMAP_CSS, MAX_PIECES, attention_html
from translate.translator import Candidate, Translator

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # read by gradio at call time: no telemetry calls
MAX_CHARS = 5_000  # longer text gets a message instead of a long wait; whole documents go through the file upload
MAX_FILE_BYTES = 2_000_000
FILE_CHUNK = 64  # lines per progress update
MAX_BEAM, N_BEST = 10, 5
CONCURRENCY, MAX_QUEUE = 2, 64  # decodes at once on a CPU; later requests wait in the queue
REVERSE_MODEL = SHIPPED_MODEL.parent / "en-hi"
LANGS = {"hi": "Hindi", "en": "English"}
EXAMPLES = {
    "hi": ["आप कैसे हैं", "आपका नाम क्या है?", "आज मौसम अच्छा है।", "मैं दिल्ली में रहता हूँ।",
           "क्या आप हिंदी बोलते हैं?"],
    "en": ["How are you", "What is your name?", "The weather is nice today.", "I live in Delhi."],
}
PLACEHOLDER = {"hi": "यहाँ हिंदी में लिखिए…", "en": "Type English here…"}
HEATMAP_HINT = '<p class="hint">Translate something to see which source pieces the decoder looked at.</p>'
FONTS = ["Lohit Devanagari", "Noto Sans Devanagari", "ui-sans-serif", "system-ui", "sans-serif"]
CSS = HEATMAP_CSS + """
.gradio-container { max-width: 1180px !important; margin: 0 auto; }
#src textarea, #tgt textarea { font-size: 1.3rem; line-height: 1.6; }
.hint { color: var(--body-text-color-subdued); font-size: 0.95rem; text-align: center; padding: 24px 0; }
#title h1 { margin-bottom: 0; }
.caption h3 { margin: 8px 0 2px 0; }
.caption p { color: var(--body-text-color-subdued); font-size: 0.9rem; margin: 0; }
#nbest span { font-family: var(--font) !important; font-size: 1rem; }
"""


def lang_name(code: str) -> str:
    """"Hindi" for "hi"; unknown codes as they are."""
    return LANGS.get(code, code)


def direction(translator: Translator) -> str:
    """The label of a model's direction, e.g. "Hindi → English"."""
    return f"{lang_name(translator.loaded.src_lang)} → {lang_name(translator.loaded.tgt_lang)}"


def split_lines(text: str) -> list[str]:
    """Lines of text split at "\\n" only (so line numbers match other tools), a final newline not making a line."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return lines[:-1] if lines and lines[-1] == "" and len(lines) > 1 else lines


def check_length(text: str) -> None:
    """Refuse text over MAX_CHARS with a message the page and API clients show."""
    if len(text) > MAX_CHARS:
        raise gr.Error(f"The text is {len(text):,} characters long; the limit is {MAX_CHARS:,}. "
                       "Split it, or translate it as a .txt file below.", title="Text too long")


def translate_text(translator: Translator, text: str, beam: int | None = None) -> str:
    """The translation of text, one output line per input line ("" for blank text); the `/translate` endpoint."""
    check_length(text)
    if not text.strip():
        return ""
    return "\n".join(translator.translate(split_lines(text), beam))


def translate_with_details(translator: Translator, text: str, beam: int | None = None) -> tuple[str, list[Candidate]]:
    """The translation of text and the n-best candidates of its first non-blank line (the one the page explains)."""
    check_length(text)
    lines = split_lines(text)
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if not filled:
        return "", []
    cands = translator.translate_nbest(lines[filled[0]], beam=beam, n_best=N_BEST)
    if len(filled) > 1:
        return "\n".join(translator.translate(lines, beam)), cands
    out = [""] * len(lines)
    out[filled[0]] = cands[0].text if cands else ""
    return "\n".join(out), cands


def nbest_rows(cands: list[Candidate]) -> list[list]:
    """Table rows (rank, translation, score) for the n-best list."""
    return [[k + 1, c.text, round(c.score, 3)] for k, c in enumerate(cands)]


def heatmap(translator: Translator, cand: Candidate | None) -> str:
    """The attention heatmap of one candidate as HTML, or a hint when there is none or it is too big to read."""
    if cand is None:
        return HEATMAP_HINT
    if max(len(cand.src_pieces), len(cand.tgt_pieces)) > MAX_PIECES:
        return f'<p class="hint">The heatmap is drawn for sentences of up to {MAX_PIECES} pieces.</p>'
    return attention_html(cand.src_pieces, cand.tgt_pieces, cand.attn, lang_name(translator.loaded.src_lang),
                          lang_name(translator.loaded.tgt_lang))


def translate_file(translator: Translator, path: str | Path, out_dir: Path, beam: int | None = None,
                   progress: Callable[[float, str], None] = lambda done, desc: None) -> Path:
    """Translate a UTF-8 .txt file line by line into out_dir/<name>.<tgt>.txt, one output line per input line."""
    path = Path(path)
    data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise gr.Error(f"{path.name} is {len(data):,} bytes; the limit is {MAX_FILE_BYTES:,}. "
                       "Use `hien translate` for bigger files.", title="File too big")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise gr.Error(f"{path.name} is not UTF-8 text (invalid byte at offset {err.start:,}). "
                       "Save it as UTF-8 and upload it again.", title="Not UTF-8") from None
    lines = split_lines(text) if text else []
    out: list[str] = []
    for start in range(0, len(lines), FILE_CHUNK):
        progress(start / len(lines), f"{start:,} of {len(lines):,} lines")
        out += translator.translate(lines[start : start + FILE_CHUNK], beam)
    progress(1.0, f"{len(lines):,} lines")
    dest = Path(tempfile.mkdtemp(dir=out_dir)) / f"{path.stem}.{translator.loaded.tgt_lang}.txt"
    dest.write_text("".join(line + "\n" for line in out), encoding="utf-8")
    return dest


def build_demo(translator: Translator, reverse: Translator | None = None) -> gr.Blocks:
    """The page for one model, with a direction switch when a reverse model is given; queued, not launched."""
    models = {direction(t): t for t in (translator, reverse) if t is not None}
    names = list(models)
    src_lang, tgt_lang = translator.loaded.src_lang, translator.loaded.tgt_lang
    out_dir = tempfile.TemporaryDirectory(prefix="hien-app-")  # kept alive by on_file; removed with the demo

    with gr.Blocks(title=f"{names[0]} translation", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        title = names[0] if len(names) == 1 else names[0].replace("→", "↔")
        gr.Markdown(f"# {title} translation\nAn offline neural translator: a bidirectional GRU encoder and an "
                    "attentional LSTM decoder over SentencePiece pieces, running on this machine. Press **Enter** "
                    f"or **Translate**; up to {MAX_CHARS:,} characters (Shift+Enter starts a new line, and each line "
                    "is translated on its own).", elem_id="title")
        pick = gr.Radio(names, value=names[0], label="Direction", visible=len(names) > 1)
        with gr.Row(equal_height=True):
            src = gr.Textbox(label=lang_name(src_lang), placeholder=PLACEHOLDER.get(src_lang), lines=1, max_lines=12,
                             autofocus=True, elem_id="src")
            tgt = gr.Textbox(label=lang_name(tgt_lang), lines=1, max_lines=12, interactive=False, buttons=["copy"],
                             elem_id="tgt")
        with gr.Row():
            beam = gr.Slider(1, MAX_BEAM, value=translator.decode.beam, step=1, label="Beam size",
                             info="1 = greedy; wider beams search more alternatives", scale=2)
            clear = gr.Button("Clear", variant="secondary", scale=1)
            go = gr.Button("Translate", variant="primary", scale=1, elem_id="go")
        examples = gr.Dataset(components=[src], samples=[[x] for x in EXAMPLES.get(src_lang, [])],
                              label="Examples (click one)", layout="gallery", elem_id="examples")
        with gr.Row():
            with gr.Column(scale=2):
                gr.Markdown("### Alternatives\nThe beam's best translations; the score is the length-normalised "
                            "log-probability. Click a row to see its attention.", elem_classes="caption")
                table = gr.Dataframe(
                    headers=["#", "Translation", "Score"], datatype=["number", "str", "number"], interactive=False,
                    show_label=False, wrap=True, column_widths=["10%", "68%", "22%"], buttons=["copy"],
                    elem_id="nbest")
            with gr.Column(scale=3):
                gr.Markdown("### Attention\nWhat the decoder looked at: one column per output piece, one row per "
                            "input piece (hover for the weight).", elem_classes="caption")
                attn = gr.HTML(HEATMAP_HINT, apply_default_css=False, elem_id="heatmap")
        cands = gr.State([])
        with gr.Accordion("Translate a .txt file", open=False):
            gr.Markdown(f"UTF-8 text, one sentence per line, up to {MAX_FILE_BYTES // 1_000_000} MB; the result has "
                        "one line per input line.")
            with gr.Row():
                upload = gr.File(label="Text file", file_types=[".txt"], type="filepath", elem_id="upload")
                result = gr.File(label="Translation (download)", interactive=False, elem_id="result")
            go_file = gr.Button("Translate file", variant="primary", elem_id="go-file")

        def on_translate(text: str, beam_size: float, name: str):
            model = models[name]
            out, found = translate_with_details(model, text, int(beam_size))
            return out, nbest_rows(found), heatmap(model, found[0] if found else None), found

        def on_select(found: list[Candidate], name: str, evt: gr.SelectData):
            row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
            return heatmap(models[name], found[row] if 0 <= row < len(found) else None)

        # gradio finds the progress tracker through the parameter's default value
        def on_file(path: str | None, beam_size: float, name: str, progress=gr.Progress()):  # noqa: B008
            if not path:
                raise gr.Error("Choose a .txt file first.", title="No file")
            return str(translate_file(models[name], path, Path(out_dir.name), int(beam_size),
                                      lambda done, desc: progress(done, desc=desc)))

        def on_direction(name: str):
            new_src, new_tgt = models[name].loaded.src_lang, models[name].loaded.tgt_lang
            return [gr.Textbox(label=lang_name(new_src), placeholder=PLACEHOLDER.get(new_src), value=""),
                    gr.Textbox(label=lang_name(new_tgt), value=""), [], HEATMAP_HINT, [],
                    gr.Dataset(samples=[[x] for x in EXAMPLES.get(new_src, [])])]

        outputs = [tgt, table, attn, cands]
        private = {"api_visibility": "private"}
        decode = {"concurrency_id": "decode", "concurrency_limit": CONCURRENCY}  # page and API share the limit
        gr.on([go.click, src.submit], on_translate, [src, beam, pick], outputs, **private, **decode)
        examples.click(lambda sample: sample[0], examples, src, queue=False, **private).then(
            on_translate, [src, beam, pick], outputs, **private, **decode)
        table.select(on_select, [cands, pick], attn, **private)
        clear.click(lambda: ["", "", [], HEATMAP_HINT, []], None, [src, *outputs], queue=False, **private)
        go_file.click(on_file, [upload, beam, pick], result, concurrency_limit=1, **private)
        pick.change(on_direction, pick, [src, *outputs, examples], **private)

        def translate(text: str) -> str:
            """Translate text (one output line per input line) with the default model and beam size."""
            return translate_text(translator, text)

        gr.api(translate, api_name="translate", **decode)
    return demo.queue(default_concurrency_limit=CONCURRENCY, max_size=MAX_QUEUE)


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = 7860, block: bool = True) -> str:
    """Serve the demo (theme and CSS are launch settings in Gradio 6); returns the local URL when not blocking."""
    theme = gr.themes.Default(primary_hue="orange", secondary_hue="amber",
                              font=[gr.themes.LocalFont("Source Sans Pro", weights=(400, 700)), *FONTS])
    _, url, _ = demo.launch(server_name=host, server_port=port, share=False, ssr_mode=False, mcp_server=False,
                            prevent_thread_lock=not block, max_file_size=MAX_FILE_BYTES, quiet=not block,
                            theme=theme, css=CSS, footer_links=["api", "gradio"])
    return url


def load_translators(model: Path, reverse: Path | None) -> tuple[Translator, Translator | None]:
    """The main model, and the reverse one when asked for (must load) or present at REVERSE_MODEL (may fail)."""
    main = Translator.from_dir(model)
    if reverse is not None:
        return main, Translator.from_dir(reverse)
    if not REVERSE_MODEL.is_dir():
        return main, None
    try:
        return main, Translator.from_dir(REVERSE_MODEL)
    except UserError as err:
        print(f"app.py: warning: no direction switch, the reverse model does not load: {err}", file=sys.stderr)
        return main, None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = Parser(prog="app.py", description="Serve the translation demo in the browser")
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL, help=f"model directory (default {SHIPPED_MODEL})")
    parser.add_argument("--reverse-model", type=Path, default=None,
                        help=f"model for the other direction (default {REVERSE_MODEL} when present)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        translators = load_translators(args.model, args.reverse_model)
    except UserError as err:
        print(f"app.py: error: {err}", file=sys.stderr)
        return 2
    launch(build_demo(*translators), args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
