"""Fault battery for scripts/faults.sh (issue #8). Standard library only;
Postgres is inspected with psql. Each fault prints one line of figures."""

import json, os, signal, socket, sqlite3, subprocess, sys, tempfile, threading, time, urllib.request, uuid

BIN, PG = sys.argv[1], sys.argv[2]
PG_BASE = PG.rsplit("/", 1)[0]
PG_HOSTPORT = PG.split("@", 1)[1].split("/", 1)[0]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def psql(db_url, sql):
    return subprocess.run(["psql", "-qtAX", db_url, "-c", sql], check=True, capture_output=True, text=True).stdout.strip()


def new_pg_db():
    name = "faults_" + uuid.uuid4().hex[:12]
    psql(PG, f"CREATE DATABASE {name}")
    return f"{PG_BASE}/{name}", name


def drop_pg_db(name):
    psql(PG, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class Service:
    def __init__(self, db_url, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        e = dict(os.environ)
        e.update({"COURSEREC_SERVER__LISTEN": f"127.0.0.1:{self.port}", "DATABASE_URL": db_url,
                  "COURSEREC_TRAIN__ENABLED": "false", "COURSEREC_LOG__FILTER": "error"})
        e.update({k: str(v) for k, v in env.items()})
        self.proc = subprocess.Popen([BIN, "serve"], env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t = time.time()
        while time.time() - t < 30:
            try:
                if http("GET", self.url + "/healthz", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("service did not start")

    def wait_ready(self, limit=30):
        t = time.time()
        while time.time() - t < limit:
            try:
                if http("GET", self.url + "/readyz", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("service not ready")

    def rss_kb(self):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def http(method, url, body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def timed(method, url, body=None):
    t = time.perf_counter()
    status, _, headers = http(method, url, body)
    return status, (time.perf_counter() - t) * 1000, headers


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def batch(tag, n, users=200):
    return {"events": [{"user_id": f"u{(hash(tag) + i) % users}", "course_id": f"c{i % 40}", "type": "view",
                        "event_id": f"{tag}-{i}"} for i in range(n)]}


# 1. kill -9 under concurrent ingest ------------------------------------------
def kill9_once(backend):
    tmp = tempfile.mkdtemp()
    if backend == "sqlite":
        db_url, name = f"sqlite://{tmp}/k.db", None
    else:
        db_url, name = new_pg_db()
    svc = Service(db_url)
    acked, lock, stop = set(), threading.Lock(), threading.Event()

    def worker(w):
        i = 0
        while not stop.is_set():
            tag = f"w{w}b{i}"
            i += 1
            try:
                status, _, _ = http("POST", svc.url + "/events", batch(tag, 20), timeout=5)
            except OSError:
                continue
            if status == 202:
                with lock:
                    acked.update(f"{tag}-{j}" for j in range(20))

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    svc.kill9()
    stop.set()
    for t in threads:
        t.join()
    if backend == "sqlite":
        c = sqlite3.connect(f"{tmp}/k.db")
        ids = [r[0] for r in c.execute("SELECT event_id FROM events")]
        c.close()
    else:
        ids = psql(db_url, "SELECT event_id FROM events").split()
        drop_pg_db(name)
    found = set(ids)
    lost = len(acked - found)
    dups = len(ids) - len(found)
    return len(acked), lost, dups, len(found - acked)


def fault_kill9():
    for backend in ["sqlite", "postgres"]:
        for run in range(3):
            acked, lost, dups, unacked = kill9_once(backend)
            print(f"kill -9 {backend} run {run + 1}: acknowledged {acked}, lost {lost}, duplicates {dups}, "
                  f"stored but not acknowledged {unacked}")


# 2. disk full (SQLite max_page_count) ----------------------------------------
def fault_disk_full():
    tmp = tempfile.mkdtemp()
    path = f"{tmp}/full.db"
    cap = 2000
    svc = Service(f"sqlite://{path}", COURSEREC_DATABASE__SQLITE_MAX_PAGE_COUNT=cap,
                  COURSEREC_DATABASE__PROBE_BACKOFF_MAX_MS=500)
    svc.wait_ready()
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("CREATE TABLE filler (b BLOB)")
    while c.execute("PRAGMA page_count").fetchone()[0] < cap:
        c.execute("INSERT INTO filler VALUES (randomblob(64000))")
    acked, refused, after = 0, 0, 0
    for i in range(40):
        status, body, _ = http("POST", svc.url + "/events", batch(f"d{i}", 300))
        if status == 202:
            acked += json.loads(body)["accepted"]
            after += refused > 0
        else:
            refused += 1
    stored = c.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    c.execute("DELETE FROM filler")
    t = time.time()
    rec = None
    i = 0
    while time.time() - t < 30:
        i += 1
        status, body, _ = http("POST", svc.url + "/events", batch(f"f{i}", 300))
        if status == 202:
            acked += json.loads(body)["accepted"]
            rec = time.time() - t
            break
        time.sleep(0.05)
    svc.stop()
    stored = sqlite3.connect(path).execute("SELECT COUNT(*) FROM events").fetchone()[0]
    print(f"disk full: {refused} batches refused (503), {after} accepted after the first refusal; "
          f"acknowledged {acked}, stored {stored}, lost {acked - stored}; ingest back "
          f"{'%.2f s' % rec if rec is not None else 'NEVER'} after space was freed")


# 3. Postgres cut (TCP proxy) --------------------------------------------------
class Proxy:
    def __init__(self, target):
        self.target = target.split(":")
        self.cut = False
        self.socks = []
        self.lock = threading.Lock()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(128)
        self.port = self.ls.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            a, _ = self.ls.accept()
            if self.cut:
                a.close()
                continue
            b = socket.create_connection((self.target[0], int(self.target[1])))
            with self.lock:
                self.socks += [a, b]
            for x, y in ((a, b), (b, a)):
                threading.Thread(target=self.pipe, args=(x, y), daemon=True).start()

    @staticmethod
    def pipe(x, y):
        try:
            while True:
                d = x.recv(65536)
                if not d:
                    break
                y.sendall(d)
        except OSError:
            pass
        for s in (x, y):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def do_cut(self):
        self.cut = True
        with self.lock:
            for s in self.socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self.socks = []


def fault_pg_cut():
    db_url, name = new_pg_db()
    proxy = Proxy(PG_HOSTPORT)
    routed = db_url.replace(PG_HOSTPORT, f"127.0.0.1:{proxy.port}")
    svc = Service(routed)
    svc.wait_ready()
    for i in range(5):
        http("POST", svc.url + "/events", batch(f"w{i}", 300))
    base = [timed("GET", f"{svc.url}/recommend/base-{i}")[1] for i in range(300)]
    proxy.do_cut()
    first = timed("POST", svc.url + "/events", batch("first", 10))
    rec, ingest, ready, retry = [], [], [], True
    for i in range(500):
        rec.append(timed("GET", f"{svc.url}/recommend/new-{i}")[1])
    for i in range(50):
        s, ms, h = timed("POST", svc.url + "/events", batch(f"down{i}", 10))
        ingest.append(ms)
        retry &= s == 503 and "retry-after" in {k.lower() for k in h}
    for i in range(50):
        s, ms, _ = timed("GET", svc.url + "/readyz")
        ready.append(ms)
    proxy.cut = False
    t = time.time()
    back = None
    while time.time() - t < 30:
        s, _, _ = timed("POST", svc.url + "/events", batch(f"back{time.time()}", 1))
        if s == 202:
            back = time.time() - t
            break
        time.sleep(0.05)
    svc.stop()
    drop_pg_db(name)
    print(f"postgres cut: /recommend new users p50 {pct(rec, 50):.1f} ms p99 {pct(rec, 99):.1f} ms "
          f"(baseline before the cut p50 {pct(base, 50):.1f} p99 {pct(base, 99):.1f}); first ingest after the cut "
          f"{first[1]:.0f} ms ({first[0]}); ingest 503 p50 {pct(ingest, 50):.1f} max {max(ingest):.1f} ms, Retry-After on all: {retry}; "
          f"/readyz p50 {pct(ready, 50):.1f} max {max(ready):.1f} ms; recovered {back:.2f} s after the database returned"
          if back is not None else "postgres cut: NOT RECOVERED")


# 4. shutdown with 300 half-open connections ----------------------------------
def fault_shutdown():
    tmp = tempfile.mkdtemp()
    deadline = 5
    svc = Service(f"sqlite://{tmp}/s.db", COURSEREC_SERVER__HEADER_READ_TIMEOUT_MS=120000,
                  COURSEREC_SERVER__SHUTDOWN_TIMEOUT_SECS=deadline)
    socks = []
    for _ in range(300):
        s = socket.create_connection(("127.0.0.1", svc.port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        socks.append(s)
    time.sleep(0.5)
    t = time.time()
    svc.proc.send_signal(signal.SIGTERM)
    try:
        svc.proc.wait(timeout=60)
        took = time.time() - t
        print(f"shutdown with 300 half-open connections: exited after {took:.2f} s (deadline {deadline} s)")
    except subprocess.TimeoutExpired:
        print("shutdown with 300 half-open connections: STILL RUNNING after 60 s")
        svc.kill9()
    for s in socks:
        s.close()


# 5. 10,000 maximum-length unknown user ids ------------------------------------
def fault_memory():
    tmp = tempfile.mkdtemp()
    svc = Service(f"sqlite://{tmp}/m.db")
    svc.wait_ready()
    for i in range(200):
        http("GET", f"{svc.url}/recommend/warm-{i}")
    before = svc.rss_kb()
    for i in range(10000):
        http("GET", f"{svc.url}/recommend/{uuid.uuid4().hex * 4}")
    after = svc.rss_kb()
    svc.stop()
    bound = 64 * 1024
    print(f"10,000 unknown 128-char user ids: RSS {before} -> {after} KiB, growth {after - before} KiB "
          f"(cache bound serve.cache_bytes = {bound} KiB)")


# 6. 2,000 idle keep-alive connections at the default cap ----------------------
def raw_get(sock, path="/healthz"):
    """One GET on an open socket; the status (the body is read whole)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response")
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    length = next((int(l.split(b":", 1)[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        body += sock.recv(65536)
    return int(head[9:12])


def fault_idle_connections():
    n = 2000
    for backend in ["sqlite", "postgres"]:
        tmp = tempfile.mkdtemp()
        db_url, name = (f"sqlite://{tmp}/i.db", None) if backend == "sqlite" else new_pg_db()
        svc = Service(db_url)
        svc.wait_ready()
        socks, failed, t = [], 0, time.perf_counter()
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", svc.port), timeout=10)
            try:
                failed += raw_get(s) != 200
            except OSError:
                failed += 1
            socks.append(s)
        opened = time.perf_counter() - t
        fds = len([f for f in os.listdir(f"/proc/{svc.proc.pid}/fd")
                   if os.readlink(f"/proc/{svc.proc.pid}/fd/{f}").startswith("socket:")])
        took = []
        for i in range(20):
            status, ms, _ = timed("POST", svc.url + "/events", {"user_id": f"new{i}", "course_id": "c1", "type": "view"})
            assert status == 202, status
            took.append(ms)
        still = 0
        for s in socks[-100:]:
            try:
                still += raw_get(s) == 200
            except OSError:
                pass
        svc.stop()
        for s in socks:
            s.close()
        if name:
            drop_pg_db(name)
        print(f"{n} idle keep-alive connections, {backend}, default cap: each answered once in {opened:.2f} s "
              f"({failed} not answered); server sockets open {fds} (listener and store included); 20 new clients (one connection each, POST /events) "
              f"answered in p50 {pct(took, 50):.1f} ms, max {max(took):.1f} ms; of the 100 newest idle connections "
              f"{still} still served a second request")


for f in [fault_kill9, fault_disk_full, fault_pg_cut, fault_shutdown, fault_memory, fault_idle_connections]:
    if len(sys.argv) > 3 and f.__name__ not in sys.argv[3:]:
        continue
    f()
