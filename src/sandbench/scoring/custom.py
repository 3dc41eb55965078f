"""``custom_scorer``: the bash script registered locally for ``custom_scorer_type``
(``sandbench scorers register TYPE --script FILE``) runs exactly like a
``bash_script_scorer`` (same score line rule, same exit-code policy), with
``scorer_params`` as JSON in the environment variable ``RL_SCORER_CONTEXT``. The
variable is always set: ``{}`` when the scenario gives no params. An unregistered type is
a scorer error whose reason says how to register it.
"""

from __future__ import annotations

import json

from sandbench.errors import NotFound
from sandbench.model.scenario import CustomScorer
from sandbench.scoring._common import guarded
from sandbench.scoring.base import ScorerContext, ScorerOutcome
from sandbench.scoring.bash_script import run_bash

CONTEXT_VARIABLE = "RL_SCORER_CONTEXT"


@guarded
def score(spec: CustomScorer, ctx: ScorerContext) -> ScorerOutcome:
    try:
        script = ctx.custom_script(spec.custom_scorer_type)
    except NotFound as error:
        return ScorerOutcome.error(str(error), custom_scorer_type=spec.custom_scorer_type)
    if not script.strip():
        return ScorerOutcome.error(
            f"the custom scorer {spec.custom_scorer_type!r} has an empty script;"
            f" register it again with `sandbench scorers register"
            f" {spec.custom_scorer_type} --script FILE`"
        )
    params = json.dumps(spec.scorer_params or {}, ensure_ascii=False, sort_keys=True)
    what = f"custom scorer {spec.custom_scorer_type!r}"
    return run_bash(ctx, script, env={CONTEXT_VARIABLE: params}, what=what)
