"""How the console writes money and time for people: rupees with Indian digit grouping, India time."""

from __future__ import annotations

import datetime as dt

from flask import Flask

from biller_server.domain.india import IST
from biller_server.domain.money import rupees_text


def indian_rupees(paise: int) -> str:
    """Exact paise as rupees grouped the Indian way: ``125000050`` -> ``"12,50,000.50"``."""
    text = rupees_text(paise)
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, _, fraction = text.partition(".")
    head, tail = whole[:-3], whole[-3:]
    groups = []
    while head:
        groups.insert(0, head[-2:])  # lakhs, crores...: pairs of digits above the thousands
        head = head[:-2]
    return sign + ",".join([*groups, tail]) + "." + fraction


def india_time(moment: dt.datetime | None, seconds: bool = True) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S IST" if seconds else "%Y-%m-%d %H:%M IST")


def register_filters(app: Flask) -> None:
    app.jinja_env.filters["rupees"] = indian_rupees
    app.jinja_env.filters["ist"] = india_time
