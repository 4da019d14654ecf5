#!/bin/bash
# Every container client exactly as shipped (issue 12): pullgate runs on
# containers.local:8080 as documented, inside a network and mount namespace
# this script creates, and the clients read the snippets of etc/ unchanged
# from their documented paths (bind-mounted there inside the namespace, so
# the machine's own files are not touched):
#   - the kubelet's path: containerd with its CRI plugin and config_path =
#     /etc/containerd/certs.d, images pulled with CRI PullImage (tests/tools/
#     cri.py) by both pod-spec forms, the account-ID form and a private
#     registry's own name through _default, ImageStatus;
#   - dockerd with /etc/docker/daemon.json: direct, account ID, Docker Hub
#     name through registry-mirrors;
#   - podman with /etc/containers/registries.conf: direct and docker.io;
#   - then the upstreams stopped: a new containerd root, docker after rmi,
#     a new podman root pull the same again from pullgate's cache;
#   - k3s is not installed here: etc/k3s/registries.yaml is converted with
#     k3s's documented mapping and compared with the shipped hosts.toml.
if [ "${PG_CLIENTS_NETNS:-}" = "" ]; then
	PG_CLIENTS_NETNS=1 exec unshare --net --mount --propagation private \
	    bash "$0" "$@"
fi
. "$(dirname "$0")/../lib.sh"
only_variants openssl

ip link set lo up
# containers.local is 127.0.0.1 as packaging/hosts makes it.
printf '127.0.0.1 localhost containers.local\n::1 localhost\n' > "$WORK/hosts"
mount --bind "$WORK/hosts" /etc/hosts
# The snippets at their documented paths (tmpfs over the directories, so
# nothing of the machine's configuration is read or changed).
mount -t tmpfs tmpfs /etc/containerd
mkdir /etc/containerd/certs.d
mount --bind "$TOP/etc/containerd/certs.d" /etc/containerd/certs.d
mount -t tmpfs tmpfs /etc/docker
touch /etc/docker/daemon.json
mount --bind "$TOP/etc/docker/daemon.json" /etc/docker/daemon.json
mount -t tmpfs tmpfs /etc/containers
echo '{ "default": [ { "type": "insecureAcceptAnything" } ] }' > /etc/containers/policy.json
touch /etc/containers/registries.conf
mount --bind "$TOP/etc/containers/registries.conf" /etc/containers/registries.conf
check "the snippets are read from their documented paths, byte for byte" sh -c \
    "cmp -s /etc/docker/daemon.json '$TOP/etc/docker/daemon.json' &&
     cmp -s /etc/containers/registries.conf '$TOP/etc/containers/registries.conf' &&
     diff -r /etc/containerd/certs.d '$TOP/etc/containerd/certs.d' &&
     getent hosts containers.local | grep -q '^127.0.0.1 '"

# --- The upstreams: Docker Hub's stand-in, entry 3, an IoT platform. ------
ACCT=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
KEY=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
$PY "$TOOLS/mkimage.py" "$WORK/alpine" --tag 3.20 --layers 2 --size 40000 --seed alpine > /dev/null
$PY "$TOOLS/mkimage.py" "$WORK/app" --tag v1 --layers 2 --size 40000 --seed app > /dev/null
$PY "$TOOLS/mkimage.py" "$WORK/iot" --tag v1 --layers 1 --size 40000 --seed iot > /dev/null
start_registry hub
HUB=127.0.0.1:$REG_PORT; HUB_PID=$REG_PID
push_image "$WORK/alpine" 3.20 "$HUB/library/alpine:3.20"
start_registry acme
ACME=127.0.0.1:$REG_PORT; ACME_PID=$REG_PID
push_image "$WORK/app" v1 "$ACME/acme/app:v1"
htpasswd -Bbn KEY "$KEY" > "$WORK/iot.htpasswd" 2>/dev/null
REG_AUTH="auth:
  htpasswd:
    realm: iot
    path: $WORK/iot.htpasswd" start_registry iot
