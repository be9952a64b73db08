"""Tests for exchange_wss.numtext: JavaScript number text and the signed CRC32."""

from __future__ import annotations

import json
import pathlib
import zlib

import orjson
import pytest

from exchange_wss.numtext import crc32_signed, js_number_text, python_number_text

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "js_number_text.txt"
NODE_TEXTS = [line.strip() for line in FIXTURE.read_text().splitlines() if line.strip()]


def test_fixture_is_not_empty():
    """The node-generated fixture holds thousands of numbers to compare against."""
    assert len(NODE_TEXTS) > 3000


def test_js_number_text_of_float_matches_node():
    """Every float parsed from node's text prints back to exactly node's text."""
    mismatches = [(t, js_number_text(float(t))) for t in NODE_TEXTS
                  if js_number_text(float(t)) != t]
    assert mismatches == []


def test_js_number_text_of_decoded_json_matches_node():
    """Whatever orjson decodes a token to (int or float) prints back as the token."""
    decoded = orjson.loads("[" + ",".join(NODE_TEXTS) + "]")
    assert [js_number_text(v) for v in decoded] == NODE_TEXTS


@pytest.mark.parametrize(("value", "text"), [
    (1920.0, "1920"), (1920, "1920"), (7e-7, "7e-7"), (1.7e-7, "1.7e-7"),
    (0.0000011, "0.0000011"), (0.000001, "0.000001"), (1e21, "1e+21"),
    (123456789012345680000.0, "123456789012345680000"), (-0.5, "-0.5"), (0.0, "0"),
])
def test_js_number_text_known_cases(value, text):
    """Hand-picked cases around the plain/exponent boundaries match ECMAScript."""
    assert js_number_text(value) == text


def test_python_number_text_is_python_repr():
    """FTX's text is Python's float repr, exponent form included."""
    assert python_number_text(1e-7) == "1e-07"
    assert python_number_text(5001) == "5001.0"


def test_crc32_signed_check_value():
    """The CRC-32 check value of "123456789" (0xCBF43926) comes back signed."""
    assert crc32_signed("123456789") == 0xCBF43926 - 2 ** 32 == -873187034


def test_crc32_signed_positive_and_empty():
    """A CRC below 2**31 is unchanged and the empty string gives 0."""
    assert crc32_signed("abc") == zlib.crc32(b"abc") == 891568578
    assert crc32_signed("") == 0


def test_crc32_signed_agrees_with_masking():
    """Masking the signed value with 0xFFFFFFFF gives zlib's unsigned CRC."""
    for text in ("0.0000011:271510.49", "1:2:3", json.dumps(NODE_TEXTS[:50])):
        assert crc32_signed(text) & 0xFFFFFFFF == zlib.crc32(text.encode())
