"""The Braintree SDK's response parsing, on the C XML parser instead of minidom.

Why: profiled under `paystream bench executor`, the SDK's `XmlUtil.dict_from_xml` (a
minidom DOM built in pure Python, then walked) took ~21 % of the worker's CPU, more than
any other single stage: a sale answer is ~100 elements. `parse` below builds the same
dict from `xml.etree.ElementTree` (expat feeding C-built elements), rule for rule as the
SDK's `braintree.util.parser.Parser` does it; tests/gateway/test_sdk_xml.py checks both
give equal results on the simulator's answers and on edge cases of the format.

`install_fast_parser()` points the SDK's HTTP layer at it. The SDK still builds every request and
turns every parsed dict into its result objects; only the XML-to-dict step is ours.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, datetime
from typing import Any

from braintree.util import http as bt_http
from braintree.util.datetime_parser import parse_datetime
from braintree.util.xml_util import XmlUtil

# As the SDK does: whitespace between tags is not content.
_BETWEEN_TAGS = re.compile(r">\s+<")
# The gateway's usual timestamp form; the SDK reads it as a naive UTC datetime, which
# fromisoformat gives without strptime's cost. Anything else goes to the SDK's parser.
_PLAIN_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def parse(xml: str | bytes) -> dict[str, Any]:
    if isinstance(xml, bytes):
        xml = xml.decode("utf-8")
    root = ET.fromstring(_BETWEEN_TAGS.sub("><", xml).strip())
    return {_underscored(root.tag): _node(root)}


# Tag names repeat across answers (a sale answer is ~100 elements of a few dozen names).
_TAGS: dict[str, str] = {}


def _underscored(tag: str) -> str:
    name = _TAGS.get(tag)
    if name is None:
        name = _TAGS[tag] = tag.replace("-", "_")
    return name


def _node(element: ET.Element) -> Any:
    attrs = element.attrib
    if attrs.get("type") == "array":
        return [_node(child) for child in element]
    if element.text:  # the first child is text (the SDK reads that text node only)
        return _content(attrs, element.text)
    if len(element) == 0:
        return _content(attrs, None)
    return _dict(element)


def _dict(element: ET.Element) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for child in element:
        tag = _underscored(child.tag)
        attrs = child.attrib
        text = child.text
        # Most elements are plain text without attributes; they take the short way
        # (`_content` would return the text itself).
        value = text if text and not attrs else _node(child)
        # Arrays and text overwrite; other elements a falsy value, as in the SDK.
        if text or not result.get(tag) or attrs.get("type") == "array":
            result[tag] = value
        else:
            # A repeated element becomes a list, as in the SDK (first one kept).
            if not isinstance(result[tag], list):
                result[tag] = [result[tag]]
            result[tag].append(value)
    return result


def _content(attrs: dict[str, str], content: str | None) -> Any:
    kind = attrs.get("type")
    if kind == "integer":
        return int(content)  # type: ignore[arg-type]  # the SDK fails alike on None
    if kind == "boolean":
        return content in ("true", "1")
    if kind == "datetime":
        if content is not None and _PLAIN_UTC.fullmatch(content):
            return datetime.fromisoformat(content[:-1])
        return parse_datetime(content)
    if kind == "date":
        return _date(content)
    if attrs.get("nil") == "true":
        return None
    return content or ""


def _date(content: str | None) -> date:
    return datetime.strptime(content, "%Y-%m-%d").date()  # type: ignore[arg-type]


class _FastXmlUtil(XmlUtil):
    @staticmethod
    def dict_from_xml(xml: str | bytes) -> dict[str, Any]:
        return parse(xml)


def install_fast_parser() -> None:
    """Make the SDK's HTTP layer parse responses with `parse` (idempotent)."""
    bt_http.XmlUtil = _FastXmlUtil
