#!/usr/bin/env bash
# Builds the agent image (WrapperImage/Dockerfile) on this machine without any registry:
#   1. the base image (hangar/agent-base:bookworm): Debian bookworm made with debootstrap, with Node.js, imported
#      with `docker import`; skipped when the engine has it, or with BASE_IMAGE=<image> to use another base;
#   2. the wrapper, published self-contained, and this machine's .NET runtime, as the build context;
#   3. the image, tagged hangar/agent:latest (or $AGENT_IMAGE).
# Needs a running Docker engine, debootstrap and the .NET SDK. Run as root (debootstrap needs it).
set -euo pipefail
cd "$(dirname "$0")/.."

base_image="${BASE_IMAGE:-hangar/agent-base:bookworm}"
agent_image="${AGENT_IMAGE:-hangar/agent:latest}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
work=".data/image"
mkdir -p "$work"

if ! docker image inspect "$base_image" >/dev/null 2>&1; then
  if [ -n "${BASE_IMAGE:-}" ]; then
    echo "Base image $base_image is not on the engine: pull or build it first." >&2
    exit 1
  fi
  echo "Building $base_image with debootstrap from $mirror …"
  rootfs="$work/rootfs"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include=nodejs,ca-certificates,libicu72 bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import --change 'CMD ["/bin/bash"]' - "$base_image" >/dev/null
  rm -rf "$rootfs"
fi

echo "Publishing the wrapper …"
context="$work/context"
rm -rf "$context"
mkdir -p "$context"
dotnet publish WrapperImage -c Release -r linux-x64 --self-contained -p:PublishReadyToRun=true -o "$context/wrapper" -v quiet -nologo >/dev/null

# The .NET runtime for .NET agents: this machine's, the muxer, host resolver and shared frameworks.
dotnet_root="$(dirname "$(readlink -f "$(command -v dotnet)")")"
mkdir -p "$context/dotnet/shared"
cp "$dotnet_root/dotnet" "$context/dotnet/"
cp -r "$dotnet_root/host" "$context/dotnet/"
for framework in Microsoft.NETCore.App Microsoft.AspNetCore.App; do
  version="$(ls "$dotnet_root/shared/$framework" | sort -V | tail -1)"
  mkdir -p "$context/dotnet/shared/$framework"
  cp -r "$dotnet_root/shared/$framework/$version" "$context/dotnet/shared/$framework/"
done

echo "Building $agent_image on $base_image …"
docker build -q --network host --build-arg BASE_IMAGE="$base_image" -t "$agent_image" -f WrapperImage/Dockerfile "$context" >/dev/null
rm -rf "$context"
docker image ls "$agent_image" --format '{{.Repository}}:{{.Tag}} {{.Size}}'
