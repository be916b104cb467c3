"""Strings for the Fit page."""

EN = {
    "title": "Fit",
}

TE = {
    "title": "ఫిట్",
}
