#!/usr/bin/env bash
# Regenerates the committed Swift code in Common/Wire/Generated from Common/Wire/Protos.
# Needs protoc (Debian `protobuf-compiler`, installed here if missing) and protoc-gen-swift, built from the very
# swift-protobuf version that Package.swift resolves so the generator and the runtime always match.
# Usage: scripts/generate-proto.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || scripts/install-deps.sh protobuf-compiler
swift package resolve
src=.build/checkouts/swift-protobuf
swift build -c release --package-path "$src" --product protoc-gen-swift --scratch-path .build-protoc-gen-swift
plugin=$PWD/.build-protoc-gen-swift/release/protoc-gen-swift
rm -rf Common/Wire/Generated
mkdir -p Common/Wire/Generated
(cd Common/Wire/Protos && find . -name '*.proto' | sed 's|^\./||' | sort) | xargs \
    protoc --plugin=protoc-gen-swift="$plugin" \
        --swift_out=Common/Wire/Generated \
        --swift_opt=Visibility=Public \
        --swift_opt=FileNaming=PathToUnderscores \
        -I Common/Wire/Protos
echo "generated: $(ls Common/Wire/Generated | tr '\n' ' ')"
