#!/usr/bin/env python3
"""A ticket service in memory that speaks stampede/http/v1 (docs/protocol.md).

Python 3's standard library alone: a ThreadingHTTPServer speaking HTTP/1.1
with keep-alive, the stock and the orders in memory under one lock.

    python3 examples/python/ticketservice.py --mode correct --port 8090
    bin/stampede run -http py=http://127.0.0.1:8090 -scenario flash-crowd
    bin/stampede probe http://127.0.0.1:8090

Modes, the first correct and the others each wrong in one way, so that
stampede's checks can be seen catching them:

  correct   an order id is applied at most once (a resubmission answers the
            original outcome) and the stock never goes below zero.
  racy      check-then-act: reads the seats left under the lock, lets go of
            it, yields, then writes back the count it computed. Buyers who
            read the same count all get seats: a crowd oversells.
  resell    correct stock, but not idempotent: a resubmission of an applied
            order is sold again while seats remain (answered confirmed and
            counted twice in the audit), and answered sold_out once none do.
  badaudit  sells correctly, but the audit misreports: it leaves out the
            first confirmed order and claims one seat too many of product 0.

Nothing is written to disk: a sale does not survive a restart.
"""

import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("correct", "racy", "resell", "badaudit")

CONSISTENCY = {
    "correct": "one lock around check and act; order id keyed, a resubmission answers its first outcome",
    "racy": "none: check and act under the lock taken twice, a yield between (check-then-act, oversells)",
    "resell": "one lock around check and act, but not idempotent: a resubmission is sold again (duplicates)",
    "badaudit": "one lock around check and act, order id keyed; the audit misreports (a broken system of record)",
}

MAX_BODY = 1 << 16


class Order:
    """What the service recorded about one order id."""

    __slots__ = ("product", "quantity", "outcome", "applied")

    def __init__(self, product, quantity, outcome, applied):
        self.product = product
        self.quantity = quantity
        self.outcome = outcome
        self.applied = applied


class Shop:
    """The stock and the orders, in memory. Safe for concurrent use."""

    def __init__(self, mode):
        self.mode = mode
        self.lock = threading.Lock()
        self.products = 0
        self.remaining = []
        self.orders = {}  # order id -> Order, in the order they were first recorded

    def reset(self, products, capacity):
        with self.lock:
            self.products = products
            self.remaining = [capacity] * products
            self.orders = {}

    def buy(self, order, product, quantity):
        """Returns "confirmed" or "sold_out"."""
        if self.mode == "racy":
            return self._buy_racy(order, product, quantity)
        if self.mode == "resell":
            return self._buy_resell(order, product, quantity)
        with self.lock:
            rec = self.orders.get(order)
            if rec is not None:
                return rec.outcome
            if self.remaining[product] >= quantity:
                self.remaining[product] -= quantity
                self.orders[order] = Order(product, quantity, "confirmed", 1)
                return "confirmed"
            self.orders[order] = Order(product, quantity, "sold_out", 0)
            return "sold_out"

    def _buy_racy(self, order, product, quantity):
        with self.lock:  # check
            rec = self.orders.get(order)
            if rec is not None:
                return rec.outcome
            left = self.remaining[product]
        time.sleep(0)  # let the other buyers read the same count
        with self.lock:  # act on what was read
            rec = self.orders.get(order)
            if rec is not None:
                return rec.outcome
            if left >= quantity:
                self.remaining[product] = left - quantity  # a lost update
                self.orders[order] = Order(product, quantity, "confirmed", 1)
                return "confirmed"
            self.orders[order] = Order(product, quantity, "sold_out", 0)
            return "sold_out"

    def _buy_resell(self, order, product, quantity):
        # Every submission is a sale of its own: the order id is recorded
        # but never looked up before selling.
        with self.lock:
            rec = self.orders.get(order)
            if self.remaining[product] >= quantity:
                self.remaining[product] -= quantity
                if rec is None:
                    rec = self.orders[order] = Order(product, quantity, "confirmed", 0)
                rec.outcome = "confirmed"
                rec.applied += 1  # a resubmission too: the duplicate
                return "confirmed"
            if rec is None:
                self.orders[order] = Order(product, quantity, "sold_out", 0)
            return "sold_out"  # to a buyer who may have been told confirmed

    def audit(self):
        """Returns the audit's NDJSON lines."""
        with self.lock:
            sold = [0] * self.products
            applied = []
            for order, rec in self.orders.items():
                if rec.applied > 0:
                    sold[rec.product] += rec.quantity * rec.applied
                    applied.append((order, rec.applied))
        if self.mode == "badaudit" and applied:
            applied = applied[1:]  # the first confirmed order goes missing
            sold[0] += 1  # and a seat nobody bought is counted
        lines = [json.dumps({"sold": sold}, separators=(",", ":"))]
        lines.extend('{"order":%d,"applied":%d}' % a for a in applied)
        lines.append('{"end":true,"orders":%d}' % len(applied))
        return ("\n".join(lines) + "\n").encode()


