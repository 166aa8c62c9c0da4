# ruff: noqa: E501  (the corpus is mostly code in strings)
"""The robustness corpus: malicious or broken submissions with their expected per-test outcome.

Each :class:`Case` builds one submission. Several behaviours share a submission when they cannot
interfere (one per function: ``causal_mask`` 2 tests, ``scaled_dot_product_attention`` 5, the MHA
``forward`` 9), so every case also shows that the *other* functions' tests are unaffected.
``expect`` maps a test function name, a group (``causal``, ``sdpa``, ``mha``) or ``all`` to
``("pass" | "fail", fragment)`` (first match wins): every such test must have that status, and
failures must mention ``fragment``.
Placeholders ``@OUT@``, ``@REPO@``, ``@PORT@`` in the code are filled in by the test.
"""

from __future__ import annotations

import re
import sys
import textwrap
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from engine_helpers import REPO, solution_text  # noqa: E402

FUNCS = {"causal": "causal_mask", "sdpa": "scaled_dot_product_attention", "mha": "forward"}


def attention_with(*, prelude: str = "", pre: dict[str, str] | None = None, **bodies: str) -> str:
    """The solution attention.py with some function bodies replaced (keys: causal, sdpa, mha).

    ``pre``: code run at the start of a function before the solution body (same keys)."""
    pre = pre or {}
    text = (REPO / "source" / "lab3" / "attention.py").read_text()
    region = re.compile(
        r"^(?P<ind>[ \t]*)### BEGIN SOLUTION\n(?P<body>.*?)^[ \t]*### END SOLUTION\n", re.M | re.S
    )
    out, pos = [], 0
    for m in region.finditer(text):
        func = re.findall(r"def (\w+)\(", text[: m.start()])[-1]
        key = next((k for k, f in FUNCS.items() if f == func), None)
        out.append(text[pos : m.start()])
        if key in pre:
            out.append(textwrap.indent(textwrap.dedent(pre[key]).strip("\n") + "\n", m.group("ind")))
        if key in bodies:
            out.append(textwrap.indent(textwrap.dedent(bodies[key]).strip("\n") + "\n", m.group("ind")))
        else:
            out.append(m.group("body"))
        pos = m.end()
    out.append(text[pos:])
    result = "".join(out)
    if prelude:
        anchor = "__all__ ="
        result = result.replace(anchor, textwrap.dedent(prelude).strip("\n") + "\n\n" + anchor, 1)
    return result


SOLUTION_CAUSAL = "return torch.ones(size, size, dtype=torch.bool, device=device).triu(1)"
SOLUTION_SDPA = """
d_k = q.size(-1)
scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)
if mask is not None:
    scores = scores.masked_fill(mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
weights = torch.softmax(scores, dim=-1)
return F.dropout(weights, p=dropout_p, training=training) @ v, weights
"""


@dataclass
class Case:
    name: str
    threat: str  # crash | hang | resource | tampering | output
    behaviours: list[str]  # the malicious/broken behaviours in this submission (one expected outcome each)
    files: dict[str, str | bytes] = field(default_factory=dict)  # relative path -> content
    expect: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    only: list[str] | None = None
    bound_s: float = 120.0
    needs_root: bool = False
    zip_entries: list[tuple[str, bytes]] | None = None  # build a zip instead of a folder
    symlink: tuple[str, str] | None = None  # (relative link path, target)
    timeout_scale: float | None = None  # the deadlines' scale for this case (None: the corpus' own)

    def build(self, root: Path, subst: dict[str, str]) -> Path:
        if self.zip_entries is not None:
            path = root / f"{self.name}.zip"
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
                for name, data in self.zip_entries:
                    zf.writestr(name, data)
            return path
        sub = root / self.name
        for rel, content in self.files.items():
            p = sub / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                for k, v in subst.items():
                    content = content.replace(k, v)
                p.write_text(content)
            else:
                p.write_bytes(content)
        if self.symlink:
            link = sub / self.symlink[0]
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(self.symlink[1])
        sub.mkdir(parents=True, exist_ok=True)
        return sub


