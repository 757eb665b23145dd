#!/usr/bin/python3
"""Generates the Python message modules of gateway/Protos into a folder (default: ./generated).

Uses the protoc that the Grpc.Tools NuGet package ships (the .NET build restores it), because Debian's
python3-grpc-tools (1.14) predates proto3 `optional`, which registry.proto uses. That protoc is newer than Debian's
protobuf runtime (python3-protobuf 4.21), so the one line by which new generated code refuses an older runtime is
removed; the rest of the generated code (descriptor pool + builder) is what protobuf 4.21 reads. The gRPC methods are
called with channel.unary_unary (fetch_inference_inputs.py), so no grpc plugin is needed.

Usage: /usr/bin/python3 generate_stubs.py [--out DIR] [--protoc PATH]
"""
import argparse
import glob
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROTOS = os.path.normpath(os.path.join(HERE, "..", "..", "gateway", "Protos"))
PACKAGES = os.environ.get("NUGET_PACKAGES", os.path.expanduser("~/.nuget/packages"))


def newest(pattern):
    """The path of the highest package version matching pattern, or None."""
    def version(path):
        part = path[len(PACKAGES):].strip("/").split("/")[1]
        return [int(x) if x.isdigit() else 0 for x in re.split(r"[.-]", part)]
    found = sorted(glob.glob(os.path.join(PACKAGES, pattern)), key=version)
    return found[-1] if found else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(HERE, "generated"))
    parser.add_argument("--protoc", default=os.environ.get("PROTOC") or newest("grpc.tools/*/tools/linux_x64/protoc"))
    args = parser.parse_args()
    if not args.protoc or not os.path.exists(args.protoc):
        sys.exit(f"no protoc: build the .NET solution once (it restores Grpc.Tools into {PACKAGES}) or pass --protoc")
    well_known = os.path.normpath(os.path.join(os.path.dirname(args.protoc), "..", "..", "build", "native", "include"))
    google_api = newest("google.api.commonprotos/*/content/protos")
    if not google_api:
        sys.exit(f"no Google.Api.CommonProtos package in {PACKAGES}: build the .NET solution once")

    os.makedirs(args.out, exist_ok=True)
    ours = sorted(glob.glob(os.path.join(PROTOS, "orleansfeatures", "v1", "*.proto")))
    subprocess.run(
        [args.protoc, f"-I{PROTOS}", f"-I{google_api}", f"-I{well_known}", f"--python_out={args.out}",
         *ours, "google/api/annotations.proto", "google/api/http.proto"],
        check=True)
    for path in glob.glob(os.path.join(args.out, "**", "*_pb2.py"), recursive=True):
        with open(path, encoding="utf-8") as f:
            code = f.read()
        code = code.replace("from google.protobuf import runtime_version as _runtime_version\n", "")
        code = re.sub(r"_runtime_version\.ValidateProtobufRuntimeVersion\([^)]*\)\n", "", code)
        with open(path, "w", encoding="utf-8") as f:
            f.write(code)
    print(f"generated {len(ours)} orleansfeatures protos and google/api into {args.out}")


if __name__ == "__main__":
    main()
