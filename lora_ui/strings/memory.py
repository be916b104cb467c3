"""Strings for the Memory page."""

EN = {
    "title": "Memory",
}

TE = {
    "title": "మెమరీ",
}
