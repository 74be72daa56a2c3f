#!/usr/bin/env bash
# One-command install of mmtec and its whole stack:
#
#     bash tools/install.sh
#
# Installs into the environment of `python` on PATH (or $PYTHON), always via
# `$PYTHON -m pip`: torch 2.14.1 + torchvision 0.29.1, numpy<2,
# setuptools>=77,<81, mmengine 0.10.7, mmcv 2.1.0 with compiled ops,
# mmpretrain 1.2.0, mmdet 3.3.0, mmsegmentation 1.2.2 and their deps, pytest,
# timm and open_clip_torch (reference ViTs of the tests)
# and openmim (all under requirements/constraints.txt),
# then `pip install -e .` of this repo, then the Debian package
# dataset-fashion-mnist. Safe to re-run: a complete install is a quick no-op.
#
# With a GPU (the README's "Install" says the same), in this order:
#   1. torch + torchvision for your CUDA (pytorch.org)
#   2. MMTEC_SKIP_TORCH=1 bash tools/install.sh
#      (builds mmcv against your torch, with the CUDA ops when a GPU is
#      visible, or FORCE_CUDA=1)
#   or, for an older torch/CUDA pair that OpenMMLab prebuilt mmcv 2.1.0 for,
#   take that wheel through mim installed under the constraints file (a bare
#   `pip install -U openmim` downgrades setuptools and brings numpy 2):
#      pip install -c requirements/constraints.txt openmim
#      mim install mmcv==2.1.0 -c requirements/constraints.txt
#      MMTEC_SKIP_TORCH=1 MMTEC_MMCV=skip bash tools/install.sh
#
# Environment knobs:
#   PYTHON=/path/to/python   interpreter to install into (default: python on PATH)
#   MMTEC_SKIP_TORCH=1       keep the installed torch/torchvision (e.g. your own
#                            CUDA build); it must already be importable
#   MMTEC_MMCV=auto|skip|build
#       auto  (default) keep a working mmcv 2.1.0, else install a matching
#             prebuilt wheel (wheelhouse, local cache), else build the sdist
#       skip  do not touch mmcv: you installed a prebuilt one for your
#             torch/CUDA with mim (see "With a GPU" above)
#       build always build mmcv from the PyPI sdist (the long step: it
#             compiles mmcv's C++ ops)
#   MMCV_WHEELHOUSE=DIR      prebuilt mmcv wheels (default: <repo>/../shared/wheelhouse)
#   MMTEC_CACHE=DIR          where wheels built here are kept for re-use
#                            (default: ~/.cache/mmtec)
#   MAX_JOBS=N               parallel compile jobs for the mmcv build (default 2)
#   MMTEC_SKIP_DATA=1        skip the dataset-fashion-mnist apt package
#   MMTEC_VERBOSE=1          full pip output
set -euo pipefail

case "${1:-}" in
    -h|--help)  # the comment block above is the usage
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0;;
    "") ;;
    *) printf 'tools/install.sh takes no arguments (got %s); options are environment variables: bash %s --help\n' "$1" "$0" >&2
       exit 2;;
esac

MMCV_VERSION=2.1.0
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
# The wheel in ../shared/wheelhouse was built against this torch (its BUILD.md);
# mmcv's compiled ops are ABI-bound to the torch they were built with.
WHEELHOUSE_TORCH=2.14.1
MMCV_MODE="${MMTEC_MMCV:-auto}"
CACHE_DIR="${MMTEC_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/mmtec}"

START=$SECONDS
step() { printf '\n==> [%3ss] %s\n' "$((SECONDS - START))" "$*"; }
info() { printf '    %s\n' "$*"; }
die()  { printf '\nERROR: %s\n' "$*" >&2; exit 1; }

case "$MMCV_MODE" in auto|skip|build) ;; *) die "MMTEC_MMCV must be auto, skip or build (got '$MMCV_MODE')";; esac

if [ -z "${PYTHON:-}" ]; then
    if command -v python >/dev/null 2>&1; then PYTHON=python
    elif command -v python3 >/dev/null 2>&1; then PYTHON=python3
    else die "no python on PATH (set PYTHON=/path/to/python)"; fi
fi
# Absolute path, taken before the cd below (PYTHON may be relative).
PYTHON="$("$PYTHON" -c 'import sys; print(sys.executable)')" || die "cannot run $PYTHON"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
CONSTRAINTS="$REPO_ROOT/requirements/constraints.txt"
WHEELHOUSE="${MMCV_WHEELHOUSE:-$REPO_ROOT/../shared/wheelhouse}"
PIP_FLAGS=(--disable-pip-version-check --progress-bar off)
[ "${MMTEC_VERBOSE:-0}" = 1 ] || PIP_FLAGS+=(-q)
pip_() { "$PYTHON" -m pip "$@"; }
pip_install() { pip_ install "${PIP_FLAGS[@]}" -c "$CONSTRAINTS" "$@"; }
# Run Python from / so that this repo's folders never shadow installed packages.
py() { (cd / && "$PYTHON" "$@"); }