IOT=127.0.0.1:$REG_PORT; IOT_PID=$REG_PID
skopeo --insecure-policy copy -q --dest-tls-verify=false --dest-creds "KEY:$KEY" \
    "oci:$WORK/iot:v1" "docker://$IOT/$ACCT/app:v1" > "$WORK/push-iot.log" 2>&1 ||
    cat "$WORK/push-iot.log" >&2
digest_of() { sed -n 's/.*"digest": "\(sha256:[0-9a-f]*\)".*/\1/p' "$1/index.json"; }
D_ALPINE=$(digest_of "$WORK/alpine"); D_APP=$(digest_of "$WORK/app"); D_IOT=$(digest_of "$WORK/iot")

# --- pullgate: the shipped configuration with the entries of this test. --
mkdir -p "$WORK/secrets"
printf '%s\n' "$KEY" > "$WORK/secrets/iot.key"
chmod 600 "$WORK/secrets/iot.key"
sed -e "s|^cache_dir = .*|cache_dir = \"$WORK/cache\";|" \
    -e "s|^upstream = .*|upstream = \"http://$HUB\";|" \
    -e "s|^registries_file = .*|registries_file = \"$WORK/registries.conf\";|" \
    "$TOP/etc/pullgate.conf" > "$WORK/pullgate.conf"
cat >> "$WORK/pullgate.conf" <<CONF
registries = (
  { id = 1; mirror_of = [ "docker.io" ]; },
  { id = 3; name = "acme"; url = "http://$ACME";
    mirror_of = [ "registry.acme.example" ]; },
  { id = 4; name = "iot"; url = "http://$IOT"; auth = "basic";
    username = "KEY"; password_file = "$WORK/secrets/iot.key";
    namespaces = "^[0-9a-f]{32}\$"; }
);
CONF
PG_PORT_FIXED=8080 PG_CACHE_FIXED=$WORK/cache start_pullgate main -c "$WORK/pullgate.conf"
PG=containers.local:8080

# --- Kubernetes: containerd's CRI plugin, as the kubelet uses it. --------
# start_cri NAME: a containerd of its own with the CRI plugin on and the
# shipped hosts directory. Sets CRI_SOCK.
start_cri() {
	d=$WORK/cri-$1
	mkdir -p "$d/root" "$d/state" "$d/cni"
	CRI_SOCK=$d/containerd.sock
	cat > "$d/config.toml" <<TOML
version = 2
root = "$d/root"
state = "$d/state"
[grpc]
  address = "$CRI_SOCK"
[ttrpc]
  address = "$CRI_SOCK.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  [plugins."io.containerd.grpc.v1.cri".cni]
    conf_dir = "$d/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "/etc/containerd/certs.d"
TOML
	containerd --config "$d/config.toml" > "$d/containerd.log" 2>&1 &
	PIDS="$PIDS $!"
	i=0
	until $PY "$TOOLS/cri.py" "$CRI_SOCK" version > "$d/version" 2>/dev/null; do
		[ $i -lt 100 ] || { cat "$d/containerd.log" >&2; return 1; }
		sleep 0.2; i=$((i + 1))
	done
}
cri() { $PY "$TOOLS/cri.py" "$CRI_SOCK" "$@"; }
# cri_pull WHEN IMAGE DIGEST: PullImage, then ImageStatus shows the image
# by its name and the manifest digest the upstream has.
cri_pull() {
	cri pull "$2" > "$WORK/cri.out" 2>&1 || { cat "$WORK/cri.out" >&2; return 1; }
	cri status "$2" > "$WORK/cri-status.out" 2>&1 || { cat "$WORK/cri-status.out" >&2; return 1; }
	grep -qx "tag $2" "$WORK/cri-status.out" &&
	    grep -q "^digest .*@$3\$" "$WORK/cri-status.out" || {
		cat "$WORK/cri-status.out" >&2; return 1; }
}
ns0=$(metric 'pullgate_requests_routed_total{by="ns"}')
start_cri one
check "containerd with its CRI plugin answers runtime.v1 ($(cat "$WORK/cri-one/version"))" \
    grep -q "v1\$" "$WORK/cri-one/version"
