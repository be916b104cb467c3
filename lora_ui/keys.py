"""Widget keys, which are also the URL query-parameter names (widgets use bind="query-params").

One place for all of them, so a shared link's parameters are documented here and no two pages collide.
Keys are global across pages in st.session_state, so each page's keys are distinct.
"""

# Every page
LANG = "lang"

# Learn page: ?learn_r=16 (the worked example's own rank)
LEARN_R = "learn_r"

# Matrix page: ?d=4096&k=4096&r=8
MATRIX_D = "d"
MATRIX_K = "k"
MATRIX_R = "r"

# Model page
MODEL_PRESET = "preset"
MODEL_TARGETS = "targets"
MODEL_RANK = "rank"
MODEL_ALPHA = "alpha"
MODEL_BIAS = "bias"
MODEL_DORA = "dora"
MODEL_SAVE = "save"
MODEL_UPLOAD = "model_upload"  # file uploads cannot live in a URL

# Memory page (keys added by the memory page; prefix mem_)

# Fit page (keys added by the fit page; prefix fit_)
