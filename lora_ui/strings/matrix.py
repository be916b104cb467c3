"""Strings for the Matrix page."""

EN = {
    "title": "One weight matrix",
    "intro": (
        "A layer's weight matrix W has d rows and k columns. Full fine-tuning trains all d·k entries. "
        "LoRA freezes W and trains two thin matrices, B (d×r) and A (r×k), whose product is the update ΔW."
    ),
    "d": "d (rows of W)",
    "k": "k (columns of W)",
    "r": "rank r",
    "d_help": "Output features of the layer, e.g. 4096 for a 7B model's attention projection.",
    "k_help": "Input features of the layer.",
    "r_help": "The LoRA rank: how many independent directions the update may use.",
    "metric_full": "Full fine-tuning trains",
    "metric_lora": "LoRA trains",
    "metric_percent": "LoRA / full",
    "metric_break_even": "Break-even rank",
    "metric_break_even_help": "d·k/(d+k): above this rank LoRA trains more values than W itself.",
    "delta_fewer": "{n} fewer values",
    "formula": "Full: d·k = {d} × {k} = {full}.  LoRA: (d+k)·r = ({d} + {k}) × {r} = {lora}.",
    "past_break_even": (
        "Rank {r} is past break-even ({be}): B and A together now hold more values than W. "
        "LoRA only saves when r is much smaller than d·k/(d+k)."
    ),
    "rank_exceeds": "Rank {r} is larger than min(d, k) = {m}: the product B·A can never have rank above {m}, so the extra rank buys nothing.",
    "shapes_title": "To scale: W beside B and A (one unit = one entry)",
    "shape_W": "W (frozen) {d}×{k} = {n}",
    "shape_B": "B {d}×{r} = {n}",
    "shape_A": "A {r}×{k} = {n}",
    "shapes_caption": "Grey is frozen, colour is trained. At small r, B and A are slivers next to W: that is the whole saving.",
    "curve_title": "Trainable values against rank",
    "curve_x": "rank r",
    "curve_y": "trainable values (log scale)",
    "curve_lora": "LoRA (d+k)·r",
    "curve_full": "full fine-tuning d·k",
    "curve_break_even": "break-even r = {be}",
    "curve_current": "your r = {r}",
}

TE = {
    "title": "ఒక వెయిట్ మ్యాట్రిక్స్",
    "intro": (
        "ఒక లేయర్ వెయిట్ మ్యాట్రిక్స్ W కు d అడ్డు వరుసలు, k నిలువు వరుసలు ఉంటాయి. పూర్తి ఫైన్-ట్యూనింగ్ (full "
        "fine-tuning) మొత్తం d·k ఎంట్రీలకు శిక్షణ ఇస్తుంది. LoRA మాత్రం W ను ఫ్రీజ్ చేసి, B (d×r), A (r×k) అనే రెండు "
        "సన్నని మ్యాట్రిక్స్‌లకు మాత్రమే శిక్షణ ఇస్తుంది; వాటి గుణకారమే మార్పు (update) ΔW."
    ),
    "d": "d (W అడ్డు వరుసలు)",
    "k": "k (W నిలువు వరుసలు)",
    "r": "ర్యాంక్ r",
    "d_help": "లేయర్ అవుట్‌పుట్ ఫీచర్లు; ఉదాహరణకు 7 బిలియన్ పారామితుల మోడల్ అటెన్షన్ ప్రొజెక్షన్‌లో 4096.",
    "k_help": "లేయర్ ఇన్‌పుట్ ఫీచర్లు.",
    "r_help": "LoRA ర్యాంక్: మార్పు ఎన్ని స్వతంత్ర దిశలను వాడుకోవచ్చో ఇది చెబుతుంది.",
    "metric_full": "పూర్తి ఫైన్-ట్యూనింగ్ శిక్షణ ఇచ్చేవి",
    "metric_lora": "LoRA శిక్షణ ఇచ్చేవి",
    "metric_percent": "LoRA / పూర్తి",
    "metric_break_even": "సమాన స్థాయి ర్యాంక్",
    "metric_break_even_help": "d·k/(d+k): ఈ ర్యాంక్ దాటితే LoRA, W కంటే ఎక్కువ విలువలకు శిక్షణ ఇస్తుంది.",
    "delta_fewer": "{n} విలువలు తక్కువ",
    "formula": "పూర్తి: d·k = {d} × {k} = {full}.  LoRA: (d+k)·r = ({d} + {k}) × {r} = {lora}.",
    "past_break_even": (
        "ర్యాంక్ {r} సమాన స్థాయిని ({be}) దాటింది: ఇప్పుడు B, A కలిసి W కంటే ఎక్కువ విలువలను కలిగి ఉన్నాయి. "
        "r విలువ d·k/(d+k) కంటే చాలా చిన్నగా ఉన్నప్పుడే LoRA ఆదా చేస్తుంది."
    ),
    "rank_exceeds": "ర్యాంక్ {r}, min(d, k) = {m} కంటే పెద్దది: B·A గుణకారం ర్యాంక్ ఎప్పటికీ {m} దాటదు, కాబట్టి అదనపు ర్యాంక్ వల్ల లాభం లేదు.",
    "shapes_title": "స్కేల్ ప్రకారం: W పక్కన B, A (ఒక యూనిట్ = ఒక ఎంట్రీ)",
    "shape_W": "W (ఫ్రీజ్ చేసినది) {d}×{k} = {n}",
    "shape_B": "B {d}×{r} = {n}",
    "shape_A": "A {r}×{k} = {n}",
    "shapes_caption": "బూడిద రంగులో ఉన్నది ఫ్రీజ్ చేసినది, రంగులో ఉన్నవి శిక్షణ పొందేవి. చిన్న r వద్ద B, A లు W పక్కన సన్నని పట్టీలు మాత్రమే: ఆదా అంతా అదే.",
    "curve_title": "ర్యాంక్‌తో పాటు శిక్షణ పొందే విలువలు",
    "curve_x": "ర్యాంక్ r",
    "curve_y": "శిక్షణ పొందే విలువలు (లాగ్ స్కేల్)",
    "curve_lora": "LoRA (d+k)·r",
    "curve_full": "పూర్తి ఫైన్-ట్యూనింగ్ d·k",
    "curve_break_even": "సమాన స్థాయి r = {be}",
    "curve_current": "మీ r = {r}",
}