check "CRI PullImage, pod spec form containers.local:8080/3/acme/app:v1; ImageStatus shows it" \
    cri_pull online "$PG/3/acme/app:v1" "$D_APP"
check "CRI PullImage, docker.io/library/alpine:3.20 through the mirror snippet; ImageStatus shows it" \
    cri_pull online docker.io/library/alpine:3.20 "$D_ALPINE"
check "... routed by ns=docker.io (counted)" \
    test "$(metric 'pullgate_requests_routed_total{by="ns"}')" -gt "$ns0"
check "CRI PullImage, account-ID form $PG/<32 hex>/app:v1; ImageStatus shows it" \
    cri_pull online "$PG/$ACCT/app:v1" "$D_IOT"
check "CRI PullImage, registry.acme.example/acme/app:v1 through _default/hosts.toml (mirror_of)" \
    cri_pull online registry.acme.example/acme/app:v1 "$D_APP"
# An image pullgate cannot give (404): containerd then tries the server of
# docker.io/hosts.toml, Docker Hub itself, as its documentation says (here
# its name does not resolve), which the snippet's comment must say.
cri pull docker.io/library/nosuch:1 > "$WORK/cri-nosuch.out" 2>&1
check "CRI: an image pullgate answers 404 for is then tried at the server (registry-1.docker.io)" \
    grep -q "registry-1.docker.io" "$WORK/cri-nosuch.out"
check "... as the shipped docker.io/hosts.toml says" \
    grep -q "tries the server last" "$TOP/etc/containerd/certs.d/docker.io/hosts.toml"

# --- dockerd with the shipped daemon.json. -------------------------------
DOCKER=/usr/bin/docker
# start_dockerd: a dockerd of the test's own (data and exec root, socket,
# pid file; no bridge, no iptables) reading /etc/docker/daemon.json.
start_dockerd() {
	d=$WORK/docker
	mkdir -p "$d/root" "$d/exec"
	DOCKER_HOST=unix://$d/docker.sock
	export DOCKER_HOST
	dockerd --data-root "$d/root" --exec-root "$d/exec" -H "$DOCKER_HOST" \
	    --pidfile "$d/docker.pid" --bridge=none --iptables=false \
	    --ip6tables=false --storage-driver=vfs > "$d/dockerd.log" 2>&1 &
	PIDS="$PIDS $!"
	i=0
	until $DOCKER version > "$d/version" 2>&1; do
		[ $i -lt 150 ] || { tail -20 "$d/dockerd.log" >&2; return 1; }
		sleep 0.2; i=$((i + 1))
	done
}
# docker_pull IMAGE DIGEST: docker pull, and the image's digest is the one
# the upstream has.
docker_pull() {
	$DOCKER pull "$1" > "$WORK/docker.out" 2>&1 || { cat "$WORK/docker.out" >&2; return 1; }
	$DOCKER image inspect -f '{{join .RepoDigests " "}}' "$1" > "$WORK/docker.dg" 2>&1
	grep -q "@$2" "$WORK/docker.dg" || { cat "$WORK/docker.dg" >&2; return 1; }
}
check "dockerd runs with the shipped daemon.json" start_dockerd
d0=$(metric 'pullgate_requests_routed_total{by="default"}')
check "docker pull $PG/3/acme/app:v1 (insecure-registries)" docker_pull "$PG/3/acme/app:v1" "$D_APP"
check "docker pull $PG/<32 hex>/app:v1, the account-ID form" docker_pull "$PG/$ACCT/app:v1" "$D_IOT"
check "docker pull alpine:3.20, a Docker Hub name through registry-mirrors" docker_pull alpine:3.20 "$D_ALPINE"
check "... answered by pullgate's default entry (counted)" \
    test "$(metric 'pullgate_requests_routed_total{by="default"}')" -gt "$d0"