step "Python: $(command -v "$PYTHON" || echo "$PYTHON")"
py - <<'EOF' || die "Python >= 3.8 with pip is required"
import sys, pip
assert sys.version_info >= (3, 8), sys.version
print('    ' + sys.version.split()[0], 'at', sys.prefix, '| pip', pip.__version__)
EOF

# ---------------------------------------------------------------- torch
if [ "${MMTEC_SKIP_TORCH:-0}" = 1 ]; then
    step "torch: MMTEC_SKIP_TORCH=1, keeping the installed torch/torchvision"
    py -c 'import torch, torchvision; print("    torch", torch.__version__, "| torchvision", torchvision.__version__)' \
        || die "MMTEC_SKIP_TORCH=1 but torch/torchvision do not import; install them first"
else
    step "torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION (a no-op when already there)"
    # Pinned exactly: a bare `torch` could pull a newer multi-GB CUDA build, and
    # mmpretrain needs a torchvision that matches torch.
    pip_install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi

# ---------------------------------------------------------------- python deps
step "OpenMMLab stack + deps (requirements/runtime.txt, requirements/tests.txt)"
# One pip call, under constraints.txt, so the resolver sees numpy<2 and
# setuptools<81 for every package (e.g. picks an opencv that supports numpy 1).
pip_install -r requirements/runtime.txt -r requirements/tests.txt
py -c 'import numpy, setuptools, mmengine; print("    numpy", numpy.__version__, "| setuptools", setuptools.__version__, "| mmengine", mmengine.__version__)'

# ---------------------------------------------------------------- mmcv
TORCH_INFO="$(py -c '
import platform, sys, torch
print(torch.__version__, "cp%d%d" % sys.version_info[:2], platform.machine())')" || die "torch does not import"
read -r TORCH_FULL PYTAG ARCH <<<"$TORCH_INFO"
TORCH_BASE="${TORCH_FULL%%+*}"
MMCV_CACHE="$CACHE_DIR/mmcv-$MMCV_VERSION/torch-$TORCH_FULL-$PYTAG-$ARCH"

# True when mmcv imports at the right version and its compiled ops load and run
# (an mmcv built against another torch fails here with an undefined symbol),
# on the GPU too when torch sees one.
mmcv_ok() {
    py - "$MMCV_VERSION" <<'EOF' >/dev/null 2>&1
import sys, torch, mmcv
assert mmcv.__version__ == sys.argv[1], mmcv.__version__
from mmcv.ops import nms, RoIAlign
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [50., 50., 60., 60.]])
_, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)
assert keep.tolist() == [0, 2], keep
out = RoIAlign((2, 2), 1.0, 0)(torch.rand(1, 1, 8, 8), torch.tensor([[0., 0., 0., 4., 4.]]))
assert out.shape == (1, 1, 2, 2), out.shape
if torch.cuda.is_available():  # a CPU-only build (e.g. the wheelhouse's) lacks CUDA kernels
    _, keep = nms(boxes.cuda(), torch.tensor([0.9, 0.8, 0.7]).cuda(), 0.5)
    assert keep.tolist() == [0, 2], keep
EOF
}

# mmcv-lite ships the same `mmcv` package folder; two owners of one folder
# break on the next uninstall, so remove it first.
drop_mmcv_lite() {
    if py -c 'import importlib.metadata as m; m.version("mmcv-lite")' >/dev/null 2>&1; then
        info "removing mmcv-lite (no compiled ops; same import name)"
        pip_ uninstall -y -q mmcv-lite
    fi
}

# Install one prebuilt wheel and keep it only if its ops work with this torch.
try_wheel() {
    local whl="$1"
    info "trying $whl"
    drop_mmcv_lite
    # --no-deps: mmcv's deps are in runtime.txt; resolving them here could
    # pull numpy 2 through opencv.
    if pip_ install "${PIP_FLAGS[@]}" --no-deps --force-reinstall "$whl" && mmcv_ok; then
        info "OK: mmcv ops load and run"
        return 0
    fi
    info "this wheel does not work here; removing it"
    pip_ uninstall -y -q mmcv >/dev/null 2>&1 || true
    return 1
}

