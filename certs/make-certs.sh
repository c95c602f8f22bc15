#!/bin/sh
# Makes the development and test certificates of rekey (OpenSSL 3 CLI).
#
#   certs/make-certs.sh [-f] [-v] [-t TYPE] [-n DNS]... [-i IP]... [DIR]
#
# DIR (default: the dev/ directory next to this script) receives:
#   ca.crt ca.key                 test CA, EC P-256, CA:TRUE, keyCertSign
#   server.crt server.key         signed by the CA; RSA 2048 unless -t says otherwise
#   server-ec.crt server-ec.key   signed by the CA; ECDSA P-256
#   untrusted.crt untrusted.key   self-signed, same names as the server certificates,
#                                 so that a client refusing it can only be refusing the issuer
#   rotator.crt rotator.key       self-signed RSA 2048 client certificate, the kind an Azure
#                                 app registration accepts as a certificate credential
# Both server certificates carry subjectAltName DNS:localhost, IP:127.0.0.1, IP:::1 (plus
# every -n and -i) and extendedKeyUsage serverAuth.
#
# Options:
#   -f        remake everything, even files that are still good
#   -v        say what is made or kept
#   -t TYPE   key of server.crt: rsa2048 (default), rsa3072, rsa4096, p256 or p384;
#             without -t an existing server.key of any of these types is kept
#   -n DNS    one more DNS name in both server certificates (repeatable)
#   -i IP     one more IP address in both server certificates (repeatable)
#
# Existing files are kept when they are still good: the key has the expected type, the
# certificate belongs to it, is valid for at least another day, verifies against ca.crt
# (for the signed ones) and holds every requested name.  Anything else is made again; a
# new CA therefore also brings new server certificates.  Private keys are mode 600.
# Nothing is printed on success unless -v is given.
set -eu

prog=$(basename "$0")
force=0
verbose=0
server_type=rsa2048
server_type_given=0
extra_dns=""
extra_ip=""

usage() {
	sed -n '4p' "$0" | sed 's/^# *//' >&2
	exit 2
}

die() {
	echo "$prog: $*" >&2
	exit 1
}

# Progress goes to the original stdout (fd 3), also from inside command substitutions.
exec 3>&1
say() {
	if [ "$verbose" -eq 1 ]; then
		echo "$prog: $*" >&3
	fi
	return 0
}

while getopts fvt:n:i:h opt; do
	case $opt in
	f) force=1 ;;
	v) verbose=1 ;;
	t)
		server_type=$OPTARG
		server_type_given=1
		;;
	n)
		case $OPTARG in
		'' | *[!A-Za-z0-9.-]*) die "-n $OPTARG: not a DNS name" ;;
		esac
		extra_dns="$extra_dns $OPTARG"
		;;
	i)
		case $OPTARG in
		'' | *[!0-9A-Fa-f:.]*) die "-i $OPTARG: not an IP address" ;;
		esac
		extra_ip="$extra_ip $OPTARG"
		;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -le 1 ] || usage
case $server_type in
rsa2048 | rsa3072 | rsa4096 | p256 | p384) ;;
*) die "-t $server_type: want rsa2048, rsa3072, rsa4096, p256 or p384" ;;
esac
command -v openssl >/dev/null 2>&1 || die "openssl not found"

