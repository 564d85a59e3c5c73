"""Objects as the API shows them: render hooks (clock-dependent values) and ``expand[]``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.errors import InvalidRequestError
from escrowd.sandbox.stripe.routes import list_body
from escrowd.sandbox.stripe.store import Obj

#: type → fn(ctx, data) returning what the API shows (a copy when it differs).
HOOKS: dict[str, Callable[[Ctx, dict[str, Any]], dict[str, Any]]] = {}
#: (object, field) → fn(ctx, data): fields Stripe shows only when expanded ("includable"),
#: such as an invoice's ``confirmation_secret`` (API versions from 2025-03-31).
INCLUDABLE: dict[tuple[str, str], Callable[[Ctx, dict[str, Any]], Awaitable[Any]]] = {}
MAX_DEPTH = 4
#: Prefixes of ids the sandbox stores, so ``expand[]`` knows a reference from a plain string.
_EXPANDABLE = (
    "acct_",
    "ba_",
    "ch_",
    "cus_",
    "dp_",
    "fee_",
    "fr_",
    "in_",
    "pi_",
    "pm_",
    "po_",
    "price_",
    "prod_",
    "py_",
    "pyr_",
    "re_",
    "seti_",
    "si_",
    "sub_",
    "tr_",
    "trr_",
    "txn_",
)


def render(ctx: Ctx, obj: Obj) -> dict[str, Any]:
    hook = HOOKS.get(obj.type)
    return hook(ctx, obj.data) if hook else obj.data


async def paged(
    ctx: Ctx,
    p: dict[str, Any],
    type: str,
    url: str,
    *,
    parent: str | None = None,
    account: str | None = None,
    keep: Callable[[Obj], bool] | None = None,
    match: Sequence[str] = (),
) -> dict[str, Any]:
    """A page of ``type`` objects as a list body. ``match`` names list parameters that keep
    only the objects whose field of the same name equals the value sent (an omitted one keeps
    all); ``keep`` is any other filter."""
    wanted = {name: p[name] for name in match if p.get(name) is not None}

    def matching(o: Obj) -> bool:
        same = all(o.data.get(name) == value for name, value in wanted.items())
        return same and (keep is None or keep(o))

    rows, more = await ctx.store.page(
        type,
        account=account or ctx.account,
        parent=parent,
        limit=p.get("limit") or 10,
        starting_after=p.get("starting_after"),
        ending_before=p.get("ending_before"),
        keep=matching if wanted else keep,
        # A ``Range()`` parameter validates to a dict of operators; ``Any_()`` ones stay raw.
        created=created if isinstance(created := p.get("created"), dict) else None,
    )
    return list_body(url, [render(ctx, o) for o in rows], more)


async def expand(ctx: Ctx, body: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    for path in paths:
        segs = path.split(".")
        if len(segs) > MAX_DEPTH:
            raise InvalidRequestError(
                f"You cannot expand more than {MAX_DEPTH} levels of a property. Property: {path}",
                param="expand",
            )
        body = await _expand(ctx, body, segs, path)
    return body


async def _expand(ctx: Ctx, value: Any, segs: list[str], path: str) -> Any:
    if not segs or value is None:
        return value
    if isinstance(value, list):
        return [await _expand(ctx, v, segs, path) for v in value]
    if not isinstance(value, dict):
        raise _cannot(path)
    head, rest = segs[0], segs[1:]
    include = INCLUDABLE.get((str(value.get("object")), head))
    if include is not None and head not in value:
        out = dict(value)
        out[head] = await _expand(ctx, await include(ctx, value), rest, path)
        return out
    if head not in value:
        raise _cannot(path)
    child = value[head]
    if isinstance(child, str):
        if not child.startswith(_EXPANDABLE):
            raise _cannot(path)
        loaded = await ctx.store.get(child)
        if loaded is not None:
            child = render(ctx, loaded)
    elif child is not None and not isinstance(child, dict | list):
        raise _cannot(path)  # a number or a flag is never a reference
    elif not rest and not (child is None or (isinstance(child, dict) and "object" in child)):
        raise _cannot(path)  # a plain hash (metadata) or a list is not an object to expand
    out = dict(value)
    out[head] = await _expand(ctx, child, rest, path)
    return out


def _cannot(path: str) -> InvalidRequestError:
    return InvalidRequestError(f"This property cannot be expanded ({path}).", param="expand")
