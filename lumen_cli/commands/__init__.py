"""One thin module per command or group: parse, call the API layer, hand to output."""
