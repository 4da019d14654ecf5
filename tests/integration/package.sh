#!/bin/bash
# The Debian package, installed for real without touching this machine:
# each scenario runs dpkg in a chroot on an overlay of / (in a private
# mount and network namespace), so users, /etc/hosts and the dpkg database
# change only in the overlay. Checked: lintian; install (user, cache and
# secrets directories, one containers.local line, service enabled, unit
# verified); the installed daemon started as the service would start it
# (as pullgate, shipped configuration, READY=1 on NOTIFY_SOCKET) answering
# on containers.local:8080, then taking a registry that 'pullgate registry
# add' adds (a docker-registry in the namespace) and pulling from it with
# skopeo without a restart; an upgrade keeps the configuration and cache;
# purge removes what install made and leaves the operator's hosts line.
# Packaging does not depend on the crypto variant: checked once, with the
# OpenSSL build.
. "$(dirname "$0")/../lib.sh"

only_variants openssl
HOSTS_BEFORE=$(md5sum < /etc/hosts)
USER_BEFORE=$(getent passwd pullgate)

# make install into a staging root, twice: the second keeps a changed
# configuration and puts the shipped one beside it.
DI=$WORK/destdir
(cd "$TOP" && make -s install DESTDIR="$DI" PREFIX=/usr/local) > "$WORK/install.log" 2>&1
check "make install DESTDIR= PREFIX= installs the binary" test -x "$DI/usr/local/bin/pullgate"
check "make install puts the configuration in PREFIX/etc/pullgate" \
    cmp -s "$TOP/etc/pullgate.conf" "$DI/usr/local/etc/pullgate/pullgate.conf"
check "make install installs both manual pages" test -f "$DI/usr/local/share/man/man8/pullgate.8" -a \
    -f "$DI/usr/local/share/man/man5/pullgate.conf.5"
check "the installed unit runs the installed binary" \
    grep -qx "ExecStart=/usr/local/bin/pullgate serve -c /usr/local/etc/pullgate/pullgate.conf" \
    "$DI/usr/local/lib/systemd/system/pullgate.service"
check "the client snippets are installed as examples" \
    test -f "$DI/usr/local/share/doc/pullgate/examples/containerd/certs.d/docker.io/hosts.toml"
echo "# mine" >> "$DI/usr/local/etc/pullgate/pullgate.conf"
(cd "$TOP" && make -s install DESTDIR="$DI" PREFIX=/usr/local) > "$WORK/install2.log" 2>&1
check "make install never overwrites a changed configuration" \
    grep -q "# mine" "$DI/usr/local/etc/pullgate/pullgate.conf"
check "... and installs the shipped one as .new" \
    cmp -s "$TOP/etc/pullgate.conf" "$DI/usr/local/etc/pullgate/pullgate.conf.new"

(cd "$TOP" && make -s deb) > "$WORK/deb.log" 2>&1
check "make deb builds the package" test $? = 0 || tail -20 "$WORK/deb.log"
DEB=$(ls "$TOP"/build/deb/pullgate_*_amd64.deb 2>/dev/null | head -1)
[ -n "$DEB" ] || finish
lintian --pedantic "$DEB" > "$WORK/lintian.log" 2>&1
check "lintian reports no error or warning" \
    sh -c "! grep -Eq '^[EW]: ' '$WORK/lintian.log'" || cat "$WORK/lintian.log"
cp "$DEB" "$WORK/pullgate.deb"

cat > "$WORK/inroot.sh" <<'INROOT'
#!/bin/sh
# Runs inside the overlay root. $1: fresh (no containers.local line yet)
# or operator (the operator's own line is there before install).
chk() { n=$1; shift; if "$@"; then echo "ok - $MODE: $n"; else echo "not ok - $MODE: $n"; fi; }
MODE=$1
DEB=$2
TOOLS=$3
ip link set lo up
hostlines() { grep -Ec '^[^#]*[[:space:]]containers\.local([[:space:]]|$)' /etc/hosts; }
grep -v 'containers\.local' /etc/hosts > /tmp/hosts.new; cat /tmp/hosts.new > /etc/hosts
[ "$MODE" = operator ] && printf '127.0.0.1 containers.local\n' >> /etc/hosts
before=$(hostlines)

chk "dpkg -i installs" sh -c "dpkg -i $DEB > /tmp/dpkg.log 2>&1"
chk "the configuration is a conffile" \
    grep -qx /etc/pullgate/pullgate.conf /var/lib/dpkg/info/pullgate.conffiles
chk "a pullgate system user exists" getent passwd pullgate
chk "/var/lib/pullgate is pullgate's, 0750" \
    test "$(stat -c %U:%G:%a /var/lib/pullgate)" = pullgate:pullgate:750
chk "/etc/pullgate/secrets is readable only by pullgate" \
    test "$(stat -c %U:%a /etc/pullgate/secrets)" = pullgate:700
chk "exactly one containers.local line in /etc/hosts" test "$(hostlines)" = 1
chk "the service is enabled" \
    test -L /etc/systemd/system/multi-user.target.wants/pullgate.service
chk "systemd-analyze verify accepts the installed unit" \
    systemd-analyze verify --man=no /lib/systemd/system/pullgate.service
chk "the manual pages are installed" \
    test -f /usr/share/man/man8/pullgate.8.gz -a -f /usr/share/man/man5/pullgate.conf.5.gz

# As the service runs it: user pullgate, the shipped configuration.
mkdir -p /run/pgtest && chmod 0755 /run/pgtest
python3 - > /run/pgtest/notify.out 2>&1 <<'PY' &
import os, socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/run/pgtest/notify.sock")
os.chmod("/run/pgtest/notify.sock", 0o666)
open("/run/pgtest/notify.ready", "w").close()
s.settimeout(20)
try:
    while True:
        print(s.recv(4096).decode().replace("\n", " "), flush=True)
