"""Asking `runnerkit verify`'s questions: one SubjectAccessReview per class of questions the RBAC
authorizer cannot tell apart (verify_scope.Scope.share_key), accounts taken a batch at a time on the
client's bounded pool. Every answer that shows drift is asked again for its own account, so each
reported drift, and the binding its reason names, is the authorizer's word about that account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..cluster.protocol import Client
from .verify import AccountPlan
from .verify_scope import Scope

BATCH = 64  # accounts planned and answered together: bounds what is in flight and held at once

Answer = tuple[bool, str]


@dataclass
class Asked:
    answers: dict[tuple, Answer]  # (user, access, namespace) -> (allowed, the authorizer's reason)
    reviews: int  # SubjectAccessReviews sent
    questions: int  # distinct (account, request, namespace) judged
    rechecked: int  # drifts asked again for their own account


def ask(client: Client, plans: list[AccountPlan], scope: Scope,
        progress: Callable[[int, int], None] | None = None) -> Asked:
    shared: dict[tuple, Answer] = {}
    answers: dict[tuple, Answer] = {}
    reviews = rechecked = 0

    def review(key: tuple) -> Answer:
        user, access, ns = key
        return client.review(user, access.verb, access.resource, ns, access.group, access.name)

    for start in range(0, len(plans), BATCH):
        batch = plans[start:start + BATCH]
        todo: dict[tuple, tuple] = {}  # share key -> the question asked for the whole class
        members: dict[tuple, tuple] = {}  # question -> its share key
        for p in batch:
            for q in p.questions:
                if q.key in answers or q.key in members:
                    continue
                sk = scope.share_key(*q.key)
                members[q.key] = sk
                if sk not in shared and sk not in todo:
                    todo[sk] = q.key
        shared.update(zip(todo, client.parallel(review, list(todo.values()))))
        reviews += len(todo)
        asked_itself = set(todo.values())
        for key, sk in members.items():
            answers[key] = shared[sk]
        again = list(dict.fromkeys(q.key for p in batch for q in p.questions
                                   if answers[q.key][0] != q.expected and q.key not in asked_itself))
        answers.update(zip(again, client.parallel(review, again)))
        reviews += len(again)
        rechecked += len(again)
        if progress:
            progress(min(start + BATCH, len(plans)), len(plans))
    return Asked(answers, reviews, len(answers), rechecked)
