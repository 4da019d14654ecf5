# A stand-in for OpenWrt's /lib/functions.sh and procd.sh, which cannot be
# had on Debian: just enough of config_load, config_get, config_get_bool,
# config_foreach and config_list_foreach to run the init script's
# translation against a UCI file, and procd_* calls that write what they
# were asked to $PROCD_LOG. The daemon itself is then started by the test
# with the command line recorded here.

config_load() {
	eval "$(awk -v q="'" '
	function val(s) { sub(/^[ \t]*/, "", s); gsub(q, "", s); gsub(/"/, "", s); return s }
	$1 == "config" {
		n++; name = (NF >= 3) ? val($3) : sprintf("cfg%02d", n)
		sec = name; printf "CONFIG_SECTIONS=\"$CONFIG_SECTIONS %s\"\n", sec
		printf "CONFIG_%s_TYPE=%s\n", sec, val($2); next
	}
	$1 == "option" { v = $0; sub(/^[ \t]*option[ \t]+[^ \t]+[ \t]+/, "", v)
		printf "CONFIG_%s_%s=%s%s%s\n", sec, $2, q, val(v), q; next }
	$1 == "list" { v = $0; sub(/^[ \t]*list[ \t]+[^ \t]+[ \t]+/, "", v)
		k = sec "_" $2; c[k]++
		printf "CONFIG_%s_%s_ITEM%d=%s%s%s\n", sec, $2, c[k], q, val(v), q
		printf "CONFIG_%s_%s_LENGTH=%d\n", sec, $2, c[k]; next }
	' "${UCI_CONFIG_DIR:-/etc/config}/$1")"
}

config_get() {	# VAR SECTION OPTION [DEFAULT]
	eval "_v=\${CONFIG_$2_$3-}"
	[ -z "$_v" ] && eval "_v=\${CONFIG_$2_$3_ITEM1-}"
	[ -z "$_v" ] && _v=${4-}
	eval "$1=\$_v"
}

config_get_bool() {	# VAR SECTION OPTION [DEFAULT]
	config_get "$1" "$2" "$3" "${4-}"
	eval "_v=\$$1"
	case "$_v" in 1|on|true|yes|enabled) _v=1 ;; *) _v=0 ;; esac
	eval "$1=\$_v"
}

config_foreach() {	# FUNCTION TYPE
	for _s in $CONFIG_SECTIONS; do
		eval "_t=\$CONFIG_${_s}_TYPE"
		[ "$_t" = "$2" ] && "$1" "$_s"
	done
	return 0
}

config_list_foreach() {	# SECTION OPTION FUNCTION
	eval "_n=\${CONFIG_$1_$2_LENGTH:-0}"
	_i=1
	while [ "$_i" -le "$_n" ]; do
		eval "_item=\$CONFIG_$1_$2_ITEM$_i"
		"$3" "$_item"
		_i=$((_i + 1))
	done
}

procd_open_instance() { echo "open" >> "$PROCD_LOG"; }
procd_set_param() { _p=$1; shift; echo "param $_p $*" >> "$PROCD_LOG"; }
procd_close_instance() { echo "close" >> "$PROCD_LOG"; }
procd_send_signal() { echo "signal $*" >> "$PROCD_LOG"; }
procd_add_reload_trigger() { echo "trigger $*" >> "$PROCD_LOG"; }
