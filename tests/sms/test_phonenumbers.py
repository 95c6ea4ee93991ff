import pytest
from django.test import override_settings

from dovecote.exceptions import InvalidAddress
from dovecote.sms.phonenumbers import (
    SmsEncoding,
    encoding_info,
    is_gsm7,
    normalize_number,
    normalize_originator,
)


@pytest.mark.parametrize(
    "value",
    ["+441134960000", "+44 113 496 0000", "+44 (0)113-496-0000", "0044 113 496 0000"],
)
def test_normalize_number_returns_e164(value):
    assert normalize_number(value, "GB") == "+441134960000"


def test_national_number_uses_given_region():
    assert normalize_number("(206) 555-0100", "US") == "+12065550100"


@override_settings(SMS_DEFAULT_REGION="GB")
def test_national_number_uses_sms_default_region_setting():
    assert normalize_number("0113 496 0000") == "+441134960000"


def test_national_number_without_region_names_value_and_setting():
    with pytest.raises(InvalidAddress, match=r"'0113 496 0000'.*SMS_DEFAULT_REGION"):
        normalize_number("0113 496 0000")


@pytest.mark.parametrize("value", ["+1555", "hello", "", "+44113496000000000"])
def test_invalid_number_raises_naming_it(value):
    with pytest.raises(InvalidAddress) as info:
        normalize_number(value)
    assert repr(value) in str(info.value)


def test_invalid_address_is_a_value_error():
    with pytest.raises(ValueError):
        normalize_number("nope")


def test_originator_number_is_normalised():
    assert normalize_originator("+1 206 555 0100") == "+12065550100"


@pytest.mark.parametrize("value", ["Dovecote", "A", "Shop 24", "ABCDEFGHIJK"])
def test_alphanumeric_originator_is_kept(value):
    assert normalize_originator(value) == value


@pytest.mark.parametrize("value", ["ABCDEFGHIJKL", "Dove-cote", "Grüße", ""])
def test_bad_alphanumeric_originator_raises(value):
    with pytest.raises(InvalidAddress):
        normalize_originator(value)


def test_alphanumeric_originator_refused_when_backend_needs_a_number():
    with pytest.raises(InvalidAddress, match="needs a phone number"):
        normalize_originator("Dovecote", allow_alphanumeric=False)
    assert normalize_originator("+12065550100", allow_alphanumeric=False)


def test_is_gsm7():
    assert is_gsm7("Hello @ £5 {ok} €")
    assert not is_gsm7("Grüße ç")  # ç is not GSM-7 (Ç is)
    assert not is_gsm7("😀")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", SmsEncoding("GSM-7", 0, 0, 160)),
        ("a" * 160, SmsEncoding("GSM-7", 160, 1, 160)),
        ("a" * 161, SmsEncoding("GSM-7", 161, 2, 153)),
        ("a" * 306, SmsEncoding("GSM-7", 306, 2, 153)),
        ("a" * 307, SmsEncoding("GSM-7", 307, 3, 153)),
        ("€" * 80, SmsEncoding("GSM-7", 160, 1, 160)),
        ("€" * 81, SmsEncoding("GSM-7", 162, 2, 153)),
        ("ç" * 70, SmsEncoding("UCS-2", 70, 1, 70)),
        ("ç" * 71, SmsEncoding("UCS-2", 71, 2, 67)),
        ("😀" * 35, SmsEncoding("UCS-2", 70, 1, 70)),
    ],
)
def test_encoding_info(body, expected):
    assert encoding_info(body) == expected


def test_escape_pair_is_not_split_across_segments():
    # 152 septets then a two-septet "€": 154 units fit in 160, but split into
    # 153-septet parts the "€" cannot straddle the boundary.
    body = "a" * 152 + "€" + "a" * 10
    info = encoding_info(body)
    assert (info.units, info.segments) == (164, 2)
    assert encoding_info("a" * 152 + "€" * 77).segments == 3  # 306 units


def test_surrogate_pair_is_not_split_across_segments():
    info = encoding_info("x" * 66 + "😀" * 3)  # 72 units; emoji at 66-67 moves
    assert (info.units, info.segments) == (72, 2)
    assert encoding_info("x" * 66 + "😀" * 34).segments == 3  # 134 units


def test_message_exposes_encoding():
    from dovecote.sms import Message

    assert Message("ç").encoding.encoding == "UCS-2"
