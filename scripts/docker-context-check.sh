#!/usr/bin/env bash
# The next best thing to `docker build` where there is no container daemon:
# replays the Dockerfile's build stage (`FROM … AS build`) in an empty
# folder. Each COPY copies exactly its paths from the repository (minus what
# .dockerignore keeps out of the context); each RUN runs there with `cargo
# build --release` replaced by `cargo check` (whether the crate compiles from
# what was copied, not the optimised code), sharing the repository's target
# dir for the dependencies already checked there (`cargo clippy` leaves them).
# Fails if the build stage leaves out a file the crate needs, or if its
# dependency stage does not stub every target the manifest names.
#
#   scripts/docker-context-check.sh
#   DOCKERFILE=/tmp/Dockerfile.edited scripts/docker-context-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DOCKERFILE=${DOCKERFILE:-$REPO/Dockerfile}
# A fixed folder (emptied first), so the checked crate's artifacts in the
# shared target dir are replaced at each run rather than piling up.
CONTEXT=${TMPDIR:-/tmp}/courserec-docker-context
REAL_CARGO=$(command -v cargo)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}

rm -rf "$CONTEXT"
mkdir -p "$CONTEXT/src" "$CONTEXT/bin"
trap 'rm -rf "$CONTEXT"' EXIT
# `cargo` as the RUN lines see it.
cat >"$CONTEXT/bin/cargo" <<EOF
#!/usr/bin/env bash
args=()
for a in "\$@"; do
    case \$a in
        build) args+=(check) ;;
        --release) ;;
        *) args+=("\$a") ;;
    esac
done
echo "+ cargo \${args[*]}" >&2
exec "$REAL_CARGO" "\${args[@]}"
EOF
chmod +x "$CONTEXT/bin/cargo"

python3 - "$DOCKERFILE" "$REPO" "$CONTEXT/src" "$CONTEXT/bin" <<'PY'
import fnmatch, glob, os, re, shutil, subprocess, sys

dockerfile, repo, root, shim = sys.argv[1:]


def fail(msg):
    sys.exit(f"docker-context-check: {msg}")


# Instructions, continuation lines joined, comments and blank lines dropped.
instructions, cur = [], ""
for line in open(dockerfile):
    line = line.rstrip("\n")
    if not cur and (not line.strip() or line.lstrip().startswith("#")):
        continue
    if line.endswith("\\"):
        cur += line[:-1] + " "
        continue
    cur += line
    instructions.append(cur.strip())
    cur = ""

stage, in_build = [], False
for ins in instructions:
    word = ins.split(None, 1)[0].upper()
    if word == "FROM":
        if in_build:
            break
        in_build = re.search(r"\s+AS\s+build\s*$", ins, re.I) is not None
    elif in_build:
        stage.append(ins)
if not stage:
    fail(f"no `FROM … AS build` stage in {dockerfile}")

# .dockerignore: Go filepath.Match patterns relative to the context, `**`
# for any number of folders, `!` re-including; the last match decides, and a
# pattern matching a folder excludes what is under it.
def pattern_rx(pat):
    rx, i = "", 0
    while i < len(pat):
        if pat.startswith("**/", i):
            rx, i = rx + "(?:.*/)?", i + 3
        elif pat.startswith("**", i):
            rx, i = rx + ".*", i + 2
        elif pat[i] == "*":
            rx, i = rx + "[^/]*", i + 1
        elif pat[i] == "?":
            rx, i = rx + "[^/]", i + 1
        elif pat[i] == "[" and "]" in pat[i + 1:]:
            j = pat.index("]", i + 1)
            cls = pat[i + 1 : j]
            rx, i = rx + "[" + ("^" + cls[1:] if cls.startswith("^") else cls) + "]", j + 1
        else:
            rx, i = rx + re.escape(pat[i]), i + 1
    return re.compile(rx + r"\Z")


ignore = []
path = os.path.join(repo, ".dockerignore")
if os.path.exists(path):
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        ignore.append((pattern_rx(os.path.normpath(line.lstrip("!").strip().lstrip("/"))), keep))


def ignored(rel):
    parts = rel.split("/")
    out = False
    for rx, keep in ignore:
        if any(rx.match("/".join(parts[: i + 1])) for i in range(len(parts))):
            out = not keep
    return out


def copy(src_rel, dest):
    src = os.path.join(repo, src_rel)
    if os.path.isdir(src):
        for dirpath, dirs, files in os.walk(src):
            rel_dir = os.path.relpath(dirpath, repo)
            dirs[:] = [d for d in dirs if not ignored(os.path.normpath(os.path.join(rel_dir, d)))]
            for f in files:
                rel = os.path.normpath(os.path.join(rel_dir, f))
                if ignored(rel):
                    continue
                target = os.path.join(dest, os.path.relpath(os.path.join(dirpath, f), src))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copy2(os.path.join(dirpath, f), target)
    elif not ignored(src_rel):
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(src, dest)


workdirs = 0
env = dict(os.environ, PATH=shim + os.pathsep + os.environ["PATH"])
for ins in stage:
    word, _, rest = ins.partition(" ")
    word = word.upper()
    if word == "WORKDIR":
        # The folder stands for the build stage's one working dir.
        workdirs += 1
        if workdirs > 1:
            fail(f"a second WORKDIR is not replayed: {ins}")
        continue
    if word == "COPY":
        args = rest.split()
        flags = [a for a in args if a.startswith("--")]
        if any(f.startswith("--from") for f in flags) or rest.lstrip().startswith("["):
            fail(f"unsupported COPY form: {ins}")
        args = [a for a in args if not a.startswith("--")]
        *srcs, dest = args
        dest_path = os.path.normpath(os.path.join(root, dest))
        if not dest_path.startswith(root):
            fail(f"COPY outside the working dir: {ins}")
        many = len(srcs) > 1 or dest.endswith("/")
        for pattern in srcs:
            matches = sorted(glob.glob(pattern, root_dir=repo)) or fail(f"{ins}: nothing matches {pattern}")
            for m in matches:
                m = os.path.normpath(m)
                is_dir = os.path.isdir(os.path.join(repo, m))
                into = many or dest.endswith("/") or os.path.isdir(dest_path)
                target = os.path.join(dest_path, os.path.basename(m)) if into and not is_dir else dest_path
                copy(m, target)
        print(f"+ {ins}", file=sys.stderr)
    elif word == "RUN":
        print(f"+ {ins}", file=sys.stderr)
        if subprocess.run(["sh", "-c", rest], cwd=root, env=env).returncode != 0:
            fail(f"failed: {ins}")
    elif word in ("ENV", "ARG", "LABEL"):
        fail(f"{word} in the build stage is not replayed yet: {ins}")
    else:
        fail(f"unsupported instruction in the build stage: {ins}")
print("docker-context-check: the build stage's context builds the crate", file=sys.stderr)
PY
