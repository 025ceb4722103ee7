"""One pure, streaming writer per export format (spec §7), chosen through `make_writer`."""

from app.exports.formats.base import FORMATS, FormatWriter, Record, make_writer

__all__ = ["FORMATS", "FormatWriter", "Record", "make_writer"]
