"""Strings for the Model page."""

EN = {
    "title": "Model",
}

TE = {
    "title": "మోడల్",
}
