"""Strings for the Learn page (the app's home) and its classroom scenarios.

Facts and figures come from the seed explainer (seeds/000), the rank explainer (seeds/003), the LoRA paper
(Hu et al. 2021, arXiv 2106.09685) and the QLoRA paper (Dettmers et al. 2023, arXiv 2305.14314); the text
is our own. Numbers that the page computes live (the worked example) are placeholders, never typed in.
"""

EN = {
    "title": "Learn: what LoRA is, and why it is cheap",
    "intro": (
        "LoRA (Low-Rank Adaptation) fine-tunes a large model by training a small add-on instead of the model "
        "itself. This page explains the idea step by step, with one worked example you can change, and then "
        "opens the other pages with that example already loaded."
    ),
    "problem.h": "1. The problem: full fine-tuning touches every weight",
    "problem.body": (
        "Teaching a pre-trained model a new skill the traditional way means adjusting every one of its "
        "weights. For each weight the GPU must then hold three things: the weight itself, its gradient, and "
        "the optimizer's running statistics (AdamW keeps two numbers per weight). A model with 7 billion "
        "parameters therefore needs several times its own size in memory just to train, which usually means "
        "several expensive GPUs."
    ),
    "idea.h": "2. The idea: freeze W, learn a small ΔW",
    "idea.body": (
        "LoRA keeps every original weight matrix W frozen: no gradients and no optimizer state for it. Beside "
        "it, LoRA trains an update ΔW written as the product of two thin matrices, ΔW = B·A. A small number r, "
        "the rank, sets how thin they are. Only B and A are trained."
    ),
    "rank.h": "3. What “rank” means, in plain words",
    "rank.body": (
        "A matrix is a table of numbers. Its rank counts how many truly independent rows (or columns) it has: "
        "rows that are not just mixtures of other rows. A full-rank matrix has no redundant row at all. LoRA "
        "builds on the finding that when a large pre-trained model is adapted to a new task, the change it "
        "needs has a low “intrinsic dimension”: a few directions carry almost all of it. So the update ΔW can "
        "be squeezed through r directions: B says how each output uses those r directions, and A says how "
        "each input feeds them. Rank 1 means a single direction; rank 8 means eight."
    ),
    "math.h": "4. The math",
    "math.body": (
        "After training, the layer uses the weight below. The factor α/r (alpha over the rank) scales the "
        "update, so that changing r does not force you to retune the learning rate."
    ),
    "math.shapes": (
        "W is d×k and stays frozen; B is d×r and A is r×k. B starts at zero, so training starts exactly from "
        "the original model."
    ),
    "math.count": (
        "Counting the trainable values: full fine-tuning trains every entry of W, while LoRA trains only the "
        "entries of B and A. When r is much smaller than d and k, the second number is tiny."
    ),
    "example.h": "5. A worked example, computed live",
    "example.intro": (
        "One weight matrix of {d} × {k}, as in the explainer this page builds on. The numbers below come "
        "from the same code the Matrix page uses; move the rank and watch them change."
    ),
    "example.rank": "rank r",
    "example.rank_help": "The LoRA rank for this example (the explainer uses 8).",
    "example.metric_full": "Full fine-tuning trains",
    "example.metric_lora": "LoRA trains",
    "example.metric_percent": "LoRA / full",
    "example.sentence": (
        "At rank {r}: B holds {d} × {r} = {b} values and A holds {r} × {k} = {a}, so LoRA trains {lora} "
        "values instead of {full}: {pct} % of them."
    ),
    "example.col_matrix": "Matrix",
    "example.col_shape": "Shape",
    "example.col_params": "Values",
    "example.col_trained": "Trained?",
    "example.row_w": "W (original weights)",
    "example.row_b": "B",
    "example.row_a": "A",
    "example.yes": "yes",
    "example.no": "no (frozen)",
    "example.naming": (
        "Some explainers call the {d} × r matrix A and the r × {k} one B. The LoRA paper and PEFT use "
        "B (d×r) and A (r×k), as here. The count is the same either way."
    ),
    "analogy.h": "6. An analogy: the encyclopedia and the addendum",
    "analogy.full": (
        "**Full fine-tuning:** a 100-volume encyclopedia needs one new medical discovery, so you rewrite and "
        "reprint every volume. Slow, and very expensive."
    ),
    "analogy.lora": (
        "**LoRA:** you leave the encyclopedia exactly as it is (frozen) and write a thin addendum booklet "
        "with only the changes (the low-rank matrices). A reader looks a topic up in the encyclopedia, then "
        "checks the booklet for any correction. Another skill gets another booklet; the encyclopedia is "
        "shared by all of them."
    ),
    "merge.h": "7. Merging: no extra delay when the model runs",
    "merge.body": (
        "When training is done, B·A can be multiplied out once and added into W. The merged weight has "
        "exactly the original shape, so answering takes exactly as long as before: LoRA adds zero inference "
        "latency. If you keep the adapter separate instead, you can swap booklets per task, at the cost of "
        "one small extra multiplication."
    ),
    "qlora.h": "8. QLoRA: LoRA on a 4-bit model",
    "qlora.body": (
        "QLoRA (Dettmers and colleagues, 2023) goes further. It stores the frozen base model in 4 bits per "
        "weight, using a new data type, 4-bit NormalFloat (NF4), designed for weights that follow a bell "
        "curve. It also quantizes the quantization constants themselves (double quantization), and it uses "
        "paged optimizers, which move optimizer state to CPU memory during memory spikes. Gradients flow "
        "through the frozen 4-bit weights into LoRA adapters kept in 16 bits. This way the authors "
        "fine-tuned a 65-billion-parameter model on a single 48 GB GPU while matching the quality of 16-bit "
        "fine-tuning."
    ),
    "family.h": "9. The LoRA family: other small updates",
    "family.intro": (
        "PEFT offers more adapter types than LoRA. Each one freezes W and trains something small beside it; they "
        "differ in what they train, so in how many values they train and in what kind of update they can make. "
        "The Model page counts every one of them on a real model, side by side."
    ),
    "family.lora": (
        "**LoRA** (Hu et al. 2021) trains B and A beside each frozen weight; the update B·A has rank at most r. "
        "The usual first choice: simple, supported everywhere, and merged into W after training."
    ),
    "family.rslora": (
        "**rsLoRA** (Kalajdzievski 2023) trains the same B and A but scales the update by α/√r instead of α/r. "
        "The paper shows that with α/r learning slows down as the rank grows, so a higher rank buys little; with "
        "α/√r a higher rank trains stably and does better. People turn it on when they use large ranks."
    ),
    "family.dora": (
        "**DoRA** (Liu et al. 2024) splits each weight into a magnitude (one length per output) and a direction: "
        "B·A updates the direction, and a magnitude vector is trained too. The paper finds that it learns more "
        "like full fine-tuning and beats LoRA at the same rank, for a little more compute per step."
    ),
    "family.vera": (
        "**VeRA** (Kopiczko et al. 2024) uses one pair of random matrices A and B, frozen and shared by every "
        "layer, and trains only two scaling vectors per layer. The paper reports far fewer trainable "
        "parameters than LoRA for the same quality: a choice when many small adapters must be stored."
    ),
    "family.loha": (
        "**LoHa** (FedPara, Hyeon-Woo et al. 2022) trains two rank-r pairs and multiplies their products entry "
        "by entry (the Hadamard product): with as many values as a rank-2r LoRA, the update can reach rank r². "
        "FedPara was made for federated learning, where every value sent costs; LoHa is popular for "
        "text-to-image models."
    ),
    "family.lokr": (
        "**LoKr** (LyCORIS, Yeh et al. 2024) writes the update as the Kronecker product of two small matrices, "
        "so a handful of values can make an update of full rank, with a block structure. LyCORIS gathers these "
        "methods for customizing text-to-image models, where LoKr and LoHa are common."
    ),
    "family.ia3": (
        "**IA3** (Liu et al. 2022) trains one vector per module that rescales what it computes: the key "
        "and value projections of attention, and the inner activations of the feed-forward block. The fewest "
        "values of all, and no rank. Its paper's few-shot recipe beat in-context learning at a fraction of the "
        "cost."
    ),
    "family.adalora": (
        "**AdaLoRA** (Zhang et al. 2023) writes each update like an SVD, P·Λ·Q, starts every module at rank "
        "init_r and, while training, prunes the singular values that matter least, so the ranks go to the "
        "matrices that need them. A choice when the total number of trained values is fixed."
    ),
    "family.loraplus": (
        "**LoRA+** (Hayou et al. 2024) is not another adapter: it trains LoRA's B with a learning rate λ times "
        "A's. The paper shows that one shared learning rate is inefficient for wide models, and reports better "
        "results and up to about twice faster fine-tuning at the same cost."
    ),
    "family.compare": "Model: the whole family on Llama-2-7B, side by side",
    "sources": "Sources",
    "next.h": "Try it yourself",
    "next.intro": "Each page opens with an example already loaded:",
    "next.matrix": "Matrix: this {d} × {k} matrix at rank {r}",
    "next.model": "Model: LoRA parameters in a real model (Llama-2-7B, q and v, rank 8)",
    "next.memory": "Memory: will this fine-tune fit on your GPU?",
    "next.fit": "Fit: watch a rank-1 LoRA learn a change, live",
    "scenarios.h": "Classroom scenarios",
    "scenarios.intro": (
        "Famous numbers from the papers, one click each. Put the link on the projector: every student who "
        "opens it sees the same view."
    ),
    "scenario.open": "Open",
    "headline.full_params": "Full fine-tuning trains",
    "headline.lora_params": "LoRA trains",
    "headline.percent": "Share trained",
    "headline.trainable": "Trainable parameters",
    "headline.full_checkpoint": "Full checkpoint",
    "headline.lora_checkpoint": "Adapter checkpoint",
    "headline.gpu_total": "GPU memory, total",
    "headline.more_than_r8": "More than at r = 8",
    "scenario.seed_matrix.title": "The explainer's example: 10,000 × 10,000 at rank 8",
    "scenario.seed_matrix.body": "The explainer's matrix. Full fine-tuning trains every value; LoRA at rank 8 trains only B and A. The explainer gives 100,000,000 against 160,000 (0.16 %).",
    "scenario.seed_matrix.note": "Computed live by lora_core, and equal to the explainer's figures: both are plain counting.",
    "scenario.llama2_qv.title": "Llama-2-7B, q and v, rank 8",
    "scenario.llama2_qv.body": "LoRA on the query and value projections of all 32 layers. PEFT's print_trainable_parameters reports 4,194,304 trainable parameters, about 0.06 % of the model.",
    "scenario.llama2_qv.note": "Counted live from the model's configuration, module by module as PEFT does, so the figure matches PEFT's.",
    "scenario.gpt3_175b.title": "GPT-3 175B: the LoRA paper's headline",
    "scenario.gpt3_175b.body": "The LoRA paper adapts GPT-3 175B with 37.7M trainable parameters: rank 8 on W_q and W_v (Table 4). With rank 4, training memory fell from 1.2 TB to 350 GB, and each task's checkpoint from 350 GB to 35 MB (section 4.2).",
    "scenario.gpt3_175b.note": "Our GPT-3 preset fuses q, k and v into one c_attn projection; rank 8 on it trains exactly as many values as the paper's W_q and W_v, so the trainable count agrees. Our adapter checkpoint is larger than 35 MB because this link uses rank 8, not 4, and PEFT keeps adapters in fp32 (rank 4 in 16 bits is about 38 MB, which the paper rounds to 35 MB). Training totals differ: the paper measured its own cluster, while the Memory page estimates the one setup you choose.",
    "scenario.qlora_65b.title": "QLoRA: a 65B model on one 48 GB GPU",
    "scenario.qlora_65b.body": (
        "The QLoRA paper fine-tuned a 65-billion-parameter LLaMA on a single 48 GB GPU: 4-bit NF4 base, "
        "double quantization, paged optimizers, rank 64 on every linear layer."
    ),
    "scenario.qlora_65b.note": "We have no 65B preset, so Llama-2-70B stands in: about 8 % more weights. The link sets batch 1, sequence 512, gradient checkpointing and paged 8-bit AdamW (the paged optimizer we model); compare the total with the paper's 48 GB, then raise the batch or the sequence length on the Memory page and watch it grow.",
    "scenario.rank_r8.title": "Rank barely changes memory (r = 8)",
    "scenario.rank_r8.body": "Llama-3.2-3B with LoRA at rank 8 on every linear layer. Open the r = 64 version next and compare the totals: the frozen weights dominate, and the adapter is small at either rank.",
    "scenario.rank_r8.note": (
        "The difference comes only from the adapter, its gradients and its optimizer state; the Memory page "
        "computes the exact figures from our model."
    ),
    "scenario.rank_r64.title": "… and the same at r = 64",
    "scenario.rank_r64.body": "The same model at rank 64: eight times the adapter, yet the total hardly moves.",
    "scenario.rank_r64.note": "Activations and the frozen weights do not depend on r at all.",
    "scenario.seed_fit.title": "The minimal LoRA experiment: a rank-1 fit",
    "scenario.seed_fit.body": (
        "A linear model y = Xθ learns a new task, θ + 1: a change of rank 1. A rank-1 LoRA trained with Adam "
        "recovers that all-ones change, and is then merged into the weights."
    ),
    "scenario.seed_fit.note": (
        "The original experiment (in R torch) uses 10,000 samples and 1,000 inputs; the Fit page runs a "
        "smaller version live, so its loss curve has the same shape but not the same numbers."
    ),
}

