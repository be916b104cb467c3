"""What the Fit page's fit and its race panel (lora_ui/fit_race.py) draw the same way while a job is live:
how often and how densely the live chart redraws, a click remembered until the page acts on it, and the
note of a job waiting for a slot."""

from __future__ import annotations

import streamlit as st

from lora_ui.i18n import tr
from lora_ui.workers.fit import QUEUED, get_runner

# The live chart redraws at most this often, with at most LIVE_POINTS points (all curves together): each poll
# of 30 students costs the shared server a rerun of the fragment and a Plotly figure (issue 4 asked ~0.2 s; on
# the 2-core server we chose 0.5 s, issue 6 "keep fits off the calculator's critical path").
REDRAW_S = 0.5
LIVE_POINTS = 200
# After Train the page waits up to this long for the fit to end, to draw its results in the same run; past it,
# the live panel (then the results come a poll and a rerun later). A default fit takes 0.03-0.09 s on an idle
# server, but a class shares it: in `make load` (30 students on 2 cores, 2026-11-29) most Train presses ended
# within the 0.5 s this was (p50 0.45 s), and with two replicas most did not (p50 1.38 s, a poll later).
FIRST_WAIT_S = 1.0


def ask(flag: str) -> None:
    """on_click of Train, Rank sweep, Race and Race by rank: remember the click until the page acts on it.

    A button's return value is True for one script run only, and a run can end in st.rerun before the
    page reads it: `ensure_routed()` reruns on a process's first run, and AppTest starts every run that
    way (it resets PagesManager.uses_pages_directory, so the page file first runs without app.py). A
    callback runs once per click before the script, so the click survives any such rerun."""
    st.session_state[flag] = True


def show_queued(job) -> bool:
    """If `job` waits for a fit slot, say where it stands in the queue (True); otherwise draw nothing."""
    if job.state != QUEUED:
        return False
    runner = get_runner()
    st.info(tr("fit.queued", position=runner.position(job), running=runner.running), icon=":material/hourglass:")
    return True
