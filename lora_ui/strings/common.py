"""Strings shared by every page: navigation, language switch, generic errors."""

EN = {
    "app_title": "LoRA Lab",
    "nav.learn": "Learn",
    "nav.matrix": "Matrix",
    "nav.model": "Model",
    "nav.memory": "Memory",
    "nav.fit": "Fit",
    "language": "Language",
    "bad_param": "The link's value for “{name}” was not valid, so the default is used.",
    "error_prefix": "Problem: {message}",
    "download_csv": "Download CSV",
}

TE = {
    "app_title": "LoRA ల్యాబ్",
    "nav.learn": "నేర్చుకోండి",
    "nav.matrix": "మ్యాట్రిక్స్",
    "nav.model": "మోడల్",
    "nav.memory": "మెమరీ",
    "nav.fit": "ఫిట్",
    "language": "భాష",
    "bad_param": "లింక్‌లో “{name}” విలువ చెల్లదు, కాబట్టి డిఫాల్ట్ విలువ వాడుతున్నాం.",
    "error_prefix": "సమస్య: {message}",
    "download_csv": "CSV డౌన్‌లోడ్ చేయండి",
}