build_mmcv_from_sdist() {
    local tmp src whl
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/mmtec-mmcv-build.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    info "building mmcv $MMCV_VERSION from the PyPI sdist against torch $TORCH_FULL"
    info "(compiles the C++ ops, the long step of the install; MAX_JOBS=${MAX_JOBS:-2})"
    # Build tools into this environment: no build isolation, because the build
    # must import the installed torch. ninja makes torch compile in parallel.
    pip_install wheel ninja
    # --no-build-isolation also here: pip prepares the sdist's metadata while
    # downloading, and an isolated env would get setuptools>=81, whose missing
    # pkg_resources breaks mmcv's setup.py.
    pip_ download "${PIP_FLAGS[@]}" --no-deps --no-build-isolation --no-binary :all: \
        "mmcv==$MMCV_VERSION" -d "$tmp/sdist"
    tar xzf "$tmp/sdist/mmcv-$MMCV_VERSION.tar.gz" -C "$tmp"
    src="$tmp/mmcv-$MMCV_VERSION"
    # torch >= 2.10 headers refuse anything below C++20 (#error in ATen).
    sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$src/setup.py"
    if grep -q -- '-std=c++1[47]' "$src/setup.py"; then die "could not patch -std flags in mmcv's setup.py"; fi
    # The venv's bin (ninja) may not be on PATH when $PYTHON is called by path.
    local scripts; scripts="$(py -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
    (cd "$src" && PATH="$scripts:$PATH" MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-2}" \
        "$PYTHON" -m pip wheel --disable-pip-version-check --progress-bar off \
        --no-deps --no-build-isolation -w "$tmp/wheels" .)
    whl="$(ls "$tmp"/wheels/mmcv-"$MMCV_VERSION"-*.whl)"
    try_wheel "$whl" || die "the freshly built mmcv wheel does not work; see the build output above"
    # Keep it for the next run on this machine (keyed by the exact torch build).
    mkdir -p "$MMCV_CACHE" && cp "$whl" "$MMCV_CACHE/" && info "cached in $MMCV_CACHE"
    rm -rf "$tmp"; trap - EXIT
}

if [ "$MMCV_MODE" = skip ]; then
    step "mmcv: MMTEC_MMCV=skip, not touching mmcv"
    if mmcv_ok; then info "OK: mmcv $MMCV_VERSION with working ops"
    else info "WARNING: mmcv $MMCV_VERSION with ops does not work in this environment (checked again at the end)"; fi
elif [ "$MMCV_MODE" = auto ] && mmcv_ok; then
    step "mmcv $MMCV_VERSION: already installed, ops load and run against torch $TORCH_FULL"
else
    step "mmcv $MMCV_VERSION with compiled ops (torch $TORCH_FULL, $PYTAG, $ARCH)"
    done_=0
    if [ "$MMCV_MODE" = auto ]; then
        candidates=()
        # Prebuilt wheels only where they can match: the shared wheelhouse is
        # for torch $WHEELHOUSE_TORCH; the cache is keyed by the exact torch.
        if [ "$TORCH_BASE" = "$WHEELHOUSE_TORCH" ]; then
            candidates+=("$WHEELHOUSE/mmcv-$MMCV_VERSION-$PYTAG-$PYTAG-linux_$ARCH.whl")
        else
            info "wheelhouse wheel is for torch $WHEELHOUSE_TORCH, not $TORCH_FULL: skipping it"
        fi
        candidates+=("$MMCV_CACHE/mmcv-$MMCV_VERSION-$PYTAG-$PYTAG-linux_$ARCH.whl")
        for whl in "${candidates[@]}"; do
            if [ -f "$whl" ]; then
                if try_wheel "$whl"; then done_=1; break; fi
            else
                info "no prebuilt wheel at $whl"
            fi
        done
    fi
    # (an `if`, not `||`: bash ignores set -e inside a function called from `||`)
    if [ "$done_" != 1 ]; then build_mmcv_from_sdist; fi
fi

# ---------------------------------------------------------------- mmtec
step "mmtec: pip install -e $REPO_ROOT"
# --no-deps: deps were installed above under the constraints;
# --no-build-isolation: setuptools<81 is already here, no download needed.
pip_install --no-deps --no-build-isolation -e .

# ---------------------------------------------------------------- data
PKG=dataset-fashion-mnist
APT_HINT="sudo apt-get update && sudo apt-get install -y $PKG   (files land in /usr/share/datasets/fashion-mnist)"
if [ "${MMTEC_SKIP_DATA:-0}" = 1 ]; then
    step "$PKG: MMTEC_SKIP_DATA=1, skipped"
elif dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q 'install ok installed'; then
    step "$PKG: already installed"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    step "$PKG: apt-get update && apt-get install"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed; fix apt or re-run with MMTEC_SKIP_DATA=1"
    apt-get install -y -qq "$PKG" >/dev/null \
        || die "apt-get install $PKG failed; install it yourself or re-run with MMTEC_SKIP_DATA=1"
else
    step "$PKG: not installed, and this is not root with apt-get. To get it, run:"
    info "$APT_HINT"
fi

# ---------------------------------------------------------------- check
step "Final check: everything imports"
py - <<'EOF' || die "the final import check failed (see the traceback above)"
import mmcv, mmcv.ops, mmdet, mmengine, mmpretrain, mmseg, mmtec, numpy, torch
from mmcv.ops import nms, RoIAlign
print('    torch %s | mmengine %s | mmcv %s | mmpretrain %s | mmdet %s | mmseg %s | numpy %s'
      % (torch.__version__, mmengine.__version__, mmcv.__version__,
         mmpretrain.__version__, mmdet.__version__, mmseg.__version__, numpy.__version__))
print('    mmtec %s from %s' % (getattr(mmtec, '__version__', '?'), mmtec.__file__))
EOF
step "Done in $((SECONDS - START))s"
