"""The journal record codec: round trip, torn tails versus corruption (pure, on bytes)."""

from __future__ import annotations

import pytest

from procession.engine import HashableDict
from procession.engine._journal import Op, decode, encode


def _records() -> list[bytes]:
    return [
        encode(Op.HEADER, {"format": 1, "gen": 1, "records": 0, "bytes": 0}),
        encode(Op.TAKE, ("host:1:ab", None, [HashableDict(i=1)])),
        encode(Op.DONE, [HashableDict(i=1), HashableDict(i=2)]),
        encode(Op.RELEASE, ("host:1:ab", [HashableDict(i=3)])),
    ]


def test_round_trip_with_offsets() -> None:
    recs = _records()
    data = b"".join(recs)
    records, end, damage = decode(data, base=100)
    assert damage is None and end == 100 + len(data)
    assert [r.op for r in records] == [Op.HEADER, Op.TAKE, Op.DONE, Op.RELEASE]
    assert records[2].body == [{"i": 1}, {"i": 2}]
    assert records[1].offset == 100 + len(recs[0])
    assert decode(data, limit=2)[0][-1].op is Op.TAKE


def test_every_truncation_of_the_last_record_is_a_torn_tail() -> None:
    recs = _records()
    intact = b"".join(recs[:-1])
    for cut in range(1, len(recs[-1])):
        records, end, damage = decode(intact + recs[-1][:cut])
        assert len(records) == 3 and end == len(intact)
        assert damage is not None and damage.torn, cut
        assert damage.offset == len(intact)


def test_zero_filled_tail_is_torn() -> None:
    intact = b"".join(_records())
    records, end, damage = decode(intact + bytes(300))
    assert len(records) == 4 and damage is not None and damage.torn and end == len(intact)


@pytest.mark.parametrize("record", [1, 2])
def test_flipped_byte_in_the_middle_is_corruption_naming_the_offset(record: int) -> None:
    recs = _records()
    data = bytearray(b"".join(recs))
    offset = sum(len(r) for r in recs[:record])
    data[offset + len(recs[record]) // 2] ^= 0x40
    records, end, damage = decode(bytes(data))
    assert len(records) == record and end == offset
    assert damage is not None and not damage.torn
    assert damage.offset == offset
    assert "followed by a valid record" in damage.reason


def test_corrupted_length_field_is_not_mistaken_for_a_torn_tail() -> None:
    recs = _records()
    data = bytearray(b"".join(recs))
    offset = len(recs[0])
    data[offset + 5] = 0x7F  # the length now points past the end of the data
    records, _end, damage = decode(bytes(data))
    assert len(records) == 1 and damage is not None and not damage.torn


def test_flipped_byte_in_the_last_complete_record_is_corruption() -> None:
    data = bytearray(b"".join(_records()))
    data[-3] ^= 0x01
    records, _end, damage = decode(bytes(data))
    assert len(records) == 3
    assert damage is not None and not damage.torn and "checksum" in damage.reason
