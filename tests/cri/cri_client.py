#!/usr/bin/env python3
"""A small CRI client for the test suite (tests/bats/cri.bats).

    cri_client.py stubs PROTO OUTDIR
        Generate the Python gRPC stubs for the CRI api.proto PROTO into OUTDIR
        (python3 -m grpc_tools.protoc). Nothing generated is kept in the repository.

    cri_client.py --socket SOCK --stubs OUTDIR [--timeout S] METHOD [JSON]
        Call METHOD (RunPodSandbox, CreateContainer, ExecSync, ...: the RuntimeService
        and ImageService method names) with JSON (the request message in protobuf's
        JSON mapping, field names as in api.proto or lowerCamelCase; "-" reads stdin;
        default {}). Prints the response as JSON (field names as in api.proto) and
        exits 0; on a gRPC error prints {"error": {"code": ..., "message": ...}} and
        exits 1 (the message is what the kubelet would record as the event).
"""
import argparse
import importlib
import json
import os
import re
import subprocess
import sys


def make_stubs(proto, outdir):
    os.makedirs(outdir, exist_ok=True)
    with open(proto, encoding="utf-8") as f:
        text = f.read()
    # The gogoproto import and options only steer Go code generation; gogo.proto is
    # not on the host (the proto is copied out of the sid tree), so a temporary copy
    # without them is compiled. The messages and services are unchanged.
    text = re.sub(r'(?m)^import\s+"github\.com/gogo/protobuf/gogoproto/gogo\.proto";\s*$', "", text)
    text = re.sub(r"(?m)^option\s+\(gogoproto\.[a-z_]+\)\s*=\s*[a-z]+;\s*$", "", text)
    text = re.sub(r"\s*\[\(gogoproto\.[^\]]*\]", "", text)
    if "gogoproto" in text:
        sys.exit("cri_client: unexpected gogoproto use left in " + proto)
    copy = os.path.join(outdir, "api.proto")
    with open(copy, "w", encoding="utf-8") as f:
        f.write(text)
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I" + outdir,
                    "--python_out=" + outdir, "--grpc_python_out=" + outdir, copy],
                   check=True)


def load_stubs(outdir):
    sys.path.insert(0, outdir)
    return importlib.import_module("api_pb2"), importlib.import_module("api_pb2_grpc")


def to_dict(json_format, msg):
    # Fields at their default are printed too: SANDBOX_READY and CONTAINER_CREATED are
    # enum value 0, exit code 0 is 0. The option was renamed in protobuf 5.
    try:
        return json_format.MessageToDict(msg, preserving_proto_field_name=True,
                                         including_default_value_fields=True)
    except TypeError:
        return json_format.MessageToDict(msg, preserving_proto_field_name=True,
                                         always_print_fields_with_no_presence=True)


def call(args):
    import grpc
    from google.protobuf import json_format

    pb2, pb2_grpc = load_stubs(args.stubs)
    services = {}
    for name in ("RuntimeService", "ImageService"):
        sd = pb2.DESCRIPTOR.services_by_name[name]
        for m in sd.methods:
            services[m.name] = (name, m)
    if args.method not in services:
        sys.exit("cri_client: unknown method %r (known: %s)" % (args.method, ", ".join(sorted(services))))
    svc, method = services[args.method]
    if method.server_streaming or method.client_streaming:
        sys.exit("cri_client: %s is a streaming call, not supported" % args.method)
    text = sys.stdin.read() if args.json == "-" else args.json
    req_cls = getattr(pb2, method.input_type.name)
    req = json_format.Parse(text, req_cls())
    channel = grpc.insecure_channel("unix://" + args.socket)
    stub = getattr(pb2_grpc, svc + "Stub")(channel)
    try:
        resp = getattr(stub, args.method)(req, timeout=args.timeout)
    except grpc.RpcError as e:
        json.dump({"error": {"code": e.code().name, "message": e.details()}}, sys.stdout)
        sys.stdout.write("\n")
        return 1
    finally:
        channel.close()
    out = to_dict(json_format, resp)
    # ExecSync's stdout/stderr are bytes (base64 in JSON): decoded for the shell.
    for k in ("stdout", "stderr"):
        if args.method == "ExecSync" and k in out:
            out[k] = getattr(resp, k).decode("utf-8", "replace")
    json.dump(out, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "stubs":
        make_stubs(sys.argv[2], sys.argv[3])
        return 0
    p = argparse.ArgumentParser(description="CRI client for the test suite")
    p.add_argument("--socket", required=True, help="containerd's gRPC socket")
    p.add_argument("--stubs", required=True, help="directory of the generated stubs")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("method")
    p.add_argument("json", nargs="?", default="{}")
    return call(p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