except socket.timeout:
    pass
PY
LPID=$!
i=0; while [ ! -e /run/pgtest/notify.ready ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
EXEC=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/pullgate.service)
chk "the unit's ExecStart runs the installed binary on the shipped file" \
    test "$EXEC" = "/usr/bin/pullgate serve -c /etc/pullgate/pullgate.conf"
# shellcheck disable=SC2086
runuser -u pullgate -- env NOTIFY_SOCKET=/run/pgtest/notify.sock \
    $EXEC > /tmp/daemon.log 2>&1 &
DPID=$!
i=0; while ! grep -q READY=1 /run/pgtest/notify.out && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
chk "the daemon tells the service manager READY=1" grep -q READY=1 /run/pgtest/notify.out
chk "it answers on containers.local:8080 as user pullgate" \
    sh -c "curl -sf --max-time 5 http://containers.local:8080/healthz | grep -q ok"
chk "its cache is made by user pullgate" \
    test "$(stat -c %U /var/lib/pullgate/blobs 2>/dev/null)" = pullgate

# A private registry appears: 'pullgate registry add' (as root, the way an
# operator runs it) reaches the running service, which pulls from it at
# once, without a restart.
mkdir -p /tmp/regdata
printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /tmp/regdata\nhttp:\n  addr: 127.0.0.1:5000\n' > /tmp/reg.yml
docker-registry serve /tmp/reg.yml > /tmp/reg.log 2>&1 &
RPID=$!
i=0; while ! curl -s -o /dev/null http://127.0.0.1:5000/v2/ && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
python3 "$TOOLS/mkimage.py" /tmp/img --tag v1 --layers 2 --size 50000 > /dev/null
skopeo --insecure-policy copy -q --dest-tls-verify=false oci:/tmp/img:v1 \
    docker://127.0.0.1:5000/acme/app:v1 > /tmp/push.log 2>&1
pullgate registry add --name acme --url http://127.0.0.1:5000 > /tmp/add.out 2>&1
chk "registry add is applied to the running service" grep -q "applied to the running daemon" /tmp/add.out
chk "the service pulls from the new entry without a restart" sh -c \
    "skopeo --insecure-policy copy -q --src-tls-verify=false docker://containers.local:8080/3/acme/app:v1 oci:/tmp/out:v1 > /tmp/pull.log 2>&1 && kill -0 $DPID"
chk "pullgate reload answers as the operator" sh -c "pullgate reload | grep -q '^reloaded'"
chk "pullgate status shows the new entry" sh -c "pullgate status | grep -q 'registry 3 .*acme'"
kill $RPID 2>/dev/null; wait $RPID 2>/dev/null
kill $DPID; wait $DPID
chk "it says STOPPING=1 on SIGTERM" sh -c "sleep 0.3; grep -q STOPPING=1 /run/pgtest/notify.out"
kill $LPID 2>/dev/null; wait $LPID 2>/dev/null

# Upgrade (the same package again): configuration and cache kept.
echo "# changed by the operator" >> /etc/pullgate/pullgate.conf
echo kept > /var/lib/pullgate/marker
chk "dpkg -i again (upgrade) works" sh -c "dpkg -i $DEB > /tmp/dpkg2.log 2>&1"
chk "the upgrade keeps the changed configuration" \
    grep -q "changed by the operator" /etc/pullgate/pullgate.conf
chk "the upgrade keeps the cache" test -f /var/lib/pullgate/marker
chk "still one containers.local line" test "$(hostlines)" = 1

chk "dpkg --purge removes it" sh -c "dpkg --purge pullgate > /tmp/dpkg3.log 2>&1"
chk "purge removes the user" sh -c "! getent passwd pullgate"
chk "purge removes the cache" test ! -e /var/lib/pullgate
chk "purge removes /etc/pullgate" test ! -e /etc/pullgate
chk "purge leaves /etc/hosts as it was ($before containers.local lines)" \
    test "$(hostlines)" = "$before"
INROOT

for mode in fresh operator; do
	ov=$WORK/ov-$mode
	mkdir -p "$ov/upper" "$ov/work" "$ov/root"
	timeout 120 unshare -m -n sh -c "
	    mount -t overlay overlay -o lowerdir=/,upperdir=$ov/upper,workdir=$ov/work $ov/root &&
	    mount -t proc proc $ov/root/proc &&
	    mount --rbind /dev $ov/root/dev &&
	    mount --rbind /sys $ov/root/sys &&
	    mount -t tmpfs tmpfs $ov/root/run &&
	    chroot $ov/root sh $WORK/inroot.sh $mode $WORK/pullgate.deb $TOOLS" \
	    > "$WORK/inroot-$mode.out" 2>&1
	cat "$WORK/inroot-$mode.out" | grep -E '^(not )?ok - '
	FAILED=$((FAILED + $(grep -c '^not ok - ' "$WORK/inroot-$mode.out")))
	grep -q "^ok - $mode: purge leaves" "$WORK/inroot-$mode.out" ||
	    fail "$mode: the scenario ran to its end"
	grep -q "^not ok" "$WORK/inroot-$mode.out" && sed 's/^/    /' "$WORK/inroot-$mode.out" | grep -v '^    ok' | tail -20
done
check "this machine's /etc/hosts is untouched" \
    test "$(md5sum < /etc/hosts)" = "$HOSTS_BEFORE"
check "this machine's users are untouched" \
    test "$(getent passwd pullgate)" = "$USER_BEFORE"
finish
