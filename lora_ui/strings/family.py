"""Strings about the LoRA family (PEFT's adapter types), shared by the Model, Memory and Learn pages.

What each type trains and what its update can express follow the papers (Hu et al. 2021; Kalajdzievski 2023;
Liu et al. 2024; Kopiczko et al. 2024; Hyeon-Woo et al. 2022; Yeh et al. 2024; Liu et al. 2022; Zhang et al.
2023) and PEFT 0.21.2's layers (lora_core/family/shapes.py); the text is our own.
"""

EN = {
    "adapter": "Adapter type",
    "adapter_help": "PEFT's adapter types. They differ in what they train for each targeted module; the Learn "
    "page says when people choose each.",
    # What each type trains (captions under the adapter choice; the codes are PEFT's names, lowercase)
    "trains.lora": "LoRA: trains B (out × r) and A (r × in) per module; the update is B·A.",
    "trains.vera": "VeRA: trains two scaling vectors per module; A and B are random, frozen and shared by every "
    "module.",
    "trains.loha": "LoHa: trains two rank-r pairs per module; the update is their Hadamard product (entry by "
    "entry).",
    "trains.lokr": "LoKr: trains two small factors per module; the update is their Kronecker product.",
    "trains.ia3": "IA3: trains one scaling vector per module, multiplying its output (its input, for the "
    "feedforward modules).",
    "trains.adalora": "AdaLoRA: trains P, Λ and Q (the update in the shape of an SVD) per module, from rank "
    "init_r, and prunes the singular values that matter least.",
    # What the update can express (the Model page's comparison)
    "expresses.lora": "rank ≤ r update",
    "expresses.rslora": "rank ≤ r update, scaled by α/√r instead of α/r",
    "expresses.dora": "rank ≤ r update of the direction, plus a learned magnitude per output",
    "expresses.vera": "rank ≤ r, with only the two scaling vectors trained",
    "expresses.loha": "rank ≤ r² update (two rank-r matrices multiplied entry by entry)",
    "expresses.lokr": "Kronecker-structured, can be full rank",
    "expresses.ia3": "rescales the rows (or columns) of W: no new directions",
    "expresses.adalora": "rank ≤ init_r at the start; pruned to an average rank of target_r",
    "row.lora": "LoRA",
    "row.rslora": "rsLoRA",
    "row.dora": "DoRA",
    "row.vera": "VeRA",
    "row.loha": "LoHa",
    "row.lokr": "LoKr",
    "row.ia3": "IA3",
    "row.adalora": "AdaLoRA",
    "unavailable": "not available here: PEFT's {adapter} cannot adapt these target modules",
    # Model page: the family side by side
    "table_header": "The LoRA family on these modules",
    "table_caption": "Every type on the target modules above, with their rank r, alpha and modules_to_save "
    "(bias where the type has one; AdaLoRA counted at init_r = r). Trainable % as PEFT's "
    "print_trainable_parameters shows it. Checkpoint: what save_pretrained writes, adapters in fp32 (PEFT's "
    "default), trained biases and copies in the dtype config.json names. ◀ marks the type chosen above, whose "
    "PEFT config follows.",
    "col.type": "type",
    "col.trainable": "trainable params",
    "col.share": "trainable %",
    "col.checkpoint": "adapter checkpoint",
    "col.expresses": "what the update can express",
    # Memory page
    "rank_help": "The rank of every targeted module without a rank_pattern entry. AdaLoRA: its starting rank, "
    "init_r. IA3 has no rank.",
    "rank_pattern": "Per-module ranks (rank_pattern)",
    "rank_pattern_help": "`NAME=R` pairs, comma-separated, e.g. q_proj=16,v_proj=4 (LoRA, LoHa, LoKr). Each "
    "module takes the first name its own name ends with.",
    "rslora": "rsLoRA (α/√r)",
    "rslora_help": "Scale by α/√r instead of α/r. The same tensors, so the same memory.",
    "feedforward": "Feedforward modules (IA3)",
    "feedforward_help": "IA3 scales these targets' input instead of their output, e.g. down_proj.",
    "methods_note": "With {adapter} chosen, the method “LoRA” below means {adapter} on the model, and “QLoRA” "
    "{adapter} on a 4-bit base model.",
    "no_4bit_note": "PEFT has no 4-bit {adapter} layer, so QLoRA is not compared.",
    "no_bias": "{adapter} has no bias setting: no bias is trained.",
    "vera_bias": "For VeRA this is PEFT's `vera_only`: the biases of the layers VeRA wraps.",
    "solve_rank_none": "{adapter} has no rank; find the largest batch size or sequence length instead.",
    "rank_none": "IA3 has no rank: the rank curve is flat.",
}