# --- podman with the shipped registries.conf. ----------------------------
# podman_ ROOT ARGS...: podman on a storage root of its own (vfs, no
# systemd: cgroupfs, events to a file).
podman_() {
	r=$WORK/podman-$1; shift
	mkdir -p "$r/tmp"
	podman --root "$r/root" --runroot "$r/run" --tmpdir "$r/tmp" \
	    --storage-driver vfs --cgroup-manager cgroupfs --events-backend file \
	    "$@"
}
# podman_pull ROOT IMAGE DIGEST: pull, and the image's digest is the one
# the upstream has.
podman_pull() {
	podman_ "$1" pull "$2" > "$WORK/podman.out" 2>&1 || { cat "$WORK/podman.out" >&2; return 1; }
	podman_ "$1" image inspect -f '{{.Digest}}' "$2" > "$WORK/podman.dg" 2>&1
	grep -qx "$3" "$WORK/podman.dg" || { cat "$WORK/podman.dg" >&2; return 1; }
}
d0=$(metric 'pullgate_requests_routed_total{by="default"}')
check "podman pull $PG/3/acme/app:v1 (insecure location)" podman_pull one "$PG/3/acme/app:v1" "$D_APP"
check "podman pull $PG/<32 hex>/app:v1, the account-ID form" podman_pull one "$PG/$ACCT/app:v1" "$D_IOT"
check "podman pull docker.io/library/alpine:3.20 through the docker.io mirror" \
    podman_pull one docker.io/library/alpine:3.20 "$D_ALPINE"
check "... answered by pullgate's default entry (counted)" \
    test "$(metric 'pullgate_requests_routed_total{by="default"}')" -gt "$d0"

# --- Offline: every upstream stopped; the same pulls from the cache. -----
stop_pid "$HUB_PID"; stop_pid "$ACME_PID"; stop_pid "$IOT_PID"
check "the upstreams are stopped" sh -c \
    "! curl -s -o /dev/null --max-time 2 http://$HUB/v2/ && ! curl -s -o /dev/null --max-time 2 http://$ACME/v2/ && ! curl -s -o /dev/null --max-time 2 http://$IOT/v2/"
check "offline: a new containerd root with CRI" start_cri two
check "offline, CRI PullImage by digest (a pinned pod spec), first on this root: docker.io/library/alpine@<digest>" sh -c \
    "$PY '$TOOLS/cri.py' '$CRI_SOCK' pull docker.io/library/alpine@$D_ALPINE > /dev/null &&
     $PY '$TOOLS/cri.py' '$CRI_SOCK' status docker.io/library/alpine@$D_ALPINE | grep -qx 'digest docker.io/library/alpine@$D_ALPINE'"
check "offline, CRI PullImage: $PG/3/acme/app:v1; ImageStatus shows it" \
    cri_pull offline "$PG/3/acme/app:v1" "$D_APP"
check "offline, CRI PullImage: docker.io/library/alpine:3.20 through the mirror; ImageStatus shows it" \
    cri_pull offline docker.io/library/alpine:3.20 "$D_ALPINE"
check "offline, CRI PullImage: the account-ID form; ImageStatus shows it" \
    cri_pull offline "$PG/$ACCT/app:v1" "$D_IOT"
check "offline, CRI PullImage: registry.acme.example/acme/app:v1 through _default" \
    cri_pull offline registry.acme.example/acme/app:v1 "$D_APP"
check "offline: docker rmi of the three images" \
    $DOCKER rmi "$PG/3/acme/app:v1" "$PG/$ACCT/app:v1" alpine:3.20 > "$WORK/rmi.out" 2>&1
