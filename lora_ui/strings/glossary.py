"""The Telugu glossary: one Telugu form per technical concept, read by the tests and shown in docs/glossary.md.

Issue 16 found three vocabularies in the Telugu tables (Learn's teaching Telugu, Memory's Tenglish with
English plurals, Fit's dictionary Sanskrit), so one concept reached a student under two or three names.
Every Telugu string follows this table; tests/test_glossary.py checks it both ways: where an English
string uses a term, its Telugu string uses the term's one form, and no rejected variant appears anywhere.

The rules, from the seed explainer (shared/seeds/000, English + Telugu) and the Learn page:
- TRANSLITERATE a term where the seed does, in Telugu script: లాస్, స్టెప్, లెర్నింగ్ రేట్, ఫ్రీజ్,
  ఇన్ఫరెన్స్, వెయిట్, గ్రేడియంట్, ఫైన్-ట్యూనింగ్. Plurals take Telugu endings (వెయిట్లు), never an English
  "-s" (వెయిట్స్).
- TELUGU: use a Telugu word where the seed does (శిక్షణ, మార్పు, విలీనం), or where an everyday Telugu word
  says it plainly (సరిపోతుంది, కనీస హద్దు).
- LATIN: names that stay in Latin script (LoRA, GPU, PEFT; see LATIN_TERMS).
- A term may carry an English gloss in brackets at its first use on a page, as the seed writes
  "పూర్తి ఫైన్-ట్యూనింగ్ (full fine-tuning)" and "విలీనం చేయవచ్చు (merge)". Only the glosses registered here
  are allowed, right after the term, at most once per page.
- Numbers: the seed writes "7 బిలియన్", "100 మిలియన్లు", so a Telugu sentence says మిలియన్ / బిలియన్,
  never "37.7M" or "65B", and never the Indian కోట్లు / లక్షలు (the papers' figures are in millions).

`TERMS` is the table; `latin_words()` is the check the static and the Chromium tests share.
lora_ui.i18n.join_sentences puts two table strings in one paragraph with the full stop between them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TRANSLITERATE = "transliterate"
TELUGU = "telugu"
LATIN = "latin"

ZWNJ = "\u200c"  # zero-width non-joiner: ఇన్‌పుట్ and ఇన్పుట్ are one word; matching ignores it
TELUGU_LETTERS = "\u0c00-\u0c7f"
VIRAMA = "\u0c4d"


@dataclass(frozen=True)
class Term:
    """One concept. `en` and `match` are regular expressions (English: case-insensitive, whole words)."""

    key: str
    te: str  # the one Telugu form, as a student reads it
    en: str  # the English forms it translates
    rule: str  # TRANSLITERATE, TELUGU or LATIN
    match: str = ""  # what every inflection of `te` contains (default: `te` itself)
    rejected: tuple[str, ...] = ()  # Telugu variants that must never appear (regexes)
    gloss: str = ""  # English allowed in brackets after the term, once per page
    areas: tuple[str, ...] = ()  # string tables where `en` means this concept (empty: all)
    skip: tuple[str, ...] = ()  # "area.key" where `en` matches but means something else (reason in `note`)
    note: str = ""

    @property
    def te_pattern(self) -> re.Pattern[str]:
        # A form ending in a bare consonant (virama) takes endings on that consonant: చెక్‌పాయింట్ ->
        # చెక్‌పాయింటింగ్, so the default pattern is the form without its final virama.
        return re.compile((self.match or re.escape(self.te.rstrip(VIRAMA))).replace(ZWNJ, ""))

    @property
    def en_pattern(self) -> re.Pattern[str]:
        return re.compile(self.en, re.IGNORECASE)


# One Term per concept, grouped by page; kept one call per term where it fits (a table, not code).
# fmt: off
TERMS: tuple[Term, ...] = (
    # --- training, the seed's own words -------------------------------------------------------------------
    Term(
        "training", "శిక్షణ", r"\btrain(s|ed|ing|able)?\b|\bpre-trained\b", TELUGU,
        rejected=("ట్రెయిన", "ట్రైన", "ట్రెయినింగ్", "అభ్యాస"),
        note="seed: శిక్షణ పొందిన (pre-trained), శిక్షణ సమయంలో; trainable = శిక్షణ పొందే (Learn); "
        "the button is శిక్షణ ప్రారంభించండి",
    ),
    Term(
        "fine_tuning", "ఫైన్-ట్యూనింగ్", r"\bfine-tun(e|es|ed|ing)\b", TRANSLITERATE, match="ఫైన్-ట్యూన",
        rejected=("ఫైన్ ట్యూన", "సూక్ష్మ"), note="seed: ఫైన్-ట్యూన్ చేయడానికి, ఫైన్-ట్యూనింగ్",
    ),
    Term(
        "full_fine_tuning", "పూర్తి ఫైన్-ట్యూనింగ్", r"\bfull fine-tuning\b", TELUGU,
        rejected=("ఫుల్ ఫైన్", "సంపూర్ణ ఫైన్"), gloss="full fine-tuning",
        note="seed: పూర్తి ఫైన్-ట్యూనింగ్ (full fine-tuning); Memory wrote ఫుల్ ఫైన్-ట్యూనింగ్",
    ),
    Term(
        "weight", "వెయిట్", r"\bweights?\b", TRANSLITERATE,
        rejected=("వెయిట్స్", "బరువు"),
        note="seed: వెయిట్ను, వెయిట్లను; plural వెయిట్లు. బరువు is physical weight (issue 16: 'X-weighted')",
    ),
    Term(
        "parameter", "పారామితులు", r"\bparam(eter)?s?\b", TRANSLITERATE, match="పారామ(ీటర్|ితు)",
        rejected=("పారామీటర్లు", "పారామీటర్స్", "పరామితు"),
        note="seed: singular పారామీటర్ (పారామీటర్ను), plural పారామితులు (7 బిలియన్ పారామితులను)",
    ),
    Term(
        "gradient", "గ్రేడియంట్", r"\bgradients?\b", TRANSLITERATE,
        rejected=("గ్రేడియెంట్", "ప్రవణత"), note="seed: గ్రేడియంట్లను; plural గ్రేడియంట్లు",
    ),
    Term("optimizer", "ఆప్టిమైజర్", r"\boptimi[sz]ers?\b", TRANSLITERATE, rejected=("అనుకూలీకరణి",)),
    Term(
        "optimizer_state", "ఆప్టిమైజర్ స్థితి", r"\boptimi[sz]er states?\b", TELUGU,
        rejected=("స్టేట్",), note="Learn: ఆప్టిమైజర్ స్థితి; a collective noun, also for 'states'",
    ),
    Term("activation", "యాక్టివేషన్", r"\bactivations?\b", TRANSLITERATE, rejected=("క్రియాశీల",)),
    Term(
        "freeze", "ఫ్రీజ్", r"\bfreez(e|es|ing)\b|\bfrozen\b", TRANSLITERATE, rejected=("స్తంభ",),
        note="seed: ఫ్రీజ్ చేస్తుంది, ఫ్రీజ్ చేసి; frozen = ఫ్రీజ్ చేసిన. Matrix wrote స్తంభింపజేసి",
    ),
    Term(
        "loss", "లాస్", r"\bloss(es)?\b", TRANSLITERATE, rejected=("నష్ట",),
        note="Learn: లాస్ వక్రరేఖ. నష్టం means damage: 'చివరి నష్టం' read 'final damage'",
    ),
    Term(
        "step", "స్టెప్", r"(?<!step by )\bsteps?\b(?! by step)", TRANSLITERATE, rejected=("అడుగు",),
        note="an optimizer step; అడుగు (a footstep) also stood for 'floor'. 'step by step' is దశలవారీగా",
    ),
    Term(
        "learning_rate", "లెర్నింగ్ రేట్", r"\blearning rate\b", TRANSLITERATE,
        rejected=("అభ్యాస రేటు", "నేర్చుకునే రేటు"),
    ),
    Term(
        "lr_ratio", "లెర్నింగ్ రేట్ నిష్పత్తి", r"\blearning[- ]rate ratio\b", TRANSLITERATE,
        note="LoRA+ (B learns faster than A): the ratio of their learning rates",
    ),
    Term(
        "inference", "ఇన్ఫరెన్స్", r"\binference\b", TRANSLITERATE, rejected=("అనుమాన",),
        note="Learn: ఇన్ఫరెన్స్. అనుమానం means doubt or suspicion",
    ),
    Term(
        "merge", "విలీనం", r"\b(un)?merg(e|es|ed|ing)\b", TELUGU, match="విలీన", rejected=("మెర్జ్",),
        gloss="merge", note="seed: విలీనం చేయవచ్చు (merge)",
    ),
    Term(
        "update", "మార్పు", r"\bupdates?\b|\bchanges?\b|\bshift\b", TELUGU, match="మార[ు్ి]",
        rejected=("నవీకర", "అప్‌డేట్", "అప్డేట్"), gloss="update",
        note="seed: మార్పుల మ్యాట్రిక్స్ (ΔW), మార్పులను ట్రాక్ చేస్తుంది; the update ΔW, a change and "
        "the regression's shift are one concept. Fit wrote నవీకరణ",
    ),
    Term(
        "initialization", "ప్రారంభ విలువలు", r"\binitiali[sz](e|ed|ation)\b", TELUGU, match="ప్రారంభ విలువ",
        rejected=("ఇనిషియలైజ", "ఆరంభీకరణ"),
        note="how B and A get their starting values (B = 0, so training starts from the original model)",
    ),
    Term(
        "scaling", "స్కేల్", r"\bscal(e|es|ed|ing)\b", TRANSLITERATE, match="స్కేల",
        note="α/r scales B·A (స్కేల్ చేస్తారు, స్కేలింగ్); a log axis is లాగ్ స్కేల్",
    ),
    Term("alpha", "ఆల్ఫా", r"\balpha\b", TRANSLITERATE, match="ఆల్ఫా|α"),
    Term(
        "live", "లైవ్", r"\blive\b(?! total)", TRANSLITERATE, rejected=("ప్రత్యక్ష",),
        note="as in a live class; ప్రత్యక్ష also reads 'direct, in person'. 'live total' (memory held "
        "at one moment) is ఒకే క్షణంలో మెమరీలో ఉన్న",
    ),
    Term(
        "fit_run", "ఫిట్", r"\bfit(s|ted|ting)?\b", TRANSLITERATE, match="ఫిట్|శిక్షణ",
        rejected=("సరిపోల్చ",), areas=("fit",),
        note="a fit (one training run) is ఫిట్; to fit a target is దగ్గరయ్యేలా శిక్షణ ఇవ్వడం. The page is "
        "ఫిట్ (లైవ్ శిక్షణ). సరిపోల్చు means compare",
    ),
    Term(
        "fits_memory", "సరిపోతుంది", r"\bfits?\b", TELUGU, match="సరిపో", areas=("memory",),
        note="fits in memory (the Memory page's question)",
    ),
    Term(
        "tight", "బొటాబొటిగా సరిపోతుంది", r"\btight(ly)?\b", TELUGU, match="బొటాబొటి",
        rejected=("టైట్", "బిగుతు"), note="fits with almost nothing to spare; బిగుతు is a tight garment",
    ),
    Term(
        "convergence", "స్థిరపడింది", r"\bconverg(e|es|ed|ence)\b", TELUGU, match="స్థిరపడ",
        rejected=("అభిసరణ", "కన్వర్జ"), note="the loss settled: లాస్ స్థిరపడింది (a stop reason)",
    ),
    Term(
        "plateau", "లాస్ తగ్గడం ఆగిపోయింది", r"\bplateau(s|ed)?\b", TELUGU, match="తగ్గడం ఆగ",
        rejected=("పీఠభూమి", "ప్లాటో"),
        note="the loss stopped improving (a stop reason); పీఠభూమి is a plateau in geography",
    ),
    Term(
        "floor", "కనీస హద్దు", r"\bfloor\b", TELUGU, rejected=("అడుగు స్థాయి",), gloss="floor",
        note="the best loss any rank-r update can reach (Eckart–Young)",
    ),
    Term("noise", "నాయిస్", r"\bnoise\b", TRANSLITERATE, rejected=("శబ్ద",), note="శబ్దం is sound"),
    Term("signal", "సిగ్నల్", r"\bsignal('s)?\b", TRANSLITERATE, rejected=("సంకేత",), note="సంకేతం is a sign"),
    Term(
        "race", "పోటీ", r"\brac(e|es|ed|ing)\b", TELUGU, areas=("fit",),
        note="several adapter variants trained side by side on one target (issue 15); the button is పోటీ "
        "ప్రారంభించండి",
    ),
    Term(
        "variant", "రకం", r"\bvariants?\b", TELUGU, match="రక[ంా]", rejected=("వేరియంట్",),
        note="a kind of adapter in the race (LoRA, rsLoRA, LoRA+, PiSSA, OLoRA, VeRA); plural రకాలు",
    ),
    Term(
        "sweep", "ర్యాంక్‌ల వారీగా పోలిక", r"\bsweep\b", TELUGU, match="ర్యాంక్‌ల వారీగా పోల",
        rejected=("పరిశీలన", "స్వీప్"), note="a short fit at each rank, compared. పరిశీలన is inspection",
    ),
    # --- the matrix and the model --------------------------------------------------------------------------
    Term("rank", "ర్యాంక్", r"\branks?\b", TRANSLITERATE, rejected=("ర్యాంకు",), note="seed: ర్యాంక్"),
    Term(
        "matrix", "మ్యాట్రిక్స్", r"\bmatri(x|ces)\b", TRANSLITERATE,
        rejected=("మాత్రిక", "మ్యాట్రిక్లు", "మ్యాట్రిసెస్"), note="plural మ్యాట్రిక్స్‌లు",
    ),
    Term(
        "product", "గుణకారం", r"\bproduct\b|\bmultipl(y|ied|ication)\b", TELUGU, match="గుణ(కార|ించ|ిస్త)",
        rejected=("గుణనఫల", "లబ్ధం"), note="seed: మ్యాట్రిక్స్ గుణకారం (matrix multiplication)",
    ),
    # --- the LoRA family (issue 15): how the other adapter types build their update ----------------------
    Term(
        "vector", "వెక్టర్", r"\bvectors?\b", TRANSLITERATE, match="వెక్టర",
        note="plural వెక్టర్లు; DoRA's magnitude vector, VeRA's and IA3's scaling vectors",
    ),
    Term(
        "scaling_vector", "స్కేలింగ్ వెక్టర్", r"\bscaling vectors?\b", TRANSLITERATE, match="స్కేలింగ్ వెక్టర",
        note="what VeRA and IA3 train: a vector whose entries multiply outputs (or inputs) one by one",
    ),
    Term(
        "kronecker", "క్రోనెకర్", r"\bKronecker\b", TRANSLITERATE,
        note="LoKr's Kronecker product: క్రోనెకర్ గుణకారం (a person's name, transliterated)",
    ),
    Term(
        "hadamard", "హడమార్డ్", r"\bHadamard\b", TRANSLITERATE,
        note="LoHa's Hadamard (entry-by-entry) product: హడమార్డ్ గుణకారం (ఎంట్రీల వారీగా)",
    ),
    Term(
        "singular_value", "సింగ్యులర్ విలువ", r"\bsingular values?\b", TRANSLITERATE, match="సింగ్యులర్ విలువ",
        note="Fit: సింగ్యులర్ విలువలు; AdaLoRA prunes them",
    ),
    Term(
        "random", "యాదృచ్ఛిక", r"\brandom(ly)?\b", TELUGU,
        note="Fit: యాదృచ్ఛికం, తక్కువ ర్యాంక్; VeRA's frozen random A and B",
    ),
    Term(
        "prune", "కత్తిరి", r"\bprun(e|es|ed|ing)\b", TELUGU, rejected=("ప్రూన్",),
        note="AdaLoRA prunes singular values: కత్తిరిస్తుంది",
    ),
    Term("rows", "అడ్డు వరుసలు", r"\brows?\b", TELUGU, match="అడ్డు వరుస", note="Learn: అడ్డు వరుసలు"),
    Term("columns", "నిలువు వరుసలు", r"\b(columns?|cols)\b", TELUGU, match="నిలువు వరుస"),
    Term("entry", "ఎంట్రీ", r"\bentr(y|ies)\b", TRANSLITERATE, note="one number in a matrix"),
    Term("value", "విలువ", r"\bvalues?\b(?! projections?)", TELUGU, note="not attention's value projection (వాల్యూ)"),
    Term("layer", "లేయర్", r"\blayers?\b", TRANSLITERATE, rejected=("పొర(?!పాటు)",), note="Model wrote పొరలు"),
    Term(
        "module", "మాడ్యూల్", r"\bmodules?\b", TRANSLITERATE, rejected=("మాడ్యూల్స్",),
        note="plural మాడ్యూల్‌లు",
    ),
    Term(
        "target", "లక్ష్య", r"\btargets?\b", TELUGU, rejected=("టార్గెట్",), gloss="target modules",
        note="target modules (PEFT's target_modules) and the Fit page's target ΔW: లక్ష్య మాడ్యూల్‌లు",
    ),
    Term(
        "base", "మూల మోడల్", r"\bbase\b", TELUGU, match="మూల", rejected=("బేస్",), gloss="base model",
        note="the frozen pre-trained model; Memory wrote బేస్",
    ),
    Term(
        "adapter", "అడాప్టర్", r"\badapters?\b", TRANSLITERATE, rejected=("ఎడాప్టర్",),
        note="Learn/Fit/Memory: అడాప్టర్ (the seed's one ఎడాప్టర్ is not followed)",
    ),
    Term(
        "adapt", "అడాప్ట్ చేయడం", r"\badapt(s|ed|ing|ation)?\b", TRANSLITERATE, match="అడాప్ట",
        rejected=("అనుకూలి", "అనుకూలించ"), note="seed: లో-ర్యాంక్ అడాప్టేషన్. అనుకూలించు means to be favourable",
    ),
    Term(
        "architecture", "నిర్మాణం", r"\barchitecture\b", TELUGU, match="నిర్మాణ",
        rejected=("ఆర్కిటెక్చర్",), note="మోడల్ నిర్మాణం; the Model page builds it, it does not 'build the building'",
    ),
    Term(
        "magnitude", "మాగ్నిట్యూడ్", r"\bmagnitude\b", TRANSLITERATE, rejected=("పరిమాణ వెక్టర్",),
        note="DoRA's magnitude vector (lengths); పరిమాణం means size",
    ),
    Term("copy", "కాపీ", r"\bcopy\b", TRANSLITERATE, note="ప్రతి would also read 'every'"),
    Term(
        "model", "మోడల్", r"\bmodels?\b", TRANSLITERATE,
        skip=(
            "learn.scenario.qlora_65b.note",
            # "model it with device cuda", "does not model AdaLoRA's ...": the verb (అంచనా, our estimate)
            "errors.memory.qlora_cpu", "errors.memory.optimizer_8bit_cpu", "errors.memory.adalora_sharding",
            "errors.memory.moe_experts",
        ),
        note="seed: మోడల్. 'the optimizer we model' is a verb: మా అంచనాలో లెక్కించే (నమూనా would be 'sample')",
    ),
    # --- memory --------------------------------------------------------------------------------------------
    Term("memory", "మెమరీ", r"\bmemory\b", TRANSLITERATE, rejected=("జ్ఞాపక",)),
    Term("peak", "పీక్", r"\bpeaks?\b", TRANSLITERATE, rejected=("శిఖర",)),
    Term(
        "allocator", "అలొకేటర్", r"\ballocator\b", TRANSLITERATE, rejected=("కేటాయింపుదారు",),
        note="PyTorch's caching allocator, a named component; to allocate is కేటాయించు",
    ),
    Term(
        "reserved", "రిజర్వ్", r"\breserve[ds]?\b", TRANSLITERATE, rejected=("రిజర్వ్డ్",),
        note="reserved memory: రిజర్వ్ చేసిన మెమరీ (what the allocator holds beyond the peak)",
    ),
    Term(
        "margin", "మార్జిన్", r"\bmargins?\b", TRANSLITERATE, rejected=("అంచు",),
        note="a safety margin on a memory estimate; అంచు is the edge of a page",
    ),
    Term(
        "uncertainty", "అనిశ్చితి పరిధి", r"\buncertainty\b|\bband\b", TELUGU, match="అనిశ్చితి",
        rejected=("బ్యాండ్",), note="the band of likely values around an estimate",
    ),
    Term("precision", "ప్రెసిషన్", r"\bprecision\b", TRANSLITERATE, rejected=("ఖచ్చితత్వ",)),
    Term("batch", "బ్యాచ్", r"\bbatch\b", TRANSLITERATE),
    Term("sequence", "సీక్వెన్స్", r"\bsequences?\b", TRANSLITERATE),
    Term("checkpoint", "చెక్‌పాయింట్", r"\bcheckpoint(s|ing)?\b", TRANSLITERATE),
    Term("sharding", "షార్డింగ్", r"\bshard(s|ed|ing)?\b", TRANSLITERATE, match="షార్డ|ZeRO|FSDP"),
    Term("attention", "అటెన్షన్", r"\battention\b", TRANSLITERATE),
    Term("kernel", "కెర్నెల్", r"\bkernels?\b", TRANSLITERATE, rejected=("కెర్నెల్స్",)),
    Term("context", "కాంటెక్స్ట్", r"\bcontext\b", TRANSLITERATE, note="the CUDA context"),
    Term("mixed_precision", "మిక్స్‌డ్ ప్రెసిషన్", r"\bmixed precision\b", TRANSLITERATE),
    Term(
        "input", "ఇన్‌పుట్", r"\binputs?\b", TRANSLITERATE, skip=("fit.upload",),
        note="plural ఇన్‌పుట్‌లు. fit.upload: 'up to' is not an input",
    ),
    Term("output", "అవుట్‌పుట్", r"\boutputs?\b", TRANSLITERATE),
    Term("estimate", "అంచనా", r"\bestimates?\b", TELUGU),
    Term("queue", "క్యూ", r"\bqueued?\b", TRANSLITERATE, note="వరుస is kept for rows"),
    Term("process", "ప్రాసెస్", r"\bprocess\b", TRANSLITERATE, rejected=("ప్రక్రియ",)),
    Term("samples", "నమూనాలు", r"\bsamples?\b", TELUGU, match="నమూనా", note="data points; not 'model'"),
    # --- numbers: the seed's words -------------------------------------------------------------------------
    Term(
        "million", "మిలియన్", r"\bmillion\b|(?<![\w.-])\d+(\.\d+)?\s?M\b", TELUGU,
        rejected=("కోటి", "కోట్ల", "లక్ష(?!్)"), note="seed: 100 మిలియన్లు",
    ),
    Term(
        "billion", "బిలియన్", r"\bbillion\b|(?<![\w.-])\d+(\.\d+)?\s?B\b", TELUGU,
        rejected=("కోటి", "కోట్ల", "వంద కోట్ల"), note="seed: 7 బిలియన్ పారామితులను",
    ),
)
# fmt: on

BY_KEY = {t.key: t for t in TERMS}

# Style rules that hold in every Telugu string, whatever the term (issue 16, "Three vocabularies" and
# "Half-translated"): "vs", a size written "37.7M" / "65B", and an English plural "-s" on a transliterated
# word (వెయిట్స్, మాడ్యూల్స్, టోకెన్స్; the words below end in "-ks"/"-nce" sounds and are singular).
STYLE_REJECTED = {
    "vs": r"\bvs\.?(?![\w])",
    "number_M_or_B": r"(?<![\w.-])\d+(\.\d+)?\s?[MB]\b",
}
SINGULAR_S = frozenset({"మ్యాట్రిక్స్", "సీక్వెన్స్", "ఇన్ఫరెన్స్", "కన్వర్జెన్స్", "బ్యాలెన్స్"})
_WORD_S = re.compile(f"[{TELUGU_LETTERS}]*{VIRAMA}స{VIRAMA}(?![{TELUGU_LETTERS}])")


def style_problems(text: str) -> list[str]:
    """The STYLE_REJECTED rules `text` breaks, then "english_plural: <word>" for each English plural."""
    text = text.replace(ZWNJ, "")
    found = [rule for rule, pattern in STYLE_REJECTED.items() if re.search(pattern, text)]
    return found + [f"english_plural: {w}" for w in _WORD_S.findall(text) if w not in SINGULAR_S]


# Latin script that a Telugu page may show: technical names with no Telugu form (kept small; proper names
# of people, models and GPUs are data, passed to latin_words() by the caller).
LATIN_TERMS = frozenset({
    "LoRA", "QLoRA", "DoRA", "PEFT", "GPU", "GPUs", "CPU", "CUDA", "PyTorch", "GiB", "MiB", "GB", "MB", "TB",
    "AdamW", "Adam", "SGD", "ZeRO", "FSDP", "SDPA", "JSON", "CSV", "RMS", "NF4", "LLM", "LLMs",
    "VeRA", "LoHa", "LoKr", "IA3", "AdaLoRA", "rsLoRA", "SVD",  # the LoRA family's names (PEFT's, the papers')
    "MoE",  # mixture of experts (Mixtral's fused expert layers), as the papers and transformers write it
    "min", "max", "log",  # math functions, as in min(d, k)
    "PiSSA", "OLoRA", "arXiv",  # the Fit race's variants (issue 15) and their papers' archive
})  # fmt: skip

GLOSSES = {t.gloss: t for t in TERMS if t.gloss}
_GLOSS = re.compile(r"\(([A-Za-z][A-Za-z \-]*)\)")


def strip_glosses(text: str) -> str:
    """`text` without its registered "(english)" glosses (where they stand is gloss_uses()'s business)."""
    return _GLOSS.sub(lambda m: " " if m.group(1) in GLOSSES else m.group(0), text)


def gloss_uses(text: str) -> list[tuple[str, bool]]:
    """Each "(english)" in `text`: the words, and whether they are a registered gloss right after its term
    (the term may carry a Telugu ending: "మార్పుకు (update)")."""
    plain = text.replace(ZWNJ, "")
    out = []
    for m in _GLOSS.finditer(plain):
        if not latin_words(m.group(1)):  # "(GiB)", "(PEFT)": allowed terms in brackets, not a gloss
            continue
        term = GLOSSES.get(m.group(1))
        # the term's words, perhaps with a Telugu ending: the last three words before the bracket
        window = " ".join(plain[: m.start()].split()[-3:])
        out.append((m.group(1), term is not None and bool(term.te_pattern.search(window))))
    return out


def latin_words(text: str, names: tuple[str, ...] = ()) -> list[str]:
    """Latin words a Telugu reader would meet in `text`, other than LATIN_TERMS, registered glosses,
    the given proper names (GPUs, presets), identifiers (anything with a digit, underscore or dot:
    q_proj, fp32, Llama-2-7B, config.json) and single letters used as math symbols (W, B, A, r, d, k)."""
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, " ")
    text = re.sub(r"`[^`]*`", " ", text)  # code: option codes and file names, shown as code
    text = strip_glosses(text)
    left = []
    for token in re.findall(r"[A-Za-z][A-Za-z0-9_.\-]*", text):
        token = token.rstrip(".-")
        if token in LATIN_TERMS or re.search(r"[0-9_.]", token) or len(token) == 1:
            continue
        if all(part in LATIN_TERMS or len(part) == 1 for part in token.split("-")):
            continue
        left.append(token)
    return left


def markdown_table() -> str:
    """The glossary as the Markdown table in docs/glossary.md (a test keeps the two the same)."""
    lines = [
        "| concept | Telugu (the one form) | English forms (regex) | rule | rejected variants | gloss | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in TERMS:
        en = t.en.replace("|", "\\|")
        rejected = ", ".join(t.rejected) or "–"
        lines.append(
            f"| {t.key} | {t.te} | `{en}` | {t.rule} | {rejected} | {t.gloss or '–'} | "
            f"{t.note.replace('|', '/') or '–'} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m lora_ui.strings.glossary: the table for docs/glossary.md
    print(markdown_table(), end="")