TE = {
    "title": "నేర్చుకోండి: LoRA అంటే ఏమిటి, అది ఎందుకు చవక",
    "intro": (
        "LoRA (లో-ర్యాంక్ అడాప్టేషన్) ఒక పెద్ద మోడల్‌ను మొత్తం మార్చకుండా, దానికి జోడించిన చిన్న భాగానికి "
        "మాత్రమే శిక్షణ ఇచ్చి ఫైన్-ట్యూన్ చేస్తుంది. ఈ పేజీ ఆ ఆలోచనను దశలవారీగా వివరిస్తుంది; మీరు మార్చగలిగే "
        "ఒక ఉదాహరణ కూడా ఉంది. తర్వాత అదే ఉదాహరణతో మిగతా పేజీలను తెరవవచ్చు."
    ),
    "problem.h": "1. సమస్య: పూర్తి ఫైన్-ట్యూనింగ్ ప్రతి వెయిట్‌నూ మారుస్తుంది",
    "problem.body": (
        "ముందుగా శిక్షణ పొందిన మోడల్‌కు కొత్త నైపుణ్యం నేర్పించే సాంప్రదాయ పద్ధతిలో దాని ప్రతి వెయిట్‌నూ "
        "సర్దుబాటు చేస్తారు. అప్పుడు ప్రతి వెయిట్ కోసం GPU మెమరీలో మూడు ఉంచాలి: ఆ వెయిట్, దాని గ్రేడియంట్, "
        "ఆప్టిమైజర్ ఉంచుకునే గణాంకాలు (AdamW ప్రతి వెయిట్‌కు రెండు సంఖ్యలు ఉంచుతుంది). అందుకే 7 బిలియన్ "
        "పారామితుల మోడల్‌కు శిక్షణ కోసమే దాని పరిమాణానికి ఎన్నో రెట్లు మెమరీ కావాలి; సాధారణంగా అంటే ఎన్నో ఖరీదైన GPUలు."
    ),
    "idea.h": "2. ఆలోచన: W ను ఫ్రీజ్ చేసి, చిన్న ΔW నేర్చుకోవడం",
    "idea.body": (
        "LoRA ప్రతి అసలు వెయిట్ మ్యాట్రిక్స్ W ను ఫ్రీజ్ చేస్తుంది: దానికి గ్రేడియంట్లు లేవు, ఆప్టిమైజర్ స్థితి "
        "లేదు. దాని పక్కన, రెండు సన్నని మ్యాట్రిక్స్‌ల గుణకారంగా రాసిన మార్పు (update) ΔW = B·A కు మాత్రమే శిక్షణ "
        "ఇస్తుంది. ర్యాంక్ r అనే చిన్న సంఖ్య అవి ఎంత సన్నగా ఉండాలో నిర్ణయిస్తుంది. శిక్షణ పొందేవి B, A మాత్రమే."
    ),
    "rank.h": "3. “ర్యాంక్” అంటే ఏమిటి, సరళంగా",
    "rank.body": (
        "మ్యాట్రిక్స్ అంటే సంఖ్యల పట్టిక. దాని ర్యాంక్ అంటే అందులో నిజంగా స్వతంత్రంగా ఉన్న అడ్డు వరుసల (లేదా "
        "నిలువు వరుసల) సంఖ్య: ఇతర వరుసల మిశ్రమాలు కాని వరుసలు. పూర్తి ర్యాంక్ మ్యాట్రిక్స్‌లో అనవసరమైన వరుస "
        "ఒక్కటి కూడా ఉండదు. ముందుగా శిక్షణ పొందిన పెద్ద మోడల్‌ను కొత్త పనికి అడాప్ట్ చేసినప్పుడు కావలసిన మార్పుకు "
        "“తక్కువ అంతర్గత కొలత” ఉంటుందని పరిశోధకులు గమనించారు; LoRA దాని మీదే ఆధారపడుతుంది: కొన్ని దిశలే దాదాపు "
        "మొత్తం మార్పును మోస్తాయి. కాబట్టి మార్పు ΔW ను r దిశల గుండా పంపవచ్చు: ప్రతి అవుట్‌పుట్ ఆ r దిశలను ఎలా "
        "వాడుతుందో B చెబుతుంది, ప్రతి ఇన్‌పుట్ వాటికి ఎలా చేరుతుందో A చెబుతుంది. ర్యాంక్ 1 అంటే ఒకే దిశ; ర్యాంక్ 8 "
        "అంటే ఎనిమిది దిశలు."
    ),
    "math.h": "4. గణితం",
    "math.body": (
        "శిక్షణ తర్వాత లేయర్ కింది వెయిట్‌ను వాడుతుంది. α/r (ఆల్ఫా భాగించు ర్యాంక్) అనే గుణకం మార్పును స్కేల్ "
        "చేస్తుంది; దాంతో r మార్చిన ప్రతిసారీ లెర్నింగ్ రేట్‌ను మళ్లీ సర్దుబాటు చేయనక్కర్లేదు."
    ),
    "math.shapes": (
        "W పరిమాణం d×k, అది ఫ్రీజ్ అయి ఉంటుంది; B పరిమాణం d×r, A పరిమాణం r×k. B సున్నాతో మొదలవుతుంది, "
        "కాబట్టి శిక్షణ సరిగ్గా అసలు మోడల్ నుంచే మొదలవుతుంది."
    ),
    "math.count": (
        "శిక్షణ పొందే విలువల లెక్క: పూర్తి ఫైన్-ట్యూనింగ్ W లోని ప్రతి ఎంట్రీకీ శిక్షణ ఇస్తుంది, LoRA మాత్రం "
        "B, A ల ఎంట్రీలకు మాత్రమే. r అనేది d, k ల కంటే చాలా చిన్నదైతే, రెండో సంఖ్య చాలా చిన్నది."
    ),
    "example.h": "5. ఒక ఉదాహరణ, లైవ్‌గా లెక్కించినది",
    "example.intro": (
        "{d} × {k} పరిమాణం గల ఒక వెయిట్ మ్యాట్రిక్స్ (ఈ పేజీకి ఆధారమైన వివరణలో ఉన్నట్లే). కింది సంఖ్యలు "
        "మ్యాట్రిక్స్ పేజీ వాడే కోడ్ నుంచే వస్తాయి; ర్యాంక్‌ను కదిలించి అవి ఎలా మారుతాయో చూడండి."
    ),
    "example.rank": "ర్యాంక్ r",
    "example.rank_help": "ఈ ఉదాహరణకు LoRA ర్యాంక్ (వివరణలో 8 వాడారు).",
    "example.metric_full": "పూర్తి ఫైన్-ట్యూనింగ్ శిక్షణ ఇచ్చేవి",
    "example.metric_lora": "LoRA శిక్షణ ఇచ్చేవి",
    "example.metric_percent": "LoRA / పూర్తి",
    "example.sentence": (
        "ర్యాంక్ {r} వద్ద: B లో {d} × {r} = {b} విలువలు, A లో {r} × {k} = {a} విలువలు ఉంటాయి. కాబట్టి LoRA "
        "{full} కు బదులు {lora} విలువలకు మాత్రమే శిక్షణ ఇస్తుంది: వాటిలో {pct} %."
    ),
    "example.col_matrix": "మ్యాట్రిక్స్",
    "example.col_shape": "ఆకారం",
    "example.col_params": "విలువలు",
    "example.col_trained": "శిక్షణ పొందుతుందా?",
    "example.row_w": "W (అసలు వెయిట్లు)",
    "example.row_b": "B",
    "example.row_a": "A",
    "example.yes": "అవును",
    "example.no": "లేదు (ఫ్రీజ్)",
    "example.naming": (
        "కొన్ని వివరణలు {d} × r మ్యాట్రిక్స్‌ను A అని, r × {k} దాన్ని B అని పిలుస్తాయి. LoRA పేపర్, PEFT "
        "ఇక్కడిలాగే B (d×r), A (r×k) అని వాడతాయి. ఏ పేరు వాడినా లెక్క ఒకటే."
    ),
    "analogy.h": "6. ఒక పోలిక: ఎన్‌సైక్లోపీడియా, అనుబంధ పుస్తకం",
    "analogy.full": (
        "**పూర్తి ఫైన్-ట్యూనింగ్:** 100 సంపుటాల ఎన్‌సైక్లోపీడియాలో ఒక కొత్త వైద్య ఆవిష్కరణను చేర్చాలి, "
        "కాబట్టి మీరు ప్రతి సంపుటాన్నీ తిరిగి రాసి మళ్లీ ముద్రిస్తారు. చాలా నెమ్మది, చాలా ఖరీదు."
    ),
    "analogy.lora": (
        "**LoRA:** ఎన్‌సైక్లోపీడియాను ఉన్నది ఉన్నట్లే (ఫ్రీజ్ చేసి) వదిలేసి, మార్పులు మాత్రమే ఉన్న ఒక పలుచని "
        "అనుబంధ పుస్తకం (లో-ర్యాంక్ మ్యాట్రిక్స్‌లు) రాస్తారు. పాఠకులు ముందు ఎన్‌సైక్లోపీడియాలో విషయం చూసి, "
        "తర్వాత ఏవైనా సవరణల కోసం ఆ పుస్తకం చూస్తారు. వేరే నైపుణ్యానికి వేరే అనుబంధ పుస్తకం; ఎన్‌సైక్లోపీడియా "
        "మాత్రం వాటన్నిటికీ ఒక్కటే."
    ),
    "merge.h": "7. విలీనం (merge): మోడల్ నడిచేటప్పుడు అదనపు ఆలస్యం లేదు",
    "merge.body": (
        "శిక్షణ పూర్తయ్యాక B·A ను ఒక్కసారి గుణించి W కు కలిపేయవచ్చు. విలీనమైన వెయిట్ ఆకారం అసలుదానితో "
        "సరిగ్గా సమానం, కాబట్టి జవాబు ఇవ్వడానికి ముందు పట్టినంత సమయమే పడుతుంది: LoRA ఇన్ఫరెన్స్ ఆలస్యాన్ని "
        "ఏమాత్రం పెంచదు. అడాప్టర్‌ను విడిగా ఉంచితే, ఒక చిన్న అదనపు గుణకారం ఖర్చుతో పనికి తగ్గ పుస్తకాన్ని "
        "మార్చుకోవచ్చు."
    ),
    "qlora.h": "8. QLoRA: 4-బిట్ మోడల్‌పై LoRA",
    "qlora.body": (
        "QLoRA (Dettmers బృందం, 2023) ఇంకా ముందుకు వెళ్తుంది. ఫ్రీజ్ చేసిన మూల మోడల్‌ను (base model) ప్రతి "
        "వెయిట్‌కు 4 బిట్లలో నిల్వ చేస్తుంది; దీనికోసం గంట ఆకారపు పంపిణీ ఉన్న వెయిట్ల కోసం రూపొందించిన 4-బిట్ "
        "NormalFloat (NF4) అనే కొత్త డేటా రకాన్ని వాడుతుంది. క్వాంటైజేషన్ స్థిరాంకాలను కూడా మళ్లీ క్వాంటైజ్ "
        "చేస్తుంది (డబుల్ క్వాంటైజేషన్), మెమరీ ఒక్కసారిగా పెరిగినప్పుడు ఆప్టిమైజర్ స్థితిని CPU మెమరీకి తరలించే "
        "పేజ్డ్ ఆప్టిమైజర్లను వాడుతుంది. గ్రేడియంట్లు ఫ్రీజ్ చేసిన 4-బిట్ వెయిట్ల గుండా 16 బిట్లలో ఉంచిన LoRA "
        "అడాప్టర్లకు చేరుతాయి. ఈ విధంగా రచయితలు 65 బిలియన్ పారామితుల మోడల్‌ను ఒకే 48 GB GPU పై "
        "ఫైన్-ట్యూన్ చేశారు, అదీ 16-బిట్ ఫైన్-ట్యూనింగ్ నాణ్యతను అందుకుంటూ."
    ),
    "family.h": "9. LoRA కుటుంబం: మరిన్ని చిన్న మార్పులు",
    "family.intro": (
        "PEFT లో LoRA తో పాటు ఇంకా చాలా అడాప్టర్ రకాలు ఉన్నాయి. ప్రతిదీ W ను ఫ్రీజ్ చేసి, దాని పక్కన ఒక చిన్న భాగానికి "
        "మాత్రమే శిక్షణ ఇస్తుంది; తేడా దేనికి శిక్షణ ఇస్తాయో అందులోనే, అందువల్ల ఎన్ని విలువలకు శిక్షణ ఇస్తాయో, ఎలాంటి "
        "మార్పును చేయగలవో అందులో. మోడల్ పేజీ వీటన్నిటినీ ఒక నిజమైన మోడల్‌పై పక్కపక్కనే లెక్కిస్తుంది."
    ),
    "family.lora": (
        "**LoRA** (Hu బృందం, 2021) ఫ్రీజ్ చేసిన ప్రతి వెయిట్ పక్కన B, A లకు శిక్షణ ఇస్తుంది; మార్పు B·A ర్యాంక్ "
        "గరిష్ఠంగా r. సాధారణంగా మొదటి ఎంపిక: సులభం, అన్నిచోట్లా పనిచేస్తుంది, శిక్షణ తర్వాత W లో విలీనం చేయవచ్చు."
    ),
    "family.rslora": (
        "**rsLoRA** (Kalajdzievski, 2023) అవే B, A లకు శిక్షణ ఇస్తుంది, కానీ మార్పును α/r బదులు α/√r తో స్కేల్ "
        "చేస్తుంది. α/r తో ర్యాంక్ పెరిగేకొద్దీ నేర్చుకోవడం నెమ్మదిస్తుందని, అందుకే ఎక్కువ ర్యాంక్ పెద్దగా ఉపయోగపడదని "
        "పేపర్ చూపుతుంది; α/√r తో ఎక్కువ ర్యాంక్ స్థిరంగా నేర్చుకుని మెరుగ్గా చేస్తుంది. పెద్ద ర్యాంక్‌లు వాడేవారు "
        "దీన్ని ఆన్ చేస్తారు."
    ),
    "family.dora": (
        "**DoRA** (Liu బృందం, 2024) ప్రతి వెయిట్‌ను ఒక మాగ్నిట్యూడ్ (ప్రతి అవుట్‌పుట్‌కు ఒక పొడవు), ఒక దిశగా "
        "విడదీస్తుంది: B·A దిశను మార్చే మార్పు, దానితో పాటు మాగ్నిట్యూడ్ వెక్టర్‌కూ శిక్షణ ఇస్తుంది. ఇది పూర్తి "
        "ఫైన్-ట్యూనింగ్ లాగా నేర్చుకుంటుందని, అదే ర్యాంక్‌లో LoRA కంటే మెరుగ్గా చేస్తుందని పేపర్ కనుగొంది; "
        "ప్రతి స్టెప్‌కు కొంచెం ఎక్కువ లెక్కింపు ఖర్చవుతుంది."
    ),
    "family.vera": (
        "**VeRA** (Kopiczko బృందం, 2024) ప్రతి లేయర్ పంచుకునే, ఫ్రీజ్ చేసిన ఒకే జత యాదృచ్ఛిక మ్యాట్రిక్స్‌లు A, B "
        "వాడుతుంది; ప్రతి లేయర్‌లో రెండు స్కేలింగ్ వెక్టర్లకు మాత్రమే శిక్షణ ఇస్తుంది. అదే నాణ్యతకు LoRA కంటే చాలా "
        "తక్కువ శిక్షణ పొందే పారామితులు సరిపోయాయని పేపర్ చెబుతుంది: చాలా చిన్న అడాప్టర్లను నిల్వ చేయాల్సినప్పుడు "
        "దీన్ని ఎంచుకుంటారు."
    ),
    "family.loha": (
        "**LoHa** (FedPara, Hyeon-Woo బృందం, 2022) ర్యాంక్ r ఉన్న రెండు జతలకు శిక్షణ ఇచ్చి, వాటి గుణకారాలను "
        "ఎంట్రీల వారీగా గుణిస్తుంది (హడమార్డ్ గుణకారం): ర్యాంక్ 2r ఉన్న LoRA కు ఉన్నన్ని విలువలతోనే, మార్పు ర్యాంక్ "
        "r² వరకు వెళ్లగలదు. పంపే ప్రతి విలువకూ ఖర్చు ఉండే ఫెడరేటెడ్ లెర్నింగ్ కోసం FedPara ను రూపొందించారు; "
        "టెక్స్ట్ నుంచి చిత్రాలు తయారుచేసే మోడల్‌లకు LoHa బాగా వాడుకలో ఉంది."
    ),
    "family.lokr": (
        "**LoKr** (LyCORIS, Yeh బృందం, 2024) మార్పును రెండు చిన్న మ్యాట్రిక్స్‌ల క్రోనెకర్ గుణకారంగా రాస్తుంది; "
        "కాబట్టి కొన్ని విలువలతోనే బ్లాక్ నిర్మాణం ఉన్న, పూర్తి ర్యాంక్ మార్పు కూడా సాధ్యం. టెక్స్ట్ నుంచి చిత్రాలు "
        "తయారుచేసే మోడల్‌లను అనుకూలంగా మలచుకోవడానికి LyCORIS ఈ పద్ధతులను ఒకచోట చేర్చింది; అక్కడ LoKr, LoHa "
        "సాధారణం."
    ),
    "family.ia3": (
        "**IA3** (Liu బృందం, 2022) ప్రతి మాడ్యూల్‌కు ఒక వెక్టర్‌కు శిక్షణ ఇస్తుంది; అది ఆ మాడ్యూల్ లెక్కించేదాన్ని "
        "స్కేల్ చేస్తుంది: అటెన్షన్‌లోని కీ, వాల్యూ ప్రొజెక్షన్‌లను, ఫీడ్‌ఫార్వర్డ్ భాగం లోపలి యాక్టివేషన్లను. అన్నిటికంటే "
        "తక్కువ విలువలు, ర్యాంక్ ఉండదు. దాని పేపర్‌లోని కొన్ని ఉదాహరణలతో శిక్షణ పద్ధతి, ఇన్-కాంటెక్స్ట్ లెర్నింగ్‌ను "
        "చాలా తక్కువ ఖర్చుతో అధిగమించింది."
    ),
    "family.adalora": (
        "**AdaLoRA** (Zhang బృందం, 2023) ప్రతి మార్పును SVD లాగా P·Λ·Q గా రాస్తుంది, ప్రతి మాడ్యూల్‌ను ర్యాంక్ "
        "init_r తో మొదలుపెడుతుంది; శిక్షణ జరుగుతుండగా అతి తక్కువ ప్రాముఖ్యం ఉన్న సింగ్యులర్ విలువలను కత్తిరిస్తుంది, "
        "కాబట్టి ర్యాంక్‌లు అవసరమైన మ్యాట్రిక్స్‌లకే వెళ్తాయి. శిక్షణ పొందే మొత్తం విలువల సంఖ్య స్థిరంగా ఉండాల్సినప్పుడు "
        "దీన్ని ఎంచుకుంటారు."
    ),
    "family.loraplus": (
        "**LoRA+** (Hayou బృందం, 2024) మరో అడాప్టర్ కాదు: LoRA లోని B కు A కంటే λ రెట్లు ఎక్కువ లెర్నింగ్ రేట్‌తో "
        "శిక్షణ ఇస్తుంది. వెడల్పైన మోడల్‌లకు రెండింటికీ ఒకే లెర్నింగ్ రేట్ సమర్థవంతం కాదని పేపర్ చూపుతుంది; అదే "
        "ఖర్చుతో మెరుగైన ఫలితాలు, దాదాపు రెండు రెట్ల వరకు వేగవంతమైన ఫైన్-ట్యూనింగ్ నమోదు చేసింది."
    ),
    "family.compare": "మోడల్: Llama-2-7B పై మొత్తం కుటుంబం, పక్కపక్కనే",
    "sources": "ఆధారాలు",
    "next.h": "మీరే ప్రయత్నించండి",
    "next.intro": "ప్రతి పేజీ ఒక ఉదాహరణతో సిద్ధంగా తెరుచుకుంటుంది:",
    "next.matrix": "మ్యాట్రిక్స్: ఇదే {d} × {k} మ్యాట్రిక్స్, ర్యాంక్ {r}",
    "next.model": "మోడల్: నిజమైన మోడల్‌లో LoRA పారామితులు (Llama-2-7B, q, v, ర్యాంక్ 8)",
    "next.memory": "మెమరీ: ఈ ఫైన్-ట్యూనింగ్ మీ GPU లో సరిపోతుందా?",
    "next.fit": "ఫిట్: ర్యాంక్-1 LoRA ఒక మార్పును నేర్చుకోవడం లైవ్‌గా చూడండి",
    "scenarios.h": "తరగతి గది ఉదాహరణలు",
    "scenarios.intro": (
        "పేపర్లలోని ప్రసిద్ధ సంఖ్యలు, ఒక్కో క్లిక్‌తో. లింక్‌ను ప్రొజెక్టర్‌పై చూపించండి: దాన్ని తెరిచే ప్రతి విద్యార్థీ అదే దృశ్యాన్ని చూస్తారు."
    ),
    "scenario.open": "తెరవండి",
    "headline.full_params": "పూర్తి ఫైన్-ట్యూనింగ్ శిక్షణ ఇచ్చేవి",
    "headline.lora_params": "LoRA శిక్షణ ఇచ్చేవి",
    "headline.percent": "శిక్షణ పొందే భాగం",
    "headline.trainable": "శిక్షణ పొందే పారామితులు",
    "headline.full_checkpoint": "పూర్తి చెక్‌పాయింట్",
    "headline.lora_checkpoint": "అడాప్టర్ చెక్‌పాయింట్",
    "headline.gpu_total": "GPU మెమరీ, మొత్తం",
    "headline.more_than_r8": "r = 8 తో పోలిస్తే అదనం",
    "scenario.seed_matrix.title": "వివరణలోని ఉదాహరణ: 10,000 × 10,000, ర్యాంక్ 8",
    "scenario.seed_matrix.body": "వివరణలోని మ్యాట్రిక్స్. పూర్తి ఫైన్-ట్యూనింగ్ ప్రతి విలువకూ శిక్షణ ఇస్తుంది; ర్యాంక్ 8 వద్ద LoRA కేవలం B, A లకే శిక్షణ ఇస్తుంది. వివరణ ఇచ్చిన సంఖ్యలు: 100,000,000 కి బదులు 160,000 (0.16 %).",
    "scenario.seed_matrix.note": "lora_core లైవ్‌గా లెక్కించినవి, వివరణలోని సంఖ్యలకు సమానం: రెండూ కేవలం లెక్కింపే.",
    "scenario.llama2_qv.title": "Llama-2-7B, q, v, ర్యాంక్ 8",
    "scenario.llama2_qv.body": "అన్ని 32 లేయర్లలోని క్వెరీ, వాల్యూ ప్రొజెక్షన్లపై LoRA. PEFT యొక్క `print_trainable_parameters` 4,194,304 శిక్షణ పొందే పారామితులను చూపిస్తుంది, మోడల్‌లో సుమారు 0.06 %.",
    "scenario.llama2_qv.note": "మోడల్ కాన్ఫిగరేషన్ నుంచి PEFT లాగే మాడ్యూల్ వారీగా లైవ్‌గా లెక్కించాం, కాబట్టి మా సంఖ్య PEFT సంఖ్యతో సరిపోతుంది.",
    "scenario.gpt3_175b.title": "GPT-3 (175 బిలియన్ పారామితులు): LoRA పేపర్ ముఖ్య ఫలితం",
    "scenario.gpt3_175b.body": "LoRA పేపర్ 175 బిలియన్ పారామితుల GPT-3 ను 37.7 మిలియన్ శిక్షణ పొందే పారామితులతో అడాప్ట్ చేస్తుంది: W_q, W_v లపై ర్యాంక్ 8 (పట్టిక 4). ర్యాంక్ 4 తో శిక్షణ మెమరీ 1.2 TB నుంచి 350 GB కి, ప్రతి పనికి చెక్‌పాయింట్ 350 GB నుంచి 35 MB కి తగ్గాయి (విభాగం 4.2).",
    "scenario.gpt3_175b.note": "మా GPT-3 ప్రీసెట్‌లో q, k, v ఒకే c_attn ప్రొజెక్షన్‌గా కలిసి ఉంటాయి; దానిపై ర్యాంక్ 8 పేపర్‌లోని W_q, W_v లకు సరిగ్గా సమానమైన విలువలకే శిక్షణ ఇస్తుంది, కాబట్టి శిక్షణ పొందే పారామితుల సంఖ్య సరిపోతుంది. మా అడాప్టర్ చెక్‌పాయింట్ 35 MB కంటే పెద్దది: ఈ లింక్ ర్యాంక్ 4 కాదు 8 వాడుతుంది, PEFT అడాప్టర్లను fp32 లో ఉంచుతుంది (16 బిట్లలో ర్యాంక్ 4 సుమారు 38 MB; పేపర్ దాన్ని 35 MB అంటుంది). శిక్షణ మొత్తాలు వేరు: పేపర్ తన సొంత క్లస్టర్‌లో కొలిచింది, మెమరీ పేజీ మీరు ఎంచుకున్న ఒకే అమరికను అంచనా వేస్తుంది.",
    "scenario.qlora_65b.title": "QLoRA: ఒకే 48 GB GPU పై 65 బిలియన్ పారామితుల మోడల్",
    "scenario.qlora_65b.body": (
        "QLoRA పేపర్ 65 బిలియన్ పారామితుల LLaMA ను ఒకే 48 GB GPU పై ఫైన్-ట్యూన్ చేసింది: 4-బిట్ NF4 మూల "
        "మోడల్, డబుల్ క్వాంటైజేషన్, పేజ్డ్ ఆప్టిమైజర్లు, ప్రతి లీనియర్ లేయర్‌పై ర్యాంక్ 64."
    ),
    "scenario.qlora_65b.note": "మా దగ్గర 65 బిలియన్ పారామితుల ప్రీసెట్ లేదు, కాబట్టి దాని స్థానంలో Llama-2-70B: సుమారు 8 % ఎక్కువ వెయిట్లు. లింక్ బ్యాచ్ 1, సీక్వెన్స్ 512, గ్రేడియంట్ చెక్‌పాయింటింగ్, పేజ్డ్ 8-బిట్ AdamW (మా అంచనాలో లెక్కించే పేజ్డ్ ఆప్టిమైజర్ ఇదే) ను అమర్చుతుంది; మొత్తాన్ని పేపర్‌లోని 48 GB తో పోల్చండి, తర్వాత మెమరీ పేజీలో బ్యాచ్ లేదా సీక్వెన్స్ పొడవును పెంచి అది ఎలా పెరుగుతుందో చూడండి.",
    "scenario.rank_r8.title": "ర్యాంక్ మెమరీని దాదాపు మార్చదు (r = 8)",
    "scenario.rank_r8.body": "ప్రతి లీనియర్ లేయర్‌పై ర్యాంక్ 8 LoRA తో Llama-3.2-3B. తర్వాత r = 64 రూపాన్ని తెరిచి మొత్తాలను పోల్చండి: ఫ్రీజ్ చేసిన వెయిట్లే ఎక్కువ స్థలం తీసుకుంటాయి, అడాప్టర్ ఏ ర్యాంక్‌లోనైనా చిన్నదే.",
    "scenario.rank_r8.note": (
        "తేడా అడాప్టర్, దాని గ్రేడియంట్లు, దాని ఆప్టిమైజర్ స్థితి నుంచి మాత్రమే వస్తుంది; ఖచ్చితమైన సంఖ్యలను మెమరీ పేజీ మా మోడల్ నుంచి లెక్కిస్తుంది."
    ),
    "scenario.rank_r64.title": "… అదే మోడల్, r = 64 వద్ద",
    "scenario.rank_r64.body": "అదే మోడల్ ర్యాంక్ 64 తో: అడాప్టర్ ఎనిమిది రెట్లు, అయినా మొత్తం పెద్దగా మారదు.",
    "scenario.rank_r64.note": "యాక్టివేషన్లు, ఫ్రీజ్ చేసిన వెయిట్లు r పై అసలు ఆధారపడవు.",
    "scenario.seed_fit.title": "చిన్న LoRA ప్రయోగం: ర్యాంక్-1 ఫిట్",
    "scenario.seed_fit.body": (
        "y = Xθ అనే లీనియర్ మోడల్ θ + 1 అనే కొత్త పనిని నేర్చుకుంటుంది: ఇది ర్యాంక్ 1 మార్పు. Adam తో శిక్షణ "
        "పొందిన ర్యాంక్-1 LoRA అన్నీ ఒకట్లే ఉన్న ఆ మార్పును తిరిగి కనుగొని, ఆపై వెయిట్లలో విలీనమవుతుంది."
    ),
    "scenario.seed_fit.note": (
        "అసలు ప్రయోగం (R torch లో) 10,000 నమూనాలు, 1,000 ఇన్‌పుట్‌లు వాడుతుంది; ఫిట్ పేజీ దాని చిన్న రూపాన్ని "
        "లైవ్‌గా నడుపుతుంది, కాబట్టి లాస్ వక్రరేఖ ఆకారం అదే కానీ సంఖ్యలు వేరు."
    ),
}
