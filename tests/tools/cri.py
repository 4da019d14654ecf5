#!/usr/bin/python3
"""The kubelet's image calls over CRI, for the tests:

    cri.py SOCKET pull IMAGE        ImageService.PullImage; prints image_ref
    cri.py SOCKET status IMAGE      ImageService.ImageStatus; prints the
                                    image's id, tags and digests, one a
                                    line ("id ...", "tag ...", "digest ..."),
                                    and exits 1 when the runtime has no
                                    such image
    cri.py SOCKET version           RuntimeService.Version

runtime.v1 (the API kubelets since 1.26 speak). The few protobuf messages
are encoded by hand (no generated code, no protoc) and sent with grpcio's
generic unary calls, so only python3-grpcio is needed.
"""
import sys

import grpc

TIMEOUT = 120


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(num, data):
    """A length-delimited field (string or embedded message)."""
    return varint(num << 3 | 2) + varint(len(data)) + data


def image_spec(image):
    return field_bytes(1, image.encode())


def decode(data):
    """The fields of one message: {number: [value, ...]}, where a value is
    an int (varint) or bytes (length-delimited)."""
    fields, i = {}, 0
    while i < len(data):
        key, i = read_varint(data, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, i = read_varint(data, i)
        elif wire == 2:
            n, i = read_varint(data, i)
            val, i = data[i:i + n], i + n
        elif wire == 1:
            val, i = data[i:i + 8], i + 8
        elif wire == 5:
            val, i = data[i:i + 4], i + 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        fields.setdefault(num, []).append(val)
    return fields


def read_varint(data, i):
    n, shift = 0, 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def call(channel, method, request):
    fn = channel.unary_unary(method, request_serializer=lambda b: b,
                             response_deserializer=lambda b: b)
    return decode(fn(request, timeout=TIMEOUT))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sock, cmd = sys.argv[1], sys.argv[2]
    channel = grpc.insecure_channel("unix://" + sock)
    try:
        if cmd == "version":
            r = call(channel, "/runtime.v1.RuntimeService/Version",
                     field_bytes(1, b"v1"))
            print(" ".join(r[i][0].decode() for i in (2, 3, 4) if i in r))
        elif cmd == "pull" and len(sys.argv) == 4:
            # PullImageRequest{image: ImageSpec{image}}
            r = call(channel, "/runtime.v1.ImageService/PullImage",
                     field_bytes(1, image_spec(sys.argv[3])))
            print(r[1][0].decode())
        elif cmd == "status" and len(sys.argv) == 4:
            r = call(channel, "/runtime.v1.ImageService/ImageStatus",
                     field_bytes(1, image_spec(sys.argv[3])))
            if 1 not in r:
                print("no such image: %s" % sys.argv[3], file=sys.stderr)
                return 1
            img = decode(r[1][0])	# Image{id, repo_tags, repo_digests, size}
            print("id " + img[1][0].decode())
            for t in img.get(2, []):
                print("tag " + t.decode())
            for d in img.get(3, []):
                print("digest " + d.decode())
            print("size %d" % img.get(4, [0])[0])
        else:
            sys.exit(__doc__)
    except grpc.RpcError as e:
        print("%s: %s" % (e.code().name, e.details()), file=sys.stderr)
        return 1
    finally:
        channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