class Handler(BaseHTTPRequestHandler):
    """Serves stampede/http/v1 for the server's shop."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # each answer is one write; don't wait for an ACK
    server_version = "ticketservice.py"

    def log_message(self, format, *args):
        pass  # a line per request costs more than the request

    # Answers.

    def answer(self, status, body, content_type="application/json"):
        reason = self.responses.get(status, ("",))[0]
        head = "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
            status, reason, content_type, len(body))
        if self.close_connection:
            head += "Connection: close\r\n"
        self.wfile.write(head.encode("latin-1") + b"\r\n" + body)

    def answer_json(self, status, value):
        self.answer(status, (json.dumps(value, separators=(",", ":")) + "\n").encode())

    def refuse(self, status, reason):
        """A definite failure: the order did not apply."""
        self.answer_json(status, {"applied": False, "reason": reason})

    def read_json(self):
        """The request's JSON object, or None after answering 400."""
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self.refuse(411, "a body with Content-Length is needed")
            return None
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self.refuse(413, "body too large")
            return None
        raw = self.rfile.read(length)
        try:
            value = json.loads(raw)
        except ValueError as e:
            self.refuse(400, "not JSON: %s" % e)
            return None
        if not isinstance(value, dict):
            self.refuse(400, "not a JSON object")
            return None
        return value

    # Requests.

    def do_GET(self):
        if self.path == "/stampede/v1/info":
            self.answer_json(200, self.server.info)
        elif self.path == "/stampede/v1/audit":
            self.answer(200, self.server.shop.audit(), "application/x-ndjson")
        elif self.path in ("/stampede/v1/buy", "/stampede/v1/reset"):
            self.answer_json(405, {"error": "POST only"})
        else:
            self.answer_json(404, {"error": "no such path: %s" % self.path})

    def do_POST(self):
        if self.path == "/stampede/v1/buy":
            self.buy()
        elif self.path == "/stampede/v1/reset":
            self.reset()
        elif self.path in ("/stampede/v1/info", "/stampede/v1/audit"):
            self.answer_json(405, {"error": "GET only"})
        else:
            self.answer_json(404, {"error": "no such path: %s" % self.path})

    def reset(self):
        req = self.read_json()
        if req is None:
            return
        products, capacity = req.get("products"), req.get("capacity")
        if not whole(products) or not 1 <= products <= 1_000_000:
            return self.refuse(400, "products: a whole number from 1 to 1000000")
        if not whole(capacity) or capacity < 0:
            return self.refuse(400, "capacity: a whole number from 0")
        self.server.shop.reset(products, capacity)
        self.answer_json(200, {"products": products, "capacity": capacity})

    def buy(self):
        req = self.read_json()
        if req is None:
            return
        shop = self.server.shop
        order, product, quantity = req.get("order"), req.get("product"), req.get("quantity")
        if not whole(order) or order < 1:
            return self.refuse(400, "order: a whole number from 1")
        if not whole(product) or not 0 <= product < shop.products:
            return self.refuse(400, "product: from 0 to %d" % (shop.products - 1))
        if not whole(quantity) or quantity < 1:
            return self.refuse(400, "quantity: a whole number from 1")
        key = self.headers.get("Idempotency-Key")
        if key is not None and key != "o-%d" % order:
            return self.refuse(400, "Idempotency-Key %r is not order %d's" % (key, order))
        self.answer_json(200, {"outcome": shop.buy(order, product, quantity)})


def whole(v):
    return isinstance(v, int) and not isinstance(v, bool)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=8090, help="port to listen on, 0 for any free one (default 8090)")
    ap.add_argument("--mode", default="correct", choices=MODES, help="how to sell (default correct)")
    args = ap.parse_args(argv)

    srv = Server((args.host, args.port), Handler)
    srv.shop = Shop(args.mode)
    srv.info = {
        "protocol": "stampede/http/v1",
        "design": "python-" + args.mode,
        "consistency": CONSISTENCY[args.mode],
        "durability": "memory only: a restart loses every sale",
        "durable": False,
        "backend": "Python %d.%d.%d, in memory" % sys.version_info[:3],
        "settings": {"server": "http.server.ThreadingHTTPServer", "mode": args.mode},
        "reset": True,
        "capabilities": [],
    }
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop as Ctrl-C does
    host, port = srv.server_address[:2]
    print("python-%s listening on http://%s:%d" % (args.mode, host, port), flush=True)
    try:
        srv.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
