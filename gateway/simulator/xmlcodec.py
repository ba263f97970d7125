"""Braintree's XML dialect: what the SDK's generator sends and its parser expects back.

Requests arrive with underscored tags and `type` attributes (array, boolean, integer);
responses use dashed tags, as the real gateway does (the SDK turns dashes back into
underscores). Written against `braintree/util/generator.py` and `parser.py`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

XmlValue = Any


class XmlDecodeError(ValueError):
    pass


def decode(body: bytes | str) -> dict[str, Any]:
    """Parse a request body into {root_tag: value}; an empty body gives {}."""
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    if not body.strip():
        return {}
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise XmlDecodeError(str(exc)) from None
    return {_key(root.tag): _node(root)}


def _key(tag: str) -> str:
    return tag.replace("-", "_")


def _node(el: ET.Element) -> Any:
    kind = el.get("type")
    if kind == "array":
        return [_node(child) for child in el]
    if len(el):
        out: dict[str, Any] = {}
        for child in el:
            k = _key(child.tag)
            if k in out:
                prev = out[k]
                out[k] = [*prev, _node(child)] if isinstance(prev, list) else [prev, _node(child)]
            else:
                out[k] = _node(child)
        return out
    text = el.text
    if el.get("nil") == "true":
        return None
    if kind == "boolean":
        return text in ("true", "1")
    if kind == "integer":
        return int(text or 0)
    return text if text is not None else ""


@dataclass(frozen=True, slots=True)
class Collection:
    """A non-array list of same-tag children, e.g. <credit-card-transactions type="collection">."""

    item_tag: str
    items: Iterable[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Tagged:
    """An array element rendered under its own tag instead of <item>."""

    tag: str
    value: Any


@dataclass(frozen=True, slots=True)
class Repeated:
    """Children sharing one tag with no wrapper, e.g. the <dispute>s of a search page."""

    items: Iterable[Any]


def encode(root: str, value: Any) -> str:
    parts: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    _emit(parts, root, value)
    return "".join(parts)


def _tag(name: str) -> str:
    return name.replace("_", "-")


def _emit(parts: list[str], name: str, value: Any) -> None:
    tag = _tag(name)
    if value is None:
        parts.append(f'<{tag} nil="true"/>')
    elif isinstance(value, bool):
        parts.append(f'<{tag} type="boolean">{"true" if value else "false"}</{tag}>')
    elif isinstance(value, int):
        parts.append(f'<{tag} type="integer">{value}</{tag}>')
    elif isinstance(value, datetime):
        parts.append(f'<{tag} type="datetime">{value.strftime("%Y-%m-%dT%H:%M:%SZ")}</{tag}>')
    elif isinstance(value, date):
        parts.append(f'<{tag} type="date">{value.isoformat()}</{tag}>')
    elif isinstance(value, Decimal):
        parts.append(f"<{tag}>{value}</{tag}>")
    elif isinstance(value, str):
        parts.append(f"<{tag}>{escape(value)}</{tag}>")
    elif isinstance(value, Mapping):
        parts.append(f"<{tag}>")
        for k, v in value.items():
            _emit(parts, k, v)
        parts.append(f"</{tag}>")
    elif isinstance(value, Repeated):
        for item in value.items:
            _emit(parts, name, item)
    elif isinstance(value, Collection):
        parts.append(f'<{tag} type="collection">')
        for item in value.items:
            _emit(parts, value.item_tag, item)
        parts.append(f"</{tag}>")
    elif isinstance(value, list | tuple):
        parts.append(f'<{tag} type="array">')
        for item in value:
            if isinstance(item, Tagged):
                _emit(parts, item.tag, item.value)
            else:
                _emit(parts, "item", item)
        parts.append(f"</{tag}>")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as Braintree XML")
