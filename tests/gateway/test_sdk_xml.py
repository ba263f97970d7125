"""gateway.sdk_xml gives exactly what the SDK's own parser gives, on the simulator's real
answers and on the corners of Braintree's XML dialect."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import braintree
import pytest
from braintree.util import http as bt_http
from braintree.util.parser import Parser
from braintree.util.xml_util import XmlUtil
from hypothesis import given
from hypothesis import strategies as st

from gateway import sdk_xml
from gateway.simulator.runner import SimulatorHandle
from gateway.simulator.xmlcodec import encode

CORNERS = [
    '<?xml version="1.0" encoding="UTF-8"?>\n<transaction>\n  <id>abc</id>\n'
    '  <amount>10.00</amount>\n  <empty></empty>\n  <blank>   </blank>\n'
    '  <gone nil="true"/>\n  <count type="integer">3</count>\n'
    '  <flag type="boolean">1</flag>\n  <off type="boolean">false</off>\n'
    '  <at type="datetime">2026-11-30T20:00:00Z</at>\n'
    '  <at-frac type="datetime">2026-11-30T20:00:00.25Z</at-frac>\n'
    '  <at-off type="datetime">2026-11-30T20:00:00-05:30</at-off>\n'
    '  <on type="date">2026-11-30</on>\n'
    '  <none type="array"/>\n  <list type="array"><item>a</item><item>b</item></list>\n'
    '  <rep><x>1</x></rep><rep><x>2</x></rep><rep><x>3</x></rep>\n'
    '  <text-rep>a</text-rep><text-rep>b</text-rep>\n'
    '  <empty-rep/><empty-rep><y>1</y></empty-rep>\n'
    '  <esc>a &amp; b &lt;c&gt;</esc>\n  <mixed>t<z>1</z></mixed>\n'
    '  <uni>caf\u00e9 \u2713</uni>\n</transaction>\n',
    "<api-error-response><errors><errors type=\"array\"/></errors>"
    "<message>Amount is required.</message></api-error-response>",
]


@pytest.mark.parametrize("xml", CORNERS)
def test_corners_match_the_sdk(xml: str) -> None:
    assert sdk_xml.parse(xml) == Parser(xml).parse()
    assert sdk_xml.parse(xml.encode()) == Parser(xml.encode()).parse()


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
            max_size=12),
    st.decimals(min_value=0, max_value=10**6, places=2).map(Decimal),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1))
    .map(lambda d: d.replace(microsecond=0, tzinfo=UTC)),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)),
)
_names = st.sampled_from(["id", "status", "amount", "credit_card", "order-id", "x"])
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(_names, inner, max_size=4)),
    max_leaves=20)


@given(st.dictionaries(_names, _values, max_size=6))
def test_the_simulators_dialect_matches_the_sdk(body: dict[str, Any]) -> None:
    xml = encode("transaction", body)
    assert sdk_xml.parse(xml) == Parser(xml).parse()


class _Both(XmlUtil):
    seen = 0

    @staticmethod
    def dict_from_xml(xml: str | bytes) -> dict[str, Any]:
        theirs = Parser(xml).parse()
        assert sdk_xml.parse(xml) == theirs
        _Both.seen += 1
        return theirs


@pytest.fixture
def both_parsers() -> Iterator[None]:
    original = bt_http.XmlUtil
    bt_http.XmlUtil = _Both
    try:
        yield
    finally:
        bt_http.XmlUtil = original


def test_real_answers_match_the_sdk(bt: braintree.BraintreeGateway, sim: SimulatorHandle,
                                    both_parsers: None) -> None:
    sale = bt.transaction.sale({"amount": "25.00", "payment_method_nonce": "fake-valid-nonce",
                                "order_id": "o-xml-1"})
    assert sale.is_success
    assert bt.transaction.submit_for_settlement(sale.transaction.id, "10.00").is_success
    bt.transaction.find(sale.transaction.id)
    assert not bt.transaction.sale({"amount": "-1",
                                    "payment_method_nonce": "fake-valid-nonce"}).is_success
    sim.settle(sale.transaction.id)
    assert bt.transaction.refund(sale.transaction.id, "5.00").is_success
    customer = bt.customer.create({"payment_method_nonce": "fake-valid-visa-nonce"})
    bt.customer.find(customer.customer.id)
    assert _Both.seen >= 7


def test_install_routes_the_sdk_through_the_fast_parser() -> None:
    original = bt_http.XmlUtil  # possibly installed already by an earlier transport
    try:
        bt_http.XmlUtil = XmlUtil
        sdk_xml.install_fast_parser()
        assert bt_http.XmlUtil is sdk_xml._FastXmlUtil
        assert bt_http.XmlUtil.dict_from_xml(CORNERS[1]) == Parser(CORNERS[1]).parse()
    finally:
        bt_http.XmlUtil = original
