"""Strings shared by every page: navigation, language switch, share link, generic errors."""

EN = {
    "app_title": "LoRA Lab",
    "nav.learn": "Learn",
    "nav.matrix": "Matrix",
    "nav.model": "Model",
    "nav.memory": "Memory",
    "nav.fit": "Fit",
    "language": "Language",
    "bad_param": (
        "This link gave “{name}” a value the page cannot use ({value}), so it was ignored "
        "and the default is shown."
    ),
    "error_prefix": "Problem: {message}",
    "download_csv": "Download CSV",
    "share_caption": "Link to this view (click the copy icon, then share it):",
}

TE = {
    "app_title": "LoRA ల్యాబ్",
    "nav.learn": "నేర్చుకోండి",
    "nav.matrix": "మ్యాట్రిక్స్",
    "nav.model": "మోడల్",
    "nav.memory": "మెమరీ",
    "nav.fit": "ఫిట్ (లైవ్ శిక్షణ)",
    "language": "భాష",
    "bad_param": "ఈ లింక్ “{name}” కు ఇచ్చిన విలువ ({value}) ఈ పేజీకి పనికిరాదు, కాబట్టి దాన్ని వదిలేసి డిఫాల్ట్ విలువను చూపిస్తున్నాం.",
    "error_prefix": "సమస్య: {message}",
    "download_csv": "CSV డౌన్‌లోడ్ చేయండి",
    "share_caption": "ఈ దృశ్యానికి లింక్ (కాపీ గుర్తుపై క్లిక్ చేసి, షేర్ చేయండి):",
}