TE = {
    "adapter": "అడాప్టర్ రకం",
    "adapter_help": "PEFT లోని అడాప్టర్ రకాలు. ఒక్కో లక్ష్య మాడ్యూల్‌లో దేనికి శిక్షణ ఇస్తాయో అందులోనే తేడా; ఎవరు "
    "ఎప్పుడు ఏది ఎంచుకుంటారో నేర్చుకోండి పేజీ చెబుతుంది.",
    "trains.lora": "LoRA: ఒక్కో మాడ్యూల్‌లో B (అవుట్‌పుట్‌లు × r), A (r × ఇన్‌పుట్‌లు) లకు శిక్షణ; మార్పు B·A.",
    "trains.vera": "VeRA: ఒక్కో మాడ్యూల్‌లో రెండు స్కేలింగ్ వెక్టర్లకు మాత్రమే శిక్షణ; A, B యాదృచ్ఛికమైనవి, ఫ్రీజ్ "
    "చేసినవి, అన్ని మాడ్యూల్‌లూ వాటినే పంచుకుంటాయి.",
    "trains.loha": "LoHa: ఒక్కో మాడ్యూల్‌లో ర్యాంక్ r ఉన్న రెండు జతలకు శిక్షణ; మార్పు వాటి హడమార్డ్ గుణకారం "
    "(ఎంట్రీల వారీగా).",
    "trains.lokr": "LoKr: ఒక్కో మాడ్యూల్‌లో రెండు చిన్న కారకాలకు శిక్షణ; మార్పు వాటి క్రోనెకర్ గుణకారం.",
    "trains.ia3": "IA3: ఒక్కో మాడ్యూల్‌లో ఒక స్కేలింగ్ వెక్టర్‌కు శిక్షణ; అది మాడ్యూల్ అవుట్‌పుట్‌ను (ఫీడ్‌ఫార్వర్డ్ "
    "మాడ్యూల్‌లలో ఇన్‌పుట్‌ను) గుణిస్తుంది.",
    "trains.adalora": "AdaLoRA: ఒక్కో మాడ్యూల్‌లో P, Λ, Q లకు శిక్షణ (SVD ఆకారంలో మార్పు), ర్యాంక్ init_r "
    "నుంచి మొదలై, అతి తక్కువ ప్రాముఖ్యం ఉన్న సింగ్యులర్ విలువలను కత్తిరిస్తూ.",
    "expresses.lora": "ర్యాంక్ ≤ r ఉన్న మార్పు",
    "expresses.rslora": "ర్యాంక్ ≤ r ఉన్న మార్పు, α/r బదులు α/√r తో స్కేల్ చేసి",
    "expresses.dora": "దిశకు ర్యాంక్ ≤ r మార్పు, దానితో పాటు ప్రతి అవుట్‌పుట్‌కు నేర్చుకునే మాగ్నిట్యూడ్",
    "expresses.vera": "ర్యాంక్ ≤ r; శిక్షణ రెండు స్కేలింగ్ వెక్టర్లకు మాత్రమే",
    "expresses.loha": "ర్యాంక్ ≤ r² ఉన్న మార్పు (ర్యాంక్ r ఉన్న రెండు మ్యాట్రిక్స్‌లను ఎంట్రీల వారీగా గుణించి)",
    "expresses.lokr": "క్రోనెకర్ నిర్మాణం; పూర్తి ర్యాంక్ కూడా కావచ్చు",
    "expresses.ia3": "W అడ్డు వరుసలను (లేదా నిలువు వరుసలను) స్కేల్ చేస్తుంది: కొత్త దిశలు రావు",
    "expresses.adalora": "మొదట ర్యాంక్ ≤ init_r; శిక్షణలో సగటు ర్యాంక్ target_r కు కత్తిరిస్తుంది",
    "row.lora": "LoRA",
    "row.rslora": "rsLoRA",
    "row.dora": "DoRA",
    "row.vera": "VeRA",
    "row.loha": "LoHa",
    "row.lokr": "LoKr",
    "row.ia3": "IA3",
    "row.adalora": "AdaLoRA",
    "unavailable": "ఇక్కడ కుదరదు: PEFT {adapter} ఈ లక్ష్య మాడ్యూల్‌లను అడాప్ట్ చేయలేదు",
    "table_header": "ఈ మాడ్యూల్‌లపై LoRA కుటుంబం",
    "table_caption": "పైన ఎంచుకున్న లక్ష్య మాడ్యూల్‌లపై, అదే ర్యాంక్ r, ఆల్ఫా, modules_to_save తో ప్రతి రకం (బయాస్ "
    "అమరిక ఉన్న రకాలకు బయాస్ కూడా; AdaLoRA ను init_r = r వద్ద లెక్కించాం). శిక్షణ పొందే శాతం PEFT "
    "print_trainable_parameters చూపే విధంగానే. చెక్‌పాయింట్: save_pretrained రాసేది; అడాప్టర్లు fp32 లో (PEFT "
    "డిఫాల్ట్), శిక్షణ పొందే బయాస్‌లు, కాపీలు config.json చెప్పే రకంలో. ◀ గుర్తు పైన ఎంచుకున్న రకాన్ని చూపుతుంది; "
    "దాని PEFT కాన్ఫిగరేషన్ కింద ఉంది.",
    "col.type": "రకం",
    "col.trainable": "శిక్షణ పొందే పారామితులు",
    "col.share": "శిక్షణ పొందే శాతం",
    "col.checkpoint": "అడాప్టర్ చెక్‌పాయింట్",
    "col.expresses": "మార్పు ఏమి చెప్పగలదు",
    "rank_help": "rank_pattern లో ఎంట్రీ లేని ప్రతి లక్ష్య మాడ్యూల్ ర్యాంక్. AdaLoRA కు ఇది మొదటి ర్యాంక్, init_r. IA3 కు "
    "ర్యాంక్ ఉండదు.",
    "rank_pattern": "మాడ్యూల్ వారీ ర్యాంక్‌లు (rank_pattern)",
    "rank_pattern_help": "కామాలతో వేరుచేసిన `NAME=R` జతలు, ఉదా. q_proj=16,v_proj=4 (LoRA, LoHa, LoKr). ప్రతి "
    "మాడ్యూల్‌కు, దాని పేరు ఏ పేరుతో ముగుస్తుందో అలాంటి మొదటి పేరు విలువ వర్తిస్తుంది.",
    "rslora": "rsLoRA (α/√r)",
    "rslora_help": "α/r బదులు α/√r తో స్కేల్ చేస్తుంది. అవే టెన్సర్‌లు, కాబట్టి మెమరీ కూడా అదే.",
    "feedforward": "ఫీడ్‌ఫార్వర్డ్ మాడ్యూల్‌లు (IA3)",
    "feedforward_help": "ఈ లక్ష్య మాడ్యూల్‌లలో IA3 అవుట్‌పుట్‌కు బదులు ఇన్‌పుట్‌ను స్కేల్ చేస్తుంది, ఉదా. down_proj.",
    "methods_note": "{adapter} ఎంచుకున్నప్పుడు, కింది “LoRA” పద్ధతి అంటే మోడల్‌పై {adapter}; “QLoRA” అంటే 4-బిట్ "
    "మూల మోడల్‌పై {adapter}.",
    "no_4bit_note": "PEFT లో 4-బిట్ {adapter} లేయర్ లేదు, కాబట్టి QLoRA తో పోల్చడం లేదు.",
    "no_bias": "{adapter} కు బయాస్ అమరిక లేదు: ఏ బయాస్‌కూ శిక్షణ ఇవ్వరు.",
    "vera_bias": "VeRA కు ఇది PEFT `vera_only`: VeRA చుట్టిన లేయర్ల బయాస్‌లు.",
    "solve_rank_none": "{adapter} కు ర్యాంక్ ఉండదు; బదులుగా అతి పెద్ద బ్యాచ్ సైజు లేదా సీక్వెన్స్ పొడవు కనుక్కోండి.",
    "rank_none": "IA3 కు ర్యాంక్ ఉండదు: ర్యాంక్ వక్రరేఖ సమతలంగా ఉంటుంది.",
}
