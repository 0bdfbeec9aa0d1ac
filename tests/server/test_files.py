"""Reading logs by byte range and as a stream, never splitting a UTF-8 character."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tuneforge.server.files import LogDecoder, list_trial_files, read_log


def write_log(folder: Path, text: str) -> None:
    (folder / "trial.log").write_bytes(text.encode("utf-8"))


def test_a_range_that_ends_inside_a_character_stops_before_it(tmp_path: Path) -> None:
    """'é' is two bytes: a 2-byte read of 'aé' returns 'a' and next_offset 1."""
    write_log(tmp_path, "aéb")
    chunk = read_log(str(tmp_path), 0, 2)
    assert (chunk.text, chunk.offset, chunk.next_offset, chunk.size) == ("a", 0, 1, 4)
    rest = read_log(str(tmp_path), chunk.next_offset, 100)
    assert rest.text == "éb" and rest.next_offset == 4


def test_a_negative_offset_starting_inside_a_character_skips_to_the_next(tmp_path: Path) -> None:
    """The last 3 bytes of 'a✓b' start inside '✓' (3 bytes), so only 'b' is returned."""
    write_log(tmp_path, "a✓b")
    chunk = read_log(str(tmp_path), -3, 100)
    assert chunk.text == "b" and chunk.offset == 4 and chunk.next_offset == 5


def test_no_folder_or_no_log_reads_nothing(tmp_path: Path) -> None:
    """A trial that has not started, or has no log yet, gives an empty chunk."""
    assert read_log(None, 0, 10).text == ""
    assert read_log(str(tmp_path), 0, 10).size == 0
    assert list_trial_files(None) == ([], False)


@given(text=st.text(max_size=40), cuts=st.lists(st.integers(0, 200), max_size=8))
def test_chunks_read_in_any_sizes_join_into_the_whole_log(text: str, cuts: list[int]) -> None:
    """Reading a log chunk by chunk from next_offset gives back exactly the text."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        write_log(Path(folder), text)
        parts, offset = [], 0
        for size in [*cuts, 10_000]:
            chunk = read_log(folder, offset, max(size, 4))
            parts.append(chunk.text)
            offset = chunk.next_offset
        assert "".join(parts) == text


@given(text=st.text(max_size=40), split=st.integers(0, 200))
def test_the_stream_decoder_holds_back_an_incomplete_character(text: str, split: int) -> None:
    """Bytes fed in two pieces split anywhere decode to the whole text."""
    data = text.encode("utf-8")
    decoder = LogDecoder()
    assert decoder.feed(data[:split]) + decoder.feed(data[split:]) == text
