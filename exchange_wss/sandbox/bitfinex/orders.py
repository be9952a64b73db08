"""Order inputs of a Bitfinex sandbox connection: orders, ``ox_multi`` and ``calc``
(sans-I/O)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar, cast

from ..engine import OrderView
from ..margin import MAX_LEVERAGE
from .session_base import SessionBase
from .wire import (
    MAX_CALC_BATCH,
    MAX_CALC_PER_SECOND,
    MAX_OX_MULTI,
    _int_or_none,
    null_order_array,
    order_array,
    position_array,
    wallet_array,
)


class OrdersPart(SessionBase):
    """Chan-0 inputs: new, cancel, multi-cancel and update orders, ``ox_multi``
    and ``calc``, answered with notifications."""

    # -- chan-0 inputs ----------------------------------------------------------

    def _on_input(self, msg: list) -> None:
        if len(msg) < 4 or msg[0] != 0 or not isinstance(msg[1], str):
            self.send_event({"event": "error", "msg": "input: invalid", "code": 10020})
            return
        if self.account is None:
            self.send_event({"event": "error", "msg": "input: not authenticated", "code": 10200})
            return
        op, payload = msg[1], msg[3]
        self.server.requests[self.account].append((op, payload))
        if op == "calc":
            self._calc(payload)
            return
        if op == "ox_multi":
            self._ox_multi(payload)
            return
        handler = self._OPS.get(op)
        if handler is None:
            if op in ("fon", "foc"):
                self.send_notification(f"{op}-req", False,
                                       "Funding offers are not supported by the sandbox", None)
                return
            self.send_event({"event": "error", "msg": f"input: unknown op {op}", "code": 10000})
            return
        faults = self.server.faults
        if op == "on" and faults.drop_on_next_order is not None:
            when, faults.drop_on_next_order = faults.drop_on_next_order, None
            if when == "after":
                _note, result = handler(self, payload)
                self.server.after_result(result)
            self.open = False  # nothing more leaves on this connection: no answer
            self.drop()
            return
        note, result = handler(self, payload)
        self.send_notification(*note)
        self.server.after_result(result)

    def _order_new(self, p: Any) -> tuple:
        key = cast(str, self.account)  # inputs are taken on authenticated connections only
        if isinstance(p, dict):
            self.server.received[key].append(dict(p))
        else:
            self.server.received[key].append(p)
            return ("on-req", False, "Invalid order: request is not an object",
                    null_order_array()), None
        try:
            cid = _int_or_none(p.get("cid"))
            gid = _int_or_none(p.get("gid"))
            flags = _int_or_none(p.get("flags")) or 0
        except ValueError:
            return ("on-req", False, "Invalid order: cid, gid and flags must be integers",
                    null_order_array(cid=p.get("cid"))), None
        if self.server.faults.maintenance:
            return ("on-req", False, "Invalid order: trading is paused (maintenance)",
                    null_order_array(cid=cid)), None
        # The fields as the client sent them (any JSON, or missing): the engine refuses
        # what it cannot take with Bitfinex's text.
        wire: Any = p
        res = self.server.engine.submit(key, wire.get("symbol"), wire.get("amount"),
                                        wire.get("price"), wire.get("type"), cid=cid, gid=gid,
                                        flags=flags, meta=wire.get("meta"))
        # submit always echoes the order, accepted or not.
        return ("on-req", res.ok, res.text, order_array(cast(OrderView, res.order))), res

    def _order_cancel(self, p: Any) -> tuple:
        if not isinstance(p, dict):
            return ("oc-req", False, "Order not found.", null_order_array()), None
        try:
            oid, cid = _int_or_none(p.get("id")), _int_or_none(p.get("cid"))
        except ValueError:
            return ("oc-req", False, "Order not found.", null_order_array()), None
        cid_date = p.get("cid_date")
        if oid is None and (cid is None or not isinstance(cid_date, str)):
            return ("oc-req", False, "Order not found.", null_order_array(cid=cid)), None
        res = self.server.engine.cancel(self.account, id=oid, cid=cid, cid_date=cid_date)
        data = order_array(res.order) if res.order else null_order_array(oid, cid)
        return ("oc-req", res.ok, res.text, data), res

    def _order_cancel_multi(self, p: Any) -> tuple:
        if not isinstance(p, dict):
            return ("oc_multi-req", False, "Invalid request", []), None

        def ints(v: Any) -> list:
            return [x for x in v if isinstance(x, int) and not isinstance(x, bool)] \
                if isinstance(v, list) else []

        cids = c if isinstance(c := p.get("cid"), list) else []
        res = self.server.engine.cancel_multi(
            self.account, ids=ints(p.get("id")), gids=ints(p.get("gid")),
            cids=[tuple(c) for c in cids if isinstance(c, list)],
            all=p.get("all") in (1, True))
        return ("oc_multi-req", True, res.text, [order_array(o) for o in res.orders]), res

    def _order_update(self, p: Any) -> tuple:
        if not isinstance(p, dict):
            return ("ou-req", False, "Order not found.", null_order_array()), None
        if self.server.faults.maintenance:
            return ("ou-req", False, "Invalid order: trading is paused (maintenance)",
                    null_order_array()), None
        try:
            oid = _int_or_none(p.get("id"))
            flags = _int_or_none(p.get("flags"))
            gid = _int_or_none(p.get("gid"))
            cid = _int_or_none(p.get("cid"))
        except ValueError:
            return ("ou-req", False, "Invalid order: id is invalid", null_order_array()), None
        if oid is None:
            return ("ou-req", False, "Order not found.", null_order_array()), None
        res = self.server.engine.update(self.account, oid, price=p.get("price"),
                                        amount=p.get("amount"), delta=p.get("delta"),
                                        flags=flags, gid=gid, cid=cid, meta=p.get("meta"))
        data = order_array(res.order) if res.order else null_order_array()
        return ("ou-req", res.ok, res.text, data), res

    _OPS: ClassVar[dict[str, Callable[[OrdersPart, Any], tuple]]] = {
        "on": _order_new, "oc": _order_cancel, "oc_multi": _order_cancel_multi,
        "ou": _order_update}

    def _ox_multi(self, ops: Any) -> None:
        if not isinstance(ops, list) or len(ops) > MAX_OX_MULTI:
            self.send_notification("ox_multi-req", False,
                                   f"Invalid request: at most {MAX_OX_MULTI} operations", None)
            return
        notes, results = [], []
        for item in ops:
            if not (isinstance(item, list) and len(item) >= 2 and item[0] in self._OPS):
                notes.append([self.server.now_ms(), "ox_multi-req", None, None, None, None,
                              "ERROR", "Invalid operation"])
                continue
            (type_, ok, text, data), res = self._OPS[item[0]](self, item[1])
            notes.append([self.server.now_ms(), type_, None, None, data, None,
                          "SUCCESS" if ok else "ERROR", text])
            results.append(res)
        self.send_notification("ox_multi-req", True,
                               f"Submitting {len(notes)} order operations.", notes)
        for res in results:
            self.server.after_result(res, publish=False)
        self.server.publish()

    def _calc(self, items: Any) -> None:
        now = self.server.now()
        while self.calc_times and now - self.calc_times[0] >= 1.0:
            self.calc_times.popleft()
        if len(self.calc_times) >= MAX_CALC_PER_SECOND:
            self.send_event({"event": "error", "msg": "calc: ratelimit", "code": 10001})
            return
        self.calc_times.append(now)
        if not isinstance(items, list) or len(items) > MAX_CALC_BATCH:
            self.send_event({"event": "error",
                             "msg": f"calc: at most {MAX_CALC_BATCH} requests per batch",
                             "code": 10020})
            return
        for item in items:
            # Each request is ["name"]; bitfinex-v2 puts several names in one list.
            for name in (item if isinstance(item, list) else [item]):
                if isinstance(name, str):
                    self._calc_one(name)

    def _calc_one(self, name: str) -> None:
        # calc is taken on authenticated connections only.
        eng, key = self.server.engine, cast(str, self.account)
        if name.startswith("wallet_"):
            wtype, _, cur = name[len("wallet_"):].partition("_")
            if not cur or not self._allowed("wu", currency=cur):
                return
            if wtype == "exchange":
                bal, avail = eng.balance(key, cur), eng.available(key, cur)
            elif wtype == "margin":
                bal, avail = eng.margin.balance(key, cur), eng.available(key, "margin:" + cur)
            elif wtype == "funding":
                bal = avail = Decimal(0)  # no funding wallets in the sandbox
            else:
                return  # not a wallet type: ignored
            self.send_private("wu", wallet_array(wtype, cur, float(bal), float(avail)))
        elif name == "balance":
            if self._allowed("bu"):
                total = self.server.account_value(key)
                self.send_private("bu", [total, total])
        elif name == "margin_base":
            if self._allowed("miu"):
                pl = sum(p.pl for p in eng.margin.positions(key, self.server.mark))
                margin_bal = float(eng.margin.balance(key, "USD"))
                need = float(eng.margin.balance(key, "USD") - eng.available(key, "margin:USD"))
                self.send_private("miu", ["base", [pl, 0, margin_bal, round(margin_bal + pl, 8),
                                                   need]])
        elif name.startswith("margin_sym_"):
            sym = name[len("margin_sym_"):]
            spec = eng.pairs.get(sym)
            if spec is None or not self._allowed("miu", symbol=sym):
                return
            avail = eng.available(key, "margin:" + spec.quote)
            gross = float(eng.margin.balance(key, spec.quote) * MAX_LEVERAGE)
            tradable = float(avail * MAX_LEVERAGE)
            mid = self.server.market.mid(sym) or 0
            size = round(tradable / mid, 8) if mid else 0
            self.send_private("miu", ["sym", sym, [tradable, gross, size, size]])
        elif name.startswith("funding_sym_"):
            sym = name[len("funding_sym_"):]
            if self._allowed("fiu", symbol=sym):
                self.send_private("fiu", ["sym", sym, [0, 0, 0, 0]])
        elif name.startswith("position_"):
            sym = name[len("position_"):]
            pos = eng.margin.position(key, sym)
            if pos is not None and self._allowed("pu", symbol=sym):
                self.send_private("pu", position_array(pos))
        # Anything else (a misspelt name) is ignored, as Bitfinex ignores it.