dir=${1:-$(dirname "$0")/dev}
# Keys must never be readable by others, not even between creation and chmod.
umask 077
mkdir -p "$dir"
work=$(mktemp -d "${TMPDIR:-/tmp}/make-certs.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM

# run CMD...: runs an openssl command quietly; shows its output only when it fails.
run() {
	if ! "$@" >"$work/log" 2>&1; then
		cat "$work/log" >&2
		die "failed: $*"
	fi
}

# key_type FILE: prints rsa2048, p256, ... for a private key, or nothing.
key_type() {
	openssl pkey -in "$1" -noout -text_pub 2>/dev/null | awk '
		/Public-Key: \(/ { sub(/.*\(/, ""); sub(/ bit.*/, ""); bits = $0 }
		/^Modulus:/ { rsa = 1 }
		/NIST CURVE: P-256/ { curve = "p256" }
		/NIST CURVE: P-384/ { curve = "p384" }
		END { if (rsa) print "rsa" bits; else if (curve != "") print curve }'
}

# new_key FILE TYPE: writes a fresh private key (PKCS#8 PEM).
new_key() {
	rm -f "$1"
	case $2 in
	rsa*) run openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${2#rsa}" -out "$1" ;;
	p256) run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-pkeyopt ec_param_enc:named_curve -out "$1" ;;
	p384) run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 \
		-pkeyopt ec_param_enc:named_curve -out "$1" ;;
	esac
	chmod 600 "$1"
}

# ensure_key FILE TYPE STRICT: keeps FILE when it is a TYPE key, or any usable key when
# STRICT is 0 (and not -f); else makes a TYPE key.  Prints "new" when it made one.
ensure_key() {
	if [ "$force" -eq 0 ] && [ -f "$1" ]; then
		have=$(key_type "$1")
		if [ "$have" = "$2" ] || { [ "$3" -eq 0 ] && [ -n "$have" ]; }; then
			chmod 600 "$1"
			return 0
		fi
	fi
	new_key "$1" "$2"
	echo new
}

# cert_good CRT KEY SIGNED: 0 when CRT belongs to KEY, is valid for at least a day,
# and, when SIGNED is 1, verifies against ca.crt as a server and holds every requested name.
cert_good() {
	[ "$force" -eq 0 ] && [ -f "$1" ] || return 1
	a=$(openssl x509 -in "$1" -noout -pubkey 2>/dev/null) || return 1
	b=$(openssl pkey -in "$2" -pubout 2>/dev/null) || return 1
	[ "$a" = "$b" ] || return 1
	openssl x509 -in "$1" -noout -checkend 86400 >/dev/null 2>&1 || return 1
	[ "$3" -eq 1 ] || return 0
	openssl verify -CAfile "$dir/ca.crt" -purpose sslserver "$1" >/dev/null 2>&1 || return 1
	for n in localhost $extra_dns; do
		openssl x509 -in "$1" -noout -checkhost "$n" 2>/dev/null |
			grep -q "does match" || return 1
	done
	for n in 127.0.0.1 ::1 $extra_ip; do
		openssl x509 -in "$1" -noout -checkip "$n" 2>/dev/null |
			grep -q "does match" || return 1
	done
	return 0
}

# write_conf FILE CN: an openssl config with the subject CN and, as section [ext], the
# extension lines read from stdin, so that neither the system openssl.cnf nor a prompt
# gets involved.
write_conf() {
	{
		printf '[req]\nprompt = no\ndistinguished_name = dn\n'
		printf '[dn]\nO = rekey development\nCN = %s\n' "$2"
		printf '[ext]\n'
		cat
	} >"$1"
}

san_line() {
	s="DNS:localhost"
	for n in $extra_dns; do s="$s, DNS:$n"; done
	s="$s, IP:127.0.0.1, IP:::1"
	for n in $extra_ip; do s="$s, IP:$n"; done
	echo "subjectAltName = $s"
}

serial() {
	# 120 random bits: unique per certificate, always positive.
	echo "0x$(openssl rand -hex 15)"
}

# self_signed NAME TYPE DAYS CN EXTENSIONS...: NAME.crt signed by its own NAME.key.
self_signed() {
	name=$1 type=$2 days=$3 cn=$4
	shift 4
	fresh=$(ensure_key "$dir/$name.key" "$type" 1) || exit 1
	if [ -z "$fresh" ] && cert_good "$dir/$name.crt" "$dir/$name.key" 0; then
		say "kept $name.crt"
		return 0
	fi
	printf '%s\n' "$@" | write_conf "$work/$name.cnf" "$cn"
	run openssl req -new -x509 -config "$work/$name.cnf" -extensions ext \
		-key "$dir/$name.key" -sha256 -days "$days" -set_serial "$(serial)" \
		-out "$work/$name.crt"
	install_cert "$name"
}

# signed_server NAME TYPE STRICT: NAME.crt for localhost, signed by the CA (STRICT as
# for ensure_key).
signed_server() {
	name=$1 type=$2
	fresh=$(ensure_key "$dir/$name.key" "$type" "$3") || exit 1
	if [ -z "$fresh" ] && cert_good "$dir/$name.crt" "$dir/$name.key" 1; then
		say "kept $name.crt"
		return 0
	fi
	type=$(key_type "$dir/$name.key")
	server_exts "$type" | write_conf "$work/$name.cnf" localhost
	run openssl req -new -config "$work/$name.cnf" -key "$dir/$name.key" \
		-out "$work/$name.csr"
	run openssl x509 -req -in "$work/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
		-set_serial "$(serial)" -sha256 -days 825 \
		-extfile "$work/$name.cnf" -extensions ext -out "$work/$name.crt"
	install_cert "$name"
}

# server_exts TYPE: the extensions of a server certificate, one per line.
server_exts() {
	echo "basicConstraints = critical, CA:FALSE"
	case $1 in
	rsa*) echo "keyUsage = critical, digitalSignature, keyEncipherment" ;;
	*) echo "keyUsage = critical, digitalSignature" ;;
	esac
	echo "extendedKeyUsage = serverAuth"
	san_line
	echo "subjectKeyIdentifier = hash"
	echo "authorityKeyIdentifier = keyid:always"
}

install_cert() {
	chmod 644 "$work/$1.crt"
	mv -f "$work/$1.crt" "$dir/$1.crt"
	say "made $1.crt"
}

# cert_good checks the signed certificates against ca.crt, so a new CA key makes them
# be made again.
self_signed ca p256 3650 "rekey development CA" \
	"basicConstraints = critical, CA:TRUE, pathlen:0" \
	"keyUsage = critical, keyCertSign, cRLSign" \
	"subjectKeyIdentifier = hash"
# Without -t an existing server.key of another type (an earlier -t) is kept.
signed_server server "$server_type" "$server_type_given"
signed_server server-ec p256 1
self_signed untrusted p256 825 localhost \
	"basicConstraints = critical, CA:FALSE" \
	"keyUsage = critical, digitalSignature" \
	"extendedKeyUsage = serverAuth" \
	"$(san_line)" \
	"subjectKeyIdentifier = hash"
self_signed rotator rsa2048 730 "rekey rotator" \
	"basicConstraints = critical, CA:FALSE" \
	"keyUsage = critical, digitalSignature" \
	"extendedKeyUsage = clientAuth" \
	"subjectKeyIdentifier = hash"
