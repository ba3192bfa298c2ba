"""HTML message bodies as plain text: tags dropped, entities unescaped, one line per block."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
    "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul"})
_HIDDEN = frozenset({"head", "noscript", "script", "style", "template", "title"})
_SPACE = re.compile(r"\s+")
_TAG = re.compile(r"<[^>]*>?")


class _Collector(HTMLParser):
    """Collects a document's visible text, marking each block boundary with a newline."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag == "br" or tag in _BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" or tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(_SPACE.sub(" ", data))


def html_text(markup: str | None) -> str:
    """Return the visible text of an HTML fragment, one line per block or line break."""
    if not markup:
        return ""
    collector = _Collector()
    try:
        collector.feed(markup)
        collector.close()
        text = "".join(collector.parts)
    except AssertionError:
        # Python 3.11's HTMLParser fails an assertion on some malformed declarations ("<![<"):
        # one hostile message must not stop the source, so strip what looks like tags instead.
        text = unescape(_TAG.sub("\n", markup))
    lines = (_SPACE.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)
