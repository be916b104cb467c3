"""Strings for the Matrix page."""

EN = {
    "title": "Matrix",
}

TE = {
    "title": "మ్యాట్రిక్స్",
}
