"""Strings for the Learn page."""

EN = {
    "title": "Learn",
}

TE = {
    "title": "నేర్చుకోండి",
}
