"""Take the README screenshot: serve the app on a free loopback port, translate "आप कैसे हैं" in Chromium, save it.

    python docs/screenshot.py [--model DIR] [--out docs/screenshot.png] [--chromium /usr/bin/chromium]

Needs Debian's Chromium and a Devanagari font: apt-get install chromium fonts-lohit-deva.
"""

import argparse
import importlib
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEXT = "आप कैसे हैं"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--font-render-hinting=none"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def screenshot(url: str, out: Path, chromium: Path, text: str = TEXT) -> str:
    """Translate `text` on the page at `url` and save a full-page PNG to `out`; returns the translation shown."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        page.goto(url)
        page.locator("#src textarea").fill(text)
        page.locator("#go").click()
        expect(page.locator("#heatmap table.attn")).to_be_visible(timeout=60_000)
        expect(page.locator("#tgt textarea")).not_to_have_value("", timeout=60_000)
        page.mouse.click(5, 5)  # move focus away so no caret or focus ring shows
        page.wait_for_timeout(500)  # let the last transitions settle
        page.screenshot(path=str(out), full_page=True)
        translation = page.locator("#tgt textarea").input_value()
        browser.close()
    return translation


def main() -> int:
    sys.path.insert(0, str(ROOT))
    app = importlib.import_module("app")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=app.SHIPPED_MODEL)
    parser.add_argument("--reverse-model", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--chromium", type=Path, default=Path("/usr/bin/chromium"))
    args = parser.parse_args()
    demo = app.build_demo(*app.load_translators(args.model, args.reverse_model))
    url = app.launch(demo, "127.0.0.1", free_port(), block=False)
    try:
        translation = screenshot(url, args.out, args.chromium)
    finally:
        demo.close()
    print(f"{TEXT} → {translation}; saved {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