check "offline, docker pull $PG/3/acme/app:v1" docker_pull "$PG/3/acme/app:v1" "$D_APP"
check "offline, docker pull the account-ID form" docker_pull "$PG/$ACCT/app:v1" "$D_IOT"
check "offline, docker pull alpine:3.20 through registry-mirrors" docker_pull alpine:3.20 "$D_ALPINE"
check "offline, podman (new root) pull $PG/3/acme/app:v1" podman_pull two "$PG/3/acme/app:v1" "$D_APP"
check "offline, podman (new root) pull the account-ID form" podman_pull two "$PG/$ACCT/app:v1" "$D_IOT"
check "offline, podman (new root) pull docker.io/library/alpine:3.20 through the mirror" \
    podman_pull two docker.io/library/alpine:3.20 "$D_ALPINE"

# --- k3s: not installed here. Its registries.yaml, converted as k3s does
# (docs.k3s.io, private registry configuration: one certs.d/<registry>/
# hosts.toml per mirror, the endpoints as [host] entries in order with
# pull and resolve, the registry's default endpoint as the server that is
# tried last; "*" is _default), must give each registry the hosts the
# shipped certs.d gives it: the same certs.d, so the CRI checks above
# stand for k3s too.
check "k3s: registries.yaml gives every registry the same hosts as the shipped certs.d" \
    $PY - "$TOP/etc/k3s/registries.yaml" "$TOP/etc/containerd/certs.d" <<'PY'
import os, sys, tomllib
import yaml
mirrors = yaml.safe_load(open(sys.argv[1]))["mirrors"]
shipped = {}
for reg in os.listdir(sys.argv[2]):
    with open(os.path.join(sys.argv[2], reg, "hosts.toml"), "rb") as f:
        shipped["*" if reg == "_default" else reg] = tomllib.load(f)
def tried(hosts, server):
    """The URLs containerd tries, in order, without the /v2 path k3s adds."""
    out = []
    for u in hosts + ([server] if server else []):
        u = u.rstrip("/").removesuffix("/v2")
        if u not in out:
            out.append(u)
    return out
bad = 0
for reg in sorted(set(mirrors) | set(shipped)):
    if reg not in mirrors or reg not in shipped:
        print("%s: only in %s" % (reg, "registries.yaml" if reg in mirrors else "certs.d"))
        bad += 1
        continue
    k3s_server = None if reg == "*" else ("https://registry-1.docker.io"
        if reg == "docker.io" else "https://%s/v2" % reg)
    k3s = tried(mirrors[reg]["endpoint"], k3s_server)
    toml = shipped[reg]
    for url, h in toml.get("host", {}).items():
        if sorted(h.get("capabilities", [])) != ["pull", "resolve"]:
            print("%s: %s has capabilities %s" % (reg, url, h.get("capabilities")))
            bad += 1
    ours = tried(list(toml.get("host", {})), toml.get("server"))
    # The direct form: k3s's last resort for containers.local:8080 is its
    # https default endpoint, which pullgate (plain HTTP) never answers;
    # the hosts that can answer are the same.
    if reg == "containers.local:8080":
        k3s = [u for u in k3s if u != "https://" + reg]
    if k3s != ours:
        print("%s: k3s tries %s, certs.d tries %s" % (reg, k3s, ours))
        bad += 1
sys.exit(bad)
PY

# The README says which versions the snippets were proven with: these.
CTDV=$(containerd --version | sed -n 's/.* v\{0,1\}\([0-9][0-9.]*\)[~+].*/\1/p')
DOCKV=$($DOCKER version -f '{{.Server.Version}}' | sed 's/[~+].*//')
PODV=$(podman --version | sed 's/.* //; s/[~+].*//')
check "README names the versions proven here (containerd $CTDV, Docker $DOCKV, podman $PODV)" \
    sh -c "grep -q 'containerd $CTDV, CRI' '$TOP/README.md' && grep -q 'Docker $DOCKV (' '$TOP/README.md' && grep -q 'podman $PODV (' '$TOP/README.md'"
finish
