"""Errors from lora_core, keyed by their code (lora_core/errors.py): `tr("errors.<code>", **params)`.

The English is the core's own (`MESSAGES`, what the CLI prints), so the two never drift; the Telugu here
translates it with the same placeholders and the same number formats (`{size:,}` groups thousands with
commas in both languages: the glossary counts in millions and billions, never lakhs). Parameters keep the
details (module names, values, limits) as they are. lora_ui.widgets.show_error fills a code in the
visitor's language; a `Clause` parameter (why a setting is absent, a module's kind) is filled the same way.

Telugu follows docs/glossary.md. CLI flags, JSON literals and class names stay as `code`.
"""

from lora_core.errors import MESSAGES

EN = dict(MESSAGES)

TE = {
    # --- any value at a boundary -----------------------------------------------------------------------------
    "value.not_integer": "{name} పూర్ణాంకం అయి ఉండాలి; ఇచ్చినది {value!r}",
    "value.not_integer_type": "{name} పూర్ణాంకం అయి ఉండాలి; ఇచ్చినది {type} రకం",
    "value.int_range": "{name} {minimum:,} నుంచి {maximum:,} మధ్య ఉండాలి; ఇచ్చినది {value:,}",
    "value.not_number": "{name} ఒక సంఖ్య అయి ఉండాలి; ఇచ్చినది {value!r}",
    "value.not_finite": "{name} పరిమిత సంఖ్య అయి ఉండాలి; ఇచ్చినది {value!r}",
    "value.negative": "{name} 0 లేదా అంతకంటే ఎక్కువ ఉండాలి; ఇచ్చినది {value!r}",
    "value.not_positive": "{name} 0 కంటే ఎక్కువ ఉండాలి; ఇచ్చినది {value!r}",
    "value.too_large": "{name} గరిష్ఠంగా {maximum:g} ఉండవచ్చు; ఇచ్చినది {value!r}",
    "value.choice": "{name} వీటిలో ఒకటి అయి ఉండాలి: {allowed}; ఇచ్చినది {value!r}",
    "value.not_bool": "{name} `true` లేదా `false` అయి ఉండాలి; ఇచ్చినది {value!r}",
    # --- files -----------------------------------------------------------------------------------------------
    "file.too_large": "{name} పరిమాణం {size:,} బైట్‌లు; పరిమితి {limit:,} బైట్‌లు",
    "file.unreadable": "{path} ను చదవలేకపోయాం: {reason}",
    "file.not_a_file": "{path} ఒక ఫైల్ కాదు",
    # --- config.json -----------------------------------------------------------------------------------------
    "config.not_finite": "config.json లో {value} ఉంది; పరిమిత సంఖ్యలను మాత్రమే అనుమతిస్తాం",
    "config.type": "config.json బైట్‌లుగా గానీ టెక్స్ట్‌గా గానీ ఉండాలి; ఇచ్చినది {type}",
    "config.not_utf8": "config.json UTF-8 టెక్స్ట్ కాదు",
    "config.field_not_integer": "{key} పూర్ణాంకం అయి ఉండాలి; ఇచ్చినది {value}",
    "config.bad_json": "config.json సరైన JSON కాదు: {detail} ({line}వ లైన్, {column}వ నిలువు వరుస)",
    "config.too_deep": "config.json లో విలువలు ఒకదానిలో ఒకటి మరీ ఎక్కువ లోతుకు వెళ్తున్నాయి",
    "config.number_too_long": "config.json లో చదవలేనంత పొడవైన సంఖ్య ఉంది; గరిష్ఠంగా {limit:,} అంకెలు",
    "config.not_object": "config.json ఒక JSON ఆబ్జెక్ట్ అయి ఉండాలి; ఇచ్చినది JSON {type}",
    "config.no_model_type": 'config.json లో model_type అనే టెక్స్ట్ విలువ ఉండాలి (ఉదా. `"llama"`, `"gpt2"`)',
    "config.unknown_model_type": "తెలియని model_type {model_type!r}: `transformers` లో అలాంటి నిర్మాణం లేదు",
    "config.architectures": (
        '`architectures` క్లాస్ పేర్ల జాబితా అయి ఉండాలి, ఖాళీగా ఉండకూడదు; ఉదా. `["LlamaForCausalLM"]`'
    ),
    "config.tie_word_embeddings": "tie_word_embeddings `true` లేదా `false` అయి ఉండాలి",
    "config.no_width": "config.json లో మోడల్ వెడల్పు ఉండాలి: వీటిలో ఒకటి {fields}",
    "config.no_depth": "config.json లో లేయర్ల సంఖ్య ఉండాలి: వీటిలో ఒకటి {fields}",
    "config.no_vocab": "config.json లో vocab_size ఉండాలి",
    "arch.no_class": (
        "నిర్మాణం {architecture!r} / model_type {model_type!r} కు `transformers` లో మోడల్ క్లాస్ లేదు"
    ),
    "arch.config_mismatch": "config.json, model_type {model_type!r} కు సరిపోవడం లేదు: {detail}",
    "arch.cannot_build": "ఈ కాన్ఫిగరేషన్ నుంచి {model_class} ను తయారుచేయలేకపోయాం: {detail}",
    "preset.unknown": "తెలియని ప్రీసెట్ {name!r}; ప్రీసెట్‌లు: {presets}",
    # --- the adapter spec ------------------------------------------------------------------------------------
    "spec.not_a_list": "{field} మాడ్యూల్ పేర్ల జాబితా అయి ఉండాలి; ఇచ్చినది {type}",
    "spec.no_modules": (
        "{field} కనీసం ఒక మాడ్యూల్ పేరు చెప్పాలి (ఉదా. q_proj,v_proj), లేదా {all_linear} అయి ఉండాలి"
    ),
    "spec.too_many_modules": "{field} గరిష్ఠంగా {limit} మాడ్యూల్‌ల పేర్లు చెప్పవచ్చు; ఇచ్చినవి {count}",
    "spec.bad_module_name": "{field}: {name!r} మాడ్యూల్ పేరు కాదు (అక్షరాలు, అంకెలు, _ మరియు . మాత్రమే)",
    "spec.target_and_saved": "{modules} ఒకేసారి {label} లక్ష్యంగానూ modules_to_save లోనూ ఉండకూడదు",
    "pattern.bad_key": (
        "{field}: {key!r} మాడ్యూల్ పేర్ల ప్యాటర్న్ కాదు (అక్షరాలు, అంకెలు, _ . * + ? ^ $ | \\ [ ] - మాత్రమే; "
        "బ్రాకెట్ గ్రూప్‌లు వద్దు; గరిష్ఠంగా {limit} అక్షరాలు)"
    ),
    "pattern.too_many_repeats": "{field}: {key!r} లో * + ? కలిపి {limit} కంటే ఎక్కువ ఉన్నాయి",
    "pattern.invalid": "{field}: {key!r} సరైన ప్యాటర్న్ కాదు ({detail})",
    "pattern.not_pair": "{field}: {part!r} పేరు=విలువ రూపంలో లేదు (ఉదా. q_proj=16)",
    "pattern.not_mapping": "{field} మాడ్యూల్ పేర్లకు విలువలను జతచేయాలి, ఉదా. q_proj=16",
    "pattern.too_many": "{field} లో గరిష్ఠంగా {limit} ఎంట్రీలు ఉండవచ్చు; ఇచ్చినవి {count}",
    "pattern.key_type": "{field}: కీలు మాడ్యూల్ పేర్లు అయి ఉండాలి; ఇచ్చినది {key!r}",
    "pattern.duplicate": "{field}: {key!r} రెండుసార్లు ఇచ్చారు",
    "family.unknown_row": "అడాప్టర్ అడ్డు వరుస వీటిలో ఒకటి అయి ఉండాలి: {rows}; ఇచ్చినది {key!r}",
    "family.feedforward_outside": (
        "ఫీడ్‌ఫార్వర్డ్ మాడ్యూల్ {module!r} లక్ష్యం కాదు: IA3 కి ప్రతి ఫీడ్‌ఫార్వర్డ్ మాడ్యూల్ target_modules "
        "లో కూడా ఉండాలి ({targets})"
    ),
    "family.no_setting": "{label} కు {setting} లేదు: {why}",
    "why.no_field": "PEFT లోని {config_class} లో {setting} లేదు",
    "why.adalora_rank_pattern": (
        "AdaLoRA లో rank_pattern ను శిక్షణ జరుగుతుండగా దాని ర్యాంక్ అలొకేటర్ రాస్తుంది; ప్రతి మాడ్యూల్ init_r "
        "తో మొదలవుతుంది (`adalora/model.py:128`)"
    ),
    "why.adalora_alpha_pattern": "AdaLoRA లో ప్రతి మాడ్యూల్ lora_alpha నే తీసుకుంటుంది (`adalora/model.py:129`)",
    "why.adalora_use_dora": "PEFT, AdaLoRA తో DoRA ను అనుమతించదు (`adalora/config.py:75`)",
    "why.adalora_use_rslora": "AdaLoRA ఆల్ఫాతోనే స్కేల్ చేస్తుంది, α/√r తో కాదు (`adalora/layer.py:85`)",
    "why.adalora_r": "AdaLoRA లో ర్యాంక్ అంటే init_r",
    "why.ia3_r": "IA3 ప్రతి మాడ్యూల్‌లో ఒక వెక్టర్‌కు మాత్రమే శిక్షణ ఇస్తుంది, దానికి ర్యాంక్ లేదు",
    "why.vera_alpha": "VeRA లో శిక్షణ పొందే రెండు వెక్టర్లే స్కేలింగ్ చేస్తాయి",
    "why.ia3_alpha": "IA3 లో శిక్షణ పొందే వెక్టరే దాని స్కేలింగ్",
    # --- which modules an adapter wraps ----------------------------------------------------------------------
    "params.all_linear_kind": (
        "`all-linear` ఎంచుకున్న మాడ్యూల్ ({module}) ఒక {kind}; PEFT లోని {label} {supported} ను మాత్రమే "
        "అడాప్ట్ చేస్తుంది, ఇక్కడ ఉన్నవి: {usable}"
    ),
    "params.target_kind": (
        "లక్ష్యం {target!r} కు సరిపోయిన మాడ్యూల్ ({module}) ఒక {kind}; PEFT లోని {label} {supported} ను "
        "మాత్రమే అడాప్ట్ చేస్తుంది, ఇక్కడ ఉన్నవి: {usable}"
    ),
    "params.moe_lora_only": (
        "{target!r} అనేది {architecture} లోని కలిపిన MoE ఎక్స్‌పర్ట్‌లు లేదా రూటర్; PEFT వాటిని LoRA కు మాత్రమే "
        "అడాప్ట్ చేస్తుంది (target_parameters), {label} కు కాదు: అటెన్షన్ ప్రొజెక్షన్‌లను లక్ష్యంగా ఎంచుకోండి"
    ),
    "params.target_unmatched": (
        "లక్ష్యం {target!r} కు సరిపోలే మాడ్యూల్ {architecture} లో లేదు; మాడ్యూల్ పేర్లు: {names}"
    ),
    "params.target_unmatched_moe": (
        "లక్ష్యం {target!r} కు సరిపోలే మాడ్యూల్ {architecture} లో లేదు; మాడ్యూల్ పేర్లు: {names}, "
        "ఎక్స్‌పర్ట్ పేర్లు: {experts}"
    ),
    "params.moe_together": (
        "{present} ను {missing} తో కలిపే లక్ష్యంగా ఎంచుకోవాలి: `transformers` 5 వాటిని {fused} గా కలిపేస్తుంది"
    ),
    "params.moe_dora": (
        "కలిపిన MoE ఎక్స్‌పర్ట్ టెన్సర్‌లకు PEFT లో DoRA లేదు (`ParamWrapper`); use_dora ను గానీ ఎక్స్‌పర్ట్ "
        "లక్ష్యాలను గానీ తీసివేయండి"
    ),
    "params.saved_unmatched": "modules_to_save లోని {module!r} కు సరిపోలే మాడ్యూల్ {architecture} లో లేదు; ఉదా. {names}",
    "params.nothing_adapted": "ఈ స్పెక్ ఏ మాడ్యూల్‌నూ అడాప్ట్ చేయదు (ప్రతి లక్ష్యం modules_to_save లోపలే ఉందా?)",
    "params.pattern_unmatched": (
        "{field} లోని కీ {key!r} కు సరిపోలే మాడ్యూల్ లక్ష్యాల్లో లేదు; లక్ష్యాలు: {targeted}"
    ),
    "params.feedforward_not_target": (
        "ఫీడ్‌ఫార్వర్డ్ మాడ్యూల్ {module!r} లక్ష్యం కాదు: లక్ష్యంగా ఎంచుకున్న ఏ మాడ్యూల్ పేరూ దానితో ముగియదు"
    ),
    "kind.linear": "nn.Linear",
    "kind.conv1d": "`transformers` Conv1D (GPT-2 వాడే, ట్రాన్స్‌పోజ్ చేసిన లీనియర్ లేయర్)",
    "kind.embedding": "nn.Embedding",
    "kind.moe_experts": "MoE ఎక్స్‌పర్ట్‌ల మాడ్యూల్",
    "kind.norm": "నార్మలైజేషన్ మాడ్యూల్",
    "kind.other": "వేరే రకం మాడ్యూల్",
    "kind.none": "ఏదీ లేదు",
    # --- the memory estimate ---------------------------------------------------------------------------------
    "memory.sharding_gpus": "{sharding} షార్డింగ్‌కు 2 లేదా అంతకంటే ఎక్కువ GPU లు కావాలి (`--gpus`)",
    "memory.qlora_cpu": "QLoRA కి CUDA పై `bitsandbytes` కావాలి; CUDA పరికరంతో (`device cuda`) అంచనా వేయండి",
    "memory.optimizer_8bit_cpu": (
        "{optimizer} అనేది `bitsandbytes` CUDA ఆప్టిమైజర్; CUDA పరికరంతో (`device cuda`) అంచనా వేయండి"
    ),
    "memory.rank_pattern_layers": (
        "rank_pattern, {pattern} కు వేర్వేరు లేయర్లలో వేర్వేరు ర్యాంక్‌లు ఇస్తోంది ({ranks}); మెమరీ అంచనా ప్రతి "
        "లేయర్‌నూ ఒకేలా చూస్తుంది, కాబట్టి ప్రతి మాడ్యూల్‌కు అన్ని లేయర్లలో ఒకే ర్యాంక్ ఇవ్వండి (ఉదా. q_proj=16)"
    ),
    "memory.qlora_no_4bit_layer": (
        "PEFT లో 4-బిట్ {label} లేయర్ లేదు (`peft/tuners/{adapter}` లో bnb.py లేదు: దాని లేయర్లు మూల మోడల్ "
        "వెయిట్ ఆకారాన్ని చదువుతాయి, 4-బిట్ ప్యాకింగ్ ఆ ఆకారాన్ని మార్చేస్తుంది); LoRA పద్ధతిని వాడండి"
    ),
    "memory.adalora_sharding": (
        "ZeRO/FSDP కింద AdaLoRA ర్యాంక్ అలొకేటర్‌ను మెమరీ అంచనా లెక్కించదు (అది ప్రతి GPU పై ప్రతి అడాప్టర్ "
        "టెన్సర్‌కు పూర్తి పరిమాణపు కాపీలను ఉంచుతుంది, `adalora/layer.py 409-430`); షార్డింగ్ లేకుండా (`none`) "
        "ఎంచుకోండి"
    ),
    "memory.cannot_wrap": "{module} ఒక {module_type}; {label} దాన్ని చుట్టలేదు",
    "memory.moe_experts": (
        "కలిపిన MoE ఎక్స్‌పర్ట్ టెన్సర్‌లపై LoRA ను (PEFT target_parameters) మెమరీ అంచనా లెక్కించదు, ఉదా. "
        "{module}; అటెన్షన్ ప్రొజెక్షన్‌లను లక్ష్యంగా ఎంచుకోండి"
    ),
    "memory.saved_cannot_wrap": "modules_to_save, {module} ({module_type}) ను చుట్టలేదు",
    "memory.saved_unmatched": "modules_to_save లోని {module!r} కు సరిపోలే మాడ్యూల్ {model_class} లో లేదు",
    "memory.rank_method": "ర్యాంక్ LoRA, QLoRA పద్ధతులకు మాత్రమే వర్తిస్తుంది",
    "memory.no_rank": "{label} కు ర్యాంక్ లేదు",
    "memory.margin_negative": "మార్జిన్ 0 లేదా అంతకంటే ఎక్కువ ఉండాలి; ఇచ్చినది {margin}",
    "memory.unknown_gpu": "తెలియని GPU {name!r}; తెలిసినవి: {known}",
    "memory.seq_too_short": (
        "ఈ మోడల్ గరిష్ఠంగా {limit} టోకెన్‌ల సీక్వెన్స్‌లనే అనుమతిస్తుంది; ట్రేస్ చేయడానికి ఇది చాలా చిన్నది"
    ),
    "memory.trace_ops_differ": (
        "ఈ మోడల్ వేర్వేరు సీక్వెన్స్ పొడవులకు వేర్వేరు ఆపరేషన్‌లు నడుపుతుంది; ఒకే ట్రేస్ నుంచి దాని "
        "యాక్టివేషన్‌లను లెక్కించలేం"
    ),
    "memory.trace_not_polynomial": (
        "ఈ మోడల్ టెన్సర్ పరిమాణాలు దాని కొలతలు, బ్యాచ్, సీక్వెన్స్, ర్యాంక్‌ల గుణకారాలు కావు; దాని యాక్టివేషన్‌లను "
        "ఖచ్చితంగా లెక్కించలేం"
    ),
    "memory.depth_no_stack": "ట్రేస్ చేసిన మోడల్‌లో ఒకేలాంటి లేయర్ల దొంతర కనిపించలేదు",
    "memory.depth_unseen": "ట్రేస్ చేసిన స్టెప్‌లో ఒక లేయర్ ఫార్వర్డ్ గానీ బ్యాక్‌వర్డ్ గానీ కనిపించలేదు",
    "memory.depth_forwards_differ": "ట్రేస్ చేసిన లేయర్ల ఫార్వర్డ్‌లు ఒకేలా లేవు",
    "memory.depth_backwards_differ": "ట్రేస్ చేసిన లేయర్ల బ్యాక్‌వర్డ్‌లు ఒకేలా లేవు",
    "memory.depth_outlives": "ఒక స్టోరేజ్ తన చుట్టూ ఉన్న లేయర్లు ముగిసిన తర్వాత కూడా మిగిలి ఉంది",
    "memory.depth_dies_late": "ఒక స్టోరేజ్ తన లేయర్ ఆపరేషన్‌లు ముగిసిన తర్వాత విడుదలవుతోంది",
    "memory.depth_dies_early": "ఒక స్టోరేజ్ పుట్టకముందే విడుదలయ్యేలా ఉంది",
    # --- the Fit page's targets and settings -----------------------------------------------------------------
    "fit.target_too_large": "లక్ష్యం {rows} x {cols}; ప్రతి వైపు గరిష్ఠంగా {limit} ఉండవచ్చు",
    "fit.samples_below_d_in": (
        "X కి నిలువు వరుసల పూర్తి ర్యాంక్ ఉండాలంటే నమూనాలు ({samples:,}) కనీసం d_in ({d_in:,}) అంత ఉండాలి"
    ),
    "fit.rank_deficient": "X కి నిలువు వరుసల పూర్తి ర్యాంక్ లేదు; d_in కంటే ఎక్కువ నమూనాలు వాడండి",
    "fit.vera_takes_no": (
        "VeRA రెండు స్కేలింగ్ వెక్టర్లకు మాత్రమే శిక్షణ ఇస్తుంది, A, B లు యాదృచ్ఛికంగా ఫ్రీజ్ చేసినవి; కాబట్టి దానికి {settings} "
        "ఉండవు: అవి LoRA కి మాత్రమే"
    ),
    "fit.init_needs_base": (
        "ప్రారంభ విలువలు {init} మూల వెయిట్ W యొక్క మొదటి r దిశల నుంచి మొదలవుతాయి, మ్యాట్రిక్స్ విధానంలో మూల మోడల్ లేదు "
        "(అది ΔW ను మాత్రమే ఫిట్ చేస్తుంది): రిగ్రెషన్ విధానం గానీ, `gaussian` ప్రారంభ విలువలు గానీ వాడండి"
    ),
    "fit.init_rank": "ప్రారంభ విలువలు {init} మూల వెయిట్ W ({rows} x {cols}) యొక్క r దిశలను తీసుకుంటాయి: r గరిష్ఠంగా {limit} ఉండవచ్చు; ఇచ్చినది {r}",
    "fit.race.none": "పోటీకి కనీసం ఒక రకాన్ని ఎంచుకోండి",
    "fit.race.variant": "రకం వీటిలో ఒకటి అయి ఉండాలి: {choices}; ఇచ్చినది {value!r}",
    "fit.race.twice": "ప్రతి రకం ఒక్కసారే పోటీలో ఉండవచ్చు",
    "fit.race.needs_base": (
        "{names} మూల వెయిట్ W నుంచి మొదలవుతాయి, మ్యాట్రిక్స్ విధానంలో మూల మోడల్ లేదు (అది ΔW ను మాత్రమే ఫిట్ చేస్తుంది): "
        "వాటిని రిగ్రెషన్ విధానంలో పోటీలో పెట్టండి"
    ),
    "fit.race.rank": "{names} మూల వెయిట్ W యొక్క r దిశలను తీసుకుంటాయి: r గరిష్ఠంగా min(d_in, d_out) = {limit} ఉండవచ్చు; ఇచ్చినది {r}",
    "fit.upload.kind": "{name}: లక్ష్యం వీటిలో ఒకటి అయి ఉండాలి: {kinds}",
    "fit.upload.not_numbers": "{name}: విలువలు సంఖ్యలు అయి ఉండాలి; ఇచ్చిన రకం {dtype}",
    "fit.upload.complex": "{name}: సంకీర్ణ సంఖ్యలను అనుమతించం",
    "fit.upload.not_2d": "{name}: లక్ష్యం 2-D మ్యాట్రిక్స్ అయి ఉండాలి; దీనికి {ndim} కొలతలు ఉన్నాయి",
    "fit.upload.empty": "{name}: మ్యాట్రిక్స్ ఖాళీగా ఉంది",
    "fit.upload.too_large": "{name}: {rows} x {cols} చాలా పెద్దది; ప్రతి వైపు గరిష్ఠంగా {limit} ఉండవచ్చు",
    "fit.upload.not_finite": "{name}: మ్యాట్రిక్స్‌లో `NaN` లేదా అనంత విలువలు ఉన్నాయి",
    "fit.upload.too_big_values": "{name}: ±1e15 దాటిన విలువలను అనుమతించం",
    "fit.upload.csv_not_utf8": "{name}: `.csv` ఫైల్ UTF-8 టెక్స్ట్ అయి ఉండాలి",
    "fit.upload.csv_rows": "{name}: {rows} అడ్డు వరుసలు; గరిష్ఠంగా {limit} మాత్రమే అనుమతిస్తాం",
    "fit.upload.csv_cell": "{name}: ప్రతి గడిలో ఒక సంఖ్య ఉండాలి ({detail})",
    "fit.upload.csv_ragged": "{name}: అడ్డు వరుసల్లో నిలువు వరుసల సంఖ్య ఒకేలా లేదు",
    "fit.upload.npy_version": "{name}: `.npy` ఫార్మాట్ వెర్షన్ {version} కు మద్దతు లేదు; 1.0 లేదా 2.0 వాడండి",
    "fit.upload.npy_header": "{name}: ఇది `.npy` ఫైల్ కాదు ({error}: {detail})",
    "fit.upload.npy_complex": "{name}: సంకీర్ణ సంఖ్యలను అనుమతించం; విలువలు వాస్తవ సంఖ్యలు అయి ఉండాలి",
    "fit.upload.npy_dtype": (
        "{name}: విలువలు సంఖ్యలు (`bool`, పూర్ణాంకం లేదా `float`) అయి ఉండాలి; ఇచ్చిన రకం {dtype!r}"
    ),
    "fit.upload.npy_dims": "{name}: లక్ష్యం 1-D లేదా 2-D అర్రే అయి ఉండాలి; దీనికి {ndim} కొలతలు ఉన్నాయి",
    "fit.upload.npy_empty_side": (
        "{name}: ఆకారం {shape} లో ఒక వైపు ఖాళీగా గానీ రుణాత్మకంగా గానీ ఉంది; ప్రతి వైపు 1 నుంచి {limit} వరకు ఉండాలి"
    ),
    "fit.upload.npy_truncated": (
        "{name}: హెడర్ ప్రకారం ఆకారం {shape}, రకం {dtype} ({needed:,} బైట్‌లు), కానీ తర్వాత {present:,} "
        "బైట్‌ల డేటా మాత్రమే ఉంది; ఫైల్ మధ్యలో తెగిపోయింది లేదా తప్పుగా ఉంది"
    ),
    "fit.upload.npy_unreadable": "{name}: ఇది సంఖ్యల `.npy` ఫైల్ కాదు ({detail})",
    "fit.upload.npy_not_array": "{name}: ఇది ఒకే ఒక `.npy` అర్రే కాదు",
    "fit.upload.image_too_large": "{name}: {width} x {height} పిక్సెల్‌లు; ప్రతి వైపు గరిష్ఠంగా {limit} ఉండవచ్చు",
    "fit.upload.image_bomb": "{name}: పిక్సెల్‌లు మరీ ఎక్కువ ({detail}); ప్రతి వైపు గరిష్ఠంగా {limit} ఉండవచ్చు",
    "fit.upload.image_unreadable": "{name}: చదవగలిగే చిత్రం కాదు ({detail})",
    # --- the command line (the app never shows these; kept complete all the same) ----------------------------
    "cli.usage": "ఆదేశంలో పొరపాటు: {message}",
    "cli.rank_required": "`--adapter {adapter}` అడాప్టర్‌తో ర్యాంక్ (`--rank`) తప్పనిసరి",
    "cli.rank_not_ia3": (
        "`--adapter ia3` అడాప్టర్‌కు ర్యాంక్ (`--rank`) ఇవ్వలేం: IA3 ప్రతి మాడ్యూల్‌లో ఒక వెక్టర్‌కు మాత్రమే "
        "శిక్షణ ఇస్తుంది, ర్యాంక్ లేదు"
    ),
    "cli.flag_not_for_adapter": "{flag} ను `--adapter {adapter}` అడాప్టర్‌కు ఇవ్వలేం: {why}",
    "cli.seq_lens_count": "`--seq-lens` గరిష్ఠంగా {limit} పొడవులను తీసుకుంటుంది; ఇచ్చినవి {count}",
    "cli.seq_lens_setup": (
        "`--seq-lens` CUDA కాషింగ్ అలొకేటర్‌ను మళ్లీ నడిపిస్తుంది: `--device cuda` కావాలి, షార్డింగ్ ఉండకూడదు"
    ),
    "cli.regression_only": "{flags} రిగ్రెషన్ విధానానికి (`--mode regression`) మాత్రమే వర్తిస్తాయి",
    "cli.matrix_only": "{flags} మ్యాట్రిక్స్ విధానానికి (`--mode matrix`) మాత్రమే వర్తిస్తాయి",
    "cli.target_or_generated": "లక్ష్య ఫైల్ (`--target`) గానీ {flags} గానీ ఇవ్వండి, రెండూ కాదు",
    "cli.vera_alpha": "ఆల్ఫా (`--alpha`) VeRA అడాప్టర్‌కు (`--adapter vera`) వర్తించదు: VeRA స్కేలింగ్ దాని రెండు శిక్షణ పొందే వెక్టర్లే చేస్తాయి",
    "cli.init_needs_base": (
        "`--init {init}` మూల వెయిట్ W నుంచి మొదలవుతుంది, మ్యాట్రిక్స్ విధానంలో (`--mode matrix`) మూల మోడల్ లేదు (అది ΔW ను మాత్రమే ఫిట్ "
        "చేస్తుంది): `--mode regression` గానీ `--init gaussian` గానీ వాడండి"
    ),
    # --- raised by the app -------------------------------------------------------------------------------------
    "app.upload_needed": "శిక్షణ ఇవ్వడానికి ఒక లక్ష్య ఫైల్‌ను అప్‌లోడ్ చేయండి.",
    "app.worker_died": (
        "ఫిట్ అనుకోకుండా ఆగిపోయింది: దానికి శిక్షణ ఇస్తున్న ప్రాసెస్ ముగిసిపోయింది (ఎగ్జిట్ కోడ్ {exit_code}; "
        "ఉదాహరణకు, సర్వర్‌లో మెమరీ చాలలేదు). మళ్లీ ప్రయత్నించడానికి “శిక్షణ ప్రారంభించండి” నొక్కండి."
    ),
    "app.max_running": "కనీసం ఒక ఫిట్ నడవడానికి అనుమతి ఉండాలి; ఇచ్చినది {max_running}",
}
