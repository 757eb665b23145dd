#!/usr/bin/python3
"""Fetches a model's input matrix from a running gateway over gRPC and prints it.

Usage:
  /usr/bin/python3 generate_stubs.py
  /usr/bin/python3 fetch_inference_inputs.py --service feed_ranker_v1 --entity user=u1 --entity content=c1,c2,c3 \
      --request-field hour_of_day=9 --request-field device=android [--address 127.0.0.1:5080] [--api-key KEY]

Output: one line "rows=R columns=C registry_version=V", one "columns: name,..." line, then one line per row: its
cells, with "*" after a value that was missing or expired (the column's default, or nan).
"""
import argparse
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    parser = argparse.ArgumentParser(description="Fetch inference inputs from an OrleansFeatures gateway")
    parser.add_argument("--address", default="127.0.0.1:5080", help="host:port of the gateway's gRPC endpoint (h2c)")
    parser.add_argument("--api-key", default=os.environ.get("ORLEANSFEATURES_API_KEY"))
    parser.add_argument("--service", required=True, help="feature service name")
    parser.add_argument("--entity", action="append", default=[], metavar="TYPE=ID[,ID...]",
                        help="ids of one entity type, one per row (or one id for every row)")
    parser.add_argument("--request-field", action="append", default=[], metavar="NAME=VALUE",
                        help="a request field's value for every row (an integer, a number, true/false, or a string)")
    parser.add_argument("--stubs", default=os.path.join(HERE, "generated"), help="where generate_stubs.py wrote the modules")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline in seconds")
    return parser.parse_args()


def main():
    args = parse_args()
    sys.path.insert(0, args.stubs)
    import grpc
    from orleansfeatures.v1 import serving_pb2, values_pb2

    request = serving_pb2.GetInferenceInputsRequest(feature_service=args.service)
    for spec in args.entity:
        entity_type, _, ids = spec.partition("=")
        request.entities.add(entity_type=entity_type, ids=[i for i in ids.split(",") if i])
    for spec in args.request_field:
        name, _, text = spec.partition("=")
        request.request_fields.add(name=name, values=[to_value(values_pb2, text)])

    metadata = [("authorization", "ApiKey " + args.api_key)] if args.api_key else None
    with grpc.insecure_channel(args.address) as channel:
        get_inference_inputs = channel.unary_unary(
            "/orleansfeatures.v1.FeatureServing/GetInferenceInputs",
            request_serializer=serving_pb2.GetInferenceInputsRequest.SerializeToString,
            response_deserializer=serving_pb2.GetInferenceInputsResponse.FromString)
        try:
            response = get_inference_inputs(request, timeout=args.timeout, metadata=metadata)
        except grpc.RpcError as error:
            sys.exit(f"gateway at {args.address} answered {error.code().name}: {error.details()}")

    rows, columns = response.row_count, response.column_count
    matrix = to_matrix(response.values, rows, columns)
    print(f"rows={rows} columns={columns} registry_version={response.registry_version}")
    print("columns: " + ",".join(c.name for c in response.columns))
    for r in range(rows):
        cells = []
        for c in range(columns):
            present = response.mask[r * columns + c] == 1
            cells.append(f"{matrix[r][c]:g}" + ("" if present else "*"))
        print(" ".join(cells))


def to_matrix(values, rows, columns):
    """row-major little-endian float32 -> rows of floats (numpy when installed: python3-numpy)."""
    try:
        import numpy
        return numpy.frombuffer(values, dtype="<f4").reshape(rows, columns).tolist()
    except ImportError:
        flat = struct.unpack(f"<{rows * columns}f", values)
        return [list(flat[r * columns:(r + 1) * columns]) for r in range(rows)]


def to_value(values_pb2, text):
    if text in ("true", "false"):
        return values_pb2.Value(bool_value=text == "true")
    try:
        return values_pb2.Value(int64_value=int(text))
    except ValueError:
        pass
    try:
        return values_pb2.Value(double_value=float(text))
    except ValueError:
        return values_pb2.Value(string_value=text)


if __name__ == "__main__":
    main()