def att(**kw) -> dict[str, str]:
    return {"lab3/attention.py": attention_with(**kw)}


PASS, FAIL = "pass", "fail"

WRONG = "return torch.zeros(size, size, dtype=torch.bool)"  # what causal_mask returns when an attack worked

CASES: list[Case] = [
    # ------------------------------------------------------------------ crash
    Case(
        "exit_calls",
        "crash",
        ["os._exit(3) in causal_mask", "sys.exit(0) in sdpa", "stdin read in forward"],
        att(causal="import os\nos._exit(3)", sdpa="import sys\nsys.exit(0)", mha="input('?')\nreturn None"),
        {"causal": (FAIL, "exited with code 3"), "sdpa": (FAIL, "sys.exit(0)"), "mha": (FAIL, "EOFError")},
    ),
    Case(
        "segfault_and_kill_all",
        "crash",
        ["native crash (SIGSEGV) in causal_mask", "kill(-1, SIGKILL) in sdpa"],
        att(
            causal="import ctypes\nctypes.string_at(0)",
            pre={
                "sdpa": "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass"
            },
        ),
        {"causal": (FAIL, "SIGSEGV"), "sdpa": (PASS, None), "mha": (PASS, None)},
        needs_root=True,
    ),
    Case(
        "import_raises",
        "crash",
        ["exception at import time"],
        {"lab3/attention.py": "import torch\nraise RuntimeError('boom at import')\n"},
        {"all": (FAIL, "boom at import")},
        only=["causal_mask", "sdpa"],
    ),
    Case(
        "import_exit",
        "crash",
        ["os._exit at import time (one crash, then every test fails fast)"],
        {"lab3/attention.py": "import os\nos._exit(0)\n"},
        {"all": (FAIL, "importing attention.py crashed")},
        only=["sdpa", "mha"],
        bound_s=60,
    ),
    Case(
        "syntax_error",
        "crash",
        ["a module that does not parse"],
        {"lab3/attention.py": attention_with().replace("def causal_mask(", "def causal_mask((", 1)},
        {"all": (FAIL, "SyntaxError")},
        only=["causal_mask", "mha"],
    ),
    # ------------------------------------------------------------------ hang
    Case(
        "hang_in_call",
        "hang",
        [
            "C-level sleep (first call) and busy loop ignoring SIGTERM/SIGINT/SIGHUP in causal_mask",
            "setsid daemon grandchild left behind in sdpa",
            "non-daemon thread left behind in sdpa",
        ],
        att(
            causal="import signal, time\nif size == 1:\n    time.sleep(3600)\n"
            "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n    signal.signal(s, signal.SIG_IGN)\n"
            "while True:\n    pass",
            pre={
                # only once (a marker in the working folder, which outlives a child): the engine starts a
                # fresh child after a call that leaves processes behind
                "sdpa": "import os, threading, time\nif not os.path.exists('forked'):\n    open('forked', 'w').close()\n"
                "    if os.fork() == 0:\n        os.setsid()\n        if os.fork() == 0:\n"
                "            time.sleep(3600)\n        os._exit(0)\n"
                "threading.Thread(target=time.sleep, args=(3600,)).start()"
            },
        ),
        {"causal": (FAIL, "timed out after"), "sdpa": (PASS, None)},
        only=["causal_mask", "sdpa"],
        needs_root=True,  # without a PID namespace a setsid() daemon escapes (reported as off)
    ),
    Case(
        "import_hang",
        "hang",
        ["endless loop at import time (one timeout, then every test fails fast)"],
        {"lab3/attention.py": "while True:\n    pass\n"},
        {"all": (FAIL, "importing attention.py timed out")},
        bound_s=90,
    ),
    # ------------------------------------------------------------------ resources
    Case(
        "memory_fork_disk",
        "resource",
        [
            "fork bomb (children that sleep forever) in causal_mask",
            "memory bomb in forward, contained: it goes on only after a MemoryError",
            "disk fill in forward, contained: the answer is right only if the write was stopped",
        ],
        att(
            causal="import os, time\nfor _ in range(2000):\n    try:\n        pid = os.fork()\n"
            "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(3600)\n        os._exit(0)\n"
            "raise RuntimeError('fork bomb stopped by the process limit')",
            pre={
                "mha": "blocks = []\ntry:\n    while True:\n        blocks.append(bytearray(64 << 20))\n"
                "except MemoryError:\n    del blocks\n"
                "try:\n    with open('big.bin', 'wb') as fh:\n        for _ in range(1000):\n"
                "            fh.write(b'x' * (1 << 20))\n    return None, None\nexcept OSError:\n    pass"
            },
        ),
        {"causal": (FAIL, "fork bomb stopped"), "sdpa": (PASS, None), "mha": (PASS, None)},
        only=["causal_mask", "sdpa", "mha"],
        needs_root=True,
        bound_s=150,
        timeout_scale=1.0,  # 64 forks of a torch process can take more than 3 s on a busy machine
    ),
    Case(
        "network_secrets_privileges",
        "tampering",
        [
            "network: the internet and a server of the grader on localhost / the host address",
            "reads graders, manifest, solutions, results, records, home",
            "setuid(0), raising rlimits, ptrace of the parent, other processes' /proc",
        ],
        att(
            pre={
                "causal": "import socket\nfor host, port in (('1.1.1.1', 53), ('127.0.0.1', @PORT@), ('@HOSTIP@', @PORT@)):\n"
                "    try:\n        socket.create_connection((host, port), timeout=2).close()\n"
                "        " + WRONG + "\n    except OSError:\n        pass",
                "sdpa": "import os\nfor p in ('@REPO@/autograder/graders/test_ex1_attention.py', '@REPO@/autograder/manifest.json',\n"
                "          '@REPO@/source/lab3/attention.py', '@REPO@/solutions/lab3/attention.py',\n"
                "          '@OUT@/instructor/records.jsonl', '@OUT@/instructor/config.json', '/root/.bash_history',\n"
                "          '@REPO@/tests/security/security_cases.py'):\n"
                "    try:\n        with open(p) as fh:\n            if fh.read(10):\n                return None, None\n"
                "    except OSError:\n        pass\n"
                "for d in ('@REPO@/autograder/graders', '@OUT@', '/root/.cache', '@REPO@/source'):\n    try:\n        if os.listdir(d):\n"
                "            return None, None\n    except OSError:\n        pass",
                "mha": "import os, resource, ctypes\nhits = 0\ntry:\n    os.setuid(0)\n    hits += 1\nexcept OSError:\n    pass\n"
                "try:\n    resource.setrlimit(resource.RLIMIT_NPROC, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
                "    hits += 1\nexcept (OSError, ValueError):\n    pass\n"
                "if ctypes.CDLL(None).ptrace(16, os.getppid(), 0, 0) == 0:\n    hits += 1\n"
                "for p in [p for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()]:\n"
                "    try:\n        open(f'/proc/{p}/environ').read()\n        hits += 1\n    except OSError:\n        pass\n"
                "if hits:\n    return None, None",
            }
        ),
        {"causal": (PASS, None), "sdpa": (PASS, None), "mha": (PASS, None)},
        needs_root=True,
    ),
    Case(
        "write_results_and_tmp",
        "tampering",
        [
            "writes results.json, records, manifest, grader files and the probe (on disk and its sandbox copy)",
            "fills /tmp and /dev/shm and leaves a marker there",
        ],
        att(
            pre={
                "causal": "import json\nfake = json.dumps({'score': 100, 'tests': []})\n"
                "targets = ['@OUT@/results.json', '@OUT@/instructor/records.jsonl', '@REPO@/autograder/manifest.json',\n"
                "           '@REPO@/autograder/graders/checks.py', '@REPO@/autograder/child/probes/attention.py']\n"
                "import autograder.child.probes.attention as pa\ntargets.append(pa.__file__)\n"
                "for p in targets:\n    try:\n        with open(p, 'a') as fh:\n            fh.write(fake)\n"
                "    except OSError:\n        pass",
                "sdpa": "for d in ('/tmp', '/dev/shm'):\n    try:\n        with open(d + '/lab3_marker_@TOKEN@', 'wb') as fh:\n"
                "            for _ in range(400):\n                fh.write(b'x' * (1 << 20))\n    except OSError:\n"
                "        pass",
            }
        ),
        {"causal": (PASS, None), "sdpa": (PASS, None)},
        only=["causal_mask", "sdpa"],
        needs_root=True,
    ),
    Case(
        "forge_probes",
        "tampering",
        [
            "replaces the probes in memory: a lying tensor subclass (== always True)",
            "NaN answers",
            "forged types; and patches torch.allclose/equal in the child",
        ],
        att(
            prelude="""
import torch as _t
class _Liar(_t.Tensor):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
def _fake_causal(size, device=None):
    return {"mask": _t.zeros(size, size, dtype=_t.bool).as_subclass(_Liar)}
def _fake_sdpa(q, k, v, **kw):
    return {"out": _t.full(q.shape[:-1] + (v.shape[-1],), float("nan"), dtype=q.dtype),
            "weights": _t.full(q.shape[:-1] + (k.shape[-2],), float("nan"), dtype=q.dtype)}
def _fake_mha(d_model, num_heads, weights, query, key, value, **kw):
    return {"out": _t.zeros_like(query), "weights": "passed", "grad_query": 1.0}
try:
    import autograder.child.probes.attention as _pa
    _pa.causal_mask, _pa.sdpa, _pa.mha = _fake_causal, _fake_sdpa, _fake_mha
except Exception:
    pass
_t.allclose = lambda *a, **k: True
_t.equal = lambda *a, **k: True
"""
        ),
        # the import of the grader's package is itself reported by the from-scratch scan (sdpa and mha score 0)
        {"causal": (FAIL, None), "sdpa": (FAIL, "autograder"), "mha": (FAIL, None)},
    ),
    Case(
        "protocol_garbage",
        "tampering",
        ["writes forged frame headers and garbage to every open file descriptor"],
        att(
            causal="import os, struct\nfor fd in range(3, 64):\n    try:\n"
            "        os.write(fd, b'L3W1' + struct.pack('>Q', 10**9) + b'garbage')\n    except OSError:\n        pass\n"
            "import time\ntime.sleep(30)"
        ),
        {"causal": (FAIL, "communication channel"), "sdpa": (PASS, None)},
        only=["causal_mask", "sdpa"],
    ),
    Case(
        "mutate_inputs_and_stdout",
        "tampering",
        [
            "zeroes its inputs in place before computing (sdpa)",
            "zeroes its inputs after computing (forward)",
            "prints 50 MB to stdout/stderr (causal_mask)",
        ],
        att(
            sdpa="q.zero_(); k.zero_(); v.zero_()\nw = torch.softmax(q @ k.transpose(-2, -1), -1)\nreturn w @ v, w",
            pre={
                "causal": "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(25):\n    print(chunk)\n"
                "    print(chunk, file=sys.stderr)"
            },
            mha="""
B, T, E = query.shape
H, d = self.num_heads, self.head_dim
qh = self.q_proj(query).view(B, T, H, d).transpose(1, 2)
kh = self.k_proj(key).view(B, -1, H, d).transpose(1, 2)
vh = self.v_proj(value).view(B, -1, H, d).transpose(1, 2)
m = None
if attn_mask is not None:
    m = attn_mask.view(B, H, T, -1) if attn_mask.dim() == 3 else attn_mask
if key_padding_mask is not None:
    kp = key_padding_mask.view(B, 1, 1, -1)
    if m is None:
        m = kp
    elif m.dtype == torch.bool and kp.dtype == torch.bool:
        m = m | kp
    else:
        f = lambda x: torch.zeros(x.shape, dtype=qh.dtype).masked_fill(x, float('-inf')) if x.dtype == torch.bool else x
        m = f(m) + f(kp)
s = qh @ kh.transpose(-2, -1) / math.sqrt(d)
if m is not None:
    s = s.masked_fill(m, float('-inf')) if m.dtype == torch.bool else s + m
w = torch.softmax(s, -1)
o = F.dropout(w, self.dropout, self.training) @ vh
out = self.out_proj(o.transpose(1, 2).reshape(B, T, E))
with torch.no_grad():
    query.zero_(); key.zero_(); value.zero_()
if not need_weights:
    return out, None
return out, (w.mean(1) if average_attn_weights else w)
""",
        ),
        {
            "causal": (PASS, None),
            "sdpa": (FAIL, None),
            "mha": (PASS, None),
            "test_mha_backward": (FAIL, "gradient"),
        },
    ),
    # ------------------------------------------------------------------ output
    Case(
        "nasty_messages",
        "output",
        [
            "1 MB exception text with ANSI/OSC escapes, NUL/BS, RTL override, HTML and markdown fences",
            "an exception whose __str__ raises",
            "an object that cannot be sent back",
        ],
        att(
            causal="raise ValueError('\\x1b[31mRED\\x1b]0;title\\x07\\x00\\x08\\u202eevil<script>alert(1)</script>| "
            "```' + 'A' * (1 << 20))",
            sdpa="class E(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\nraise E()",
            mha="return object(), None",
        ),
        {"causal": (FAIL, "ValueError"), "sdpa": (FAIL, "unprintable"), "mha": (FAIL, "object")},
    ),
    Case(
        "huge_result",
        "output",
        ["returns a 100 MB tensor (over the answer size cap, 64 MB in these tests)"],
        att(causal="return torch.zeros(100 << 20, dtype=torch.uint8)"),
        {"causal": (FAIL, "communication channel")},
        only=["causal_mask"],
    ),
    Case(
        "wrong_types_and_inf",
        "output",
        ["returns a numpy array (causal_mask)", "+inf/-inf weights (sdpa)", "a 3-tuple (forward)"],
        att(
            causal="import numpy as np\nreturn np.zeros((size, size), dtype=bool)",
            sdpa="w = torch.full(q.shape[:-1] + (k.shape[-2],), float('inf'), dtype=q.dtype)\nreturn w @ v, -w",
            mha="return 1, 2, 3",
        ),
        {
            "causal": (FAIL, "expected a torch.Tensor"),
            "sdpa": (FAIL, "inf"),
            "mha": (FAIL, "expected a tuple"),
        },
    ),
    Case(
        "cpu_threads",
        "resource",
        ["starts 8 threads doing matrix products forever, then answers correctly"],
        att(
            pre={
                "causal": "import threading\nif not getattr(torch, '_spun', False):\n    torch._spun = True\n"
                "    def spin():\n        a = torch.randn(128, 128)\n        while True:\n            a @ a\n"
                "    for _ in range(8):\n        threading.Thread(target=spin, daemon=True).start()"
            }
        ),
        {"causal": (PASS, None)},
        only=["causal_mask"],
    ),
    Case(
        "recursion_and_deep_result",
        "output",
        ["infinite recursion in causal_mask", "a 100000-deep nested list as a result (sdpa)"],
        att(
            causal="def f(n):\n    return f(n + 1)\nreturn f(0)",
            sdpa="deep = []\nfor _ in range(100000):\n    deep = [deep]\nreturn deep, deep",
        ),
        {"causal": (FAIL, "RecursionError"), "sdpa": (FAIL, None)},
        only=["causal_mask", "sdpa"],
    ),
    Case(
        "grader_detection",
        "tampering",
        [
            "looks for the grader's environment (PYTEST_*, LAB3_*, PYTHONPATH, pytest or the graders imported,"
            " the session's argv),"
            " a terminal, and the grader's files in its working folder"
        ],
        att(
            pre={
                "causal": "import os, sys\nleaks = [k for k in os.environ if k.startswith(('PYTEST', 'LAB3', 'PYTHONPATH', 'VIRTUAL_ENV'))]\n"
                "grader = [m for m in ('pytest', '_pytest', 'conftest', 'autograder.graders') if m in sys.modules]\n"
                "if leaks or grader or sys.stdin.isatty() or os.listdir('.') or 'config.json' in ' '.join(sys.argv):\n"
                "    " + WRONG
            }
        ),
        {"causal": (PASS, None)},
        only=["causal_mask"],
    ),
    Case(
        "null_bytes_module",
        "crash",
        ["attention.py is binary garbage with NUL bytes"],
        {"lab3/attention.py": b"\x00\x01\x02 binary \xff\xfe garbage\n"},
        {"all": (FAIL, "attention.py could not be imported")},
        only=["causal_mask"],
    ),
    Case(
        "windows_flat_zip",
        "crash",
        [
            "a correct attention.py with a UTF-8 BOM and CRLF line ends, flat in a zip,"
            " next to an older stub in a sub-folder (the flat one must not lose)"
        ],
        {},
        {"all": (PASS, None)},
        only=["causal_mask", "sdpa"],
        zip_entries=[
            ("attention.py", b"\xef\xbb\xbf" + solution_text("attention").replace("\n", "\r\n").encode()),
            ("old/attention.py", b"raise NotImplementedError\n"),
        ],
    ),
    # ------------------------------------------------------------------ submission shape
    Case(
        "empty_submission",
        "crash",
        ["a folder with nothing graded in it"],
        {"README.txt": "hello"},
        {"all": (FAIL, "attention.py not found")},
        only=["causal_mask", "mha"],
    ),
    Case(
        "symlink_to_solution",
        "tampering",
        ["attention.py is a symlink to the instructor solution"],
        {},
        {"all": (FAIL, "attention.py not found")},
        only=["causal_mask"],
        symlink=("lab3/attention.py", str(REPO / "source" / "lab3" / "attention.py")),
    ),
    Case(
        "zip_traversal_and_bomb",
        "tampering",
        ["zip entries with ../ and absolute paths", "a 200 MB (compressed: tiny) attention.py"],
        {},
        {"all": (FAIL, "attention.py not found")},
        only=["causal_mask"],
        zip_entries=[
            ("../../../tmp/lab3_evil/attention.py", solution_text("attention").encode()),
            ("/tmp/lab3_evil_abs/attention.py", solution_text("attention").encode()),
            ("lab3/attention.py", b"#" * (200 << 20)),
        ],
    ),
    Case(
        "shadow_modules",
        "tampering",
        [
            "ships conftest.py, sitecustomize.py, usercustomize.py, torch.py, numpy.py,"
            " pytest.ini, a patched lab3/__init__.py and lab3/utils.py next to a correct"
            " attention.py"
        ],
        {
            "lab3/attention.py": solution_text("attention"),
            "conftest.py": "import os\nos._exit(0)\n",
            "lab3/conftest.py": "import os\nos._exit(0)\n",
            "sitecustomize.py": "import os\nos._exit(0)\n",
            "usercustomize.py": "import os\nos._exit(0)\n",
            "torch.py": "raise SystemExit\n",
            "lab3/torch.py": "raise SystemExit\n",
            "lab3/numpy.py": "raise SystemExit\n",
            "lab3/__init__.py": "import os\nos._exit(0)\n",
            "lab3/utils.py": "import os\nos._exit(0)\n",
            "pytest.ini": "[pytest]\naddopts = -p no:lab3\n",
        },
        {"all": (PASS, None)},
        only=["causal_mask", "sdpa"],
    ),
]
