#!/usr/bin/env bash
# Build the minimal Debian bookworm image (with python3) that the container tests run in.
#
# Usage: scripts/build-test-image.sh DIR
#
# The image is a plain directory tree usable by `ch-run DIR -- ...` (and as an apptainer
# sandbox). The build runs once: when DIR/.hpcflow-image-ok exists the script exits at
# once, so tests may call it unconditionally. A half-built DIR (no marker) is removed and
# rebuilt. Needs root (debootstrap) and network access to a Debian mirror.
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
dir=$1
ok="$dir/.hpcflow-image-ok"

if [[ -e "$ok" ]]; then
    echo "test image already built: $dir"
    exit 0
fi

# Use the mirror apt is already configured with (deb822 first, then one-line format),
# so a build works behind the same proxies and snapshot pins as apt itself.
pick_mirror() {
    local f uri
    for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources; do
        [[ -r "$f" ]] || continue
        uri=$(awk '/^URIs:/ {print $2}' "$f" | grep -E '/debian/?$' | head -n1 || true)
        if [[ -n "$uri" ]]; then echo "$uri"; return; fi
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r "$f" ]] || continue
        uri=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ {print $2}' "$f" | head -n1 || true)
        if [[ -n "$uri" ]]; then echo "$uri"; return; fi
    done
    echo "http://deb.debian.org/debian"
}
mirror=${HPCFLOW_DEBIAN_MIRROR:-$(pick_mirror)}

for tool in debootstrap; do
    command -v "$tool" >/dev/null || { echo "error: $tool not installed" >&2; exit 1; }
done

if [[ -e "$dir" ]]; then
    echo "removing incomplete image at $dir"
    rm -rf --one-file-system -- "$dir"
fi
mkdir -p -- "$(dirname -- "$dir")"

start=$(date +%s)
echo "debootstrap bookworm from $mirror into $dir"
# python3-ase (with numpy/scipy) lets examples/eos.py run its compute step in this image.
packages="python3${HPCFLOW_TEST_IMAGE_PACKAGES-,python3-ase}"
debootstrap --variant=minbase --include="$packages" bookworm "$dir" "$mirror"

# Marker read by the tests from inside the container, proving the command ran in the image.
printf 'hpcflow test image: debian bookworm minbase + python3, built %s\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$dir/etc/hpcflow-test-image"

# Mount points. ch-run mounts the image read-only and cannot create a bind target that
# does not exist, so every target must be in the image: the usual /mnt/0..9, and
# /hpcflow/pkgs/0..9 where python_path_binds() mounts hpcflow and a step's packages.
mkdir -p -- "$dir/dev" "$dir/proc" "$dir/sys" "$dir/tmp" "$dir/home"
for i in 0 1 2 3 4 5 6 7 8 9; do
    mkdir -p -- "$dir/mnt/$i" "$dir/hpcflow/pkgs/$i"
done
for f in etc/hosts etc/resolv.conf etc/passwd etc/group; do
    [[ -e "$dir/$f" ]] || : >"$dir/$f"
done
chmod 1777 "$dir/tmp"
# Unprivileged runs (ch-run as a normal user) must be able to read the whole tree.
chmod -R a+rX -- "$dir"
# Save space: package caches are useless in a read-only test image.
rm -rf -- "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"*

touch -- "$ok"
echo "test image built in $(( $(date +%s) - start )) s: $dir"
