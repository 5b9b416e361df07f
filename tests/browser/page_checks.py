"""What a validator and axe would say of a page as the server sent it: markup that holds
together, every control labelled, and no accessibility violation. Shared by the browser
tests of the pages people open from their email."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from axe_playwright_python.sync_playwright import Axe

VOID = {"meta", "link", "input", "br", "img", "hr", "source", "area", "base", "col", "wbr"}


class MarkupCheck(HTMLParser):
    """What a validator would refuse in these pages: unclosed or stray tags, duplicate ids
    or attributes, a form control without a label naming it."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.ids: list[str] = []
        self.labelled: set[str] = set()
        self.controls: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = [name for name, _ in attrs]
        if len(names) != len(set(names)):
            self.problems.append(f"duplicate attribute in <{tag}>")
        values = dict(attrs)
        if values.get("id"):
            self.ids.append(str(values["id"]))
        if tag == "label" and values.get("for"):
            self.labelled.add(str(values["for"]))
        if tag in ("input", "select", "textarea") and values.get("type") != "hidden":
            self.controls.append(str(values.get("id")))
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.open[-1] if self.open else None}>")
        else:
            self.open.pop()


def watch(browser: Any) -> Any:
    """Keep the HTML of every page the browser loads as the server sent it (the DOM a
    browser builds has mended whatever the markup got wrong)."""
    sent: list[Any] = []
    browser.sent = sent

    def kept(response: Any) -> None:
        # Read later: a handler may not wait for a body.
        if response.request.resource_type == "document":
            sent.append(response)

    browser.page.on("response", kept)
    return browser


def assert_valid(browser: Any) -> None:
    """The page's markup as sent holds together; axe finds no accessibility violation."""
    page = browser.page
    checker = MarkupCheck()
    html = browser.sent[-1].text()
    checker.feed(html)
    assert checker.problems == [] and checker.open == [], (checker.problems, checker.open)
    assert len(checker.ids) == len(set(checker.ids)), checker.ids
    assert set(checker.controls) <= checker.labelled, checker.controls
    # axe is a script, and these pages run with JavaScript off: it reads the same HTML in
    # a context of its own, at the same width, where scripts may run.
    checking = page.context.browser.new_context(viewport=page.viewport_size, bypass_csp=True)
    try:
        copy = checking.new_page()
        copy.set_content(html)
        results = Axe().run(copy)
    finally:
        checking.close()
    assert results.violations_count == 0, results.generate_report()
