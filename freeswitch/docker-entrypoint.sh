#!/bin/sh
# Runs before FreeSWITCH and does what its XML preprocessor cannot:
#  - compose passes a blank line of .env as an empty variable, and env-set would copy that empty
#    value over the default in vars.xml: unset empty FREESWITCH_*, SIP_*, RTP_* and BROWSER_SIP_*
#    variables, so that blank means "use the default";
#  - values are pasted into the XML unescaped: refuse the ones that would break it, with a message
#    naming the variable instead of an XML parse error at startup;
#  - fs_cli (the healthcheck, `docker compose exec freeswitch fs_cli`) needs the event socket's
#    address and password: write them to the file /etc/fs_cli.conf points to, readable by this
#    user only, so that no command line ever carries the password (argv is visible in ps);
#  - browser calls over wss need a TLS certificate: when none is mounted, create a self-signed
#    wss.pem (enough for this machine once the browser accepts it; mount a real one for remote use).
set -eu

for name in $(env | sed -n 's/^\(\(FREESWITCH\|SIP\|RTP\|BROWSER_SIP\)_[A-Za-z0-9_]*\)=.*$/\1/p'); do
	eval "value=\${$name}"
	if [ -z "$value" ]; then
		unset "$name"
		continue
	fi
	# shellcheck disable=SC2016 # a literal ${ is what is refused
	case "$value" in
	*'"'* | *'<'* | *'>'* | *'&'* | *'${'*)
		echo "freeswitch: $name must not contain \", <, >, & or \${ (it is pasted into FreeSWITCH's XML configuration)" >&2
		exit 78
		;;
	esac
done

esl_host="${FREESWITCH_ESL_LISTEN_IP:-127.0.0.1}"
case "$esl_host" in 0.0.0.0 | ::) esl_host=127.0.0.1 ;; esac
# printf is a shell builtin: the password reaches the file without passing through any argv.
(
	umask 077
	printf '[default]\nhost => %s\nport => %s\npassword => %s\n' \
		"$esl_host" "${FREESWITCH_ESL_PORT:-8021}" "${FREESWITCH_ESL_PASSWORD:-ClueCon}" \
		>/usr/local/freeswitch/run/fs_cli.conf
)

# The profile "browser" (conf/sip_profiles/browser.xml) reads wss.pem here: certificate, its chain,
# then the private key (or wss.crt and wss.key). A mounted one wins; FreeSWITCH itself adds
# dtls-srtp.pem (its WebRTC media key) next to it, so the directory stays writable.
cert_dir=/usr/local/freeswitch/certs
if [ ! -s "$cert_dir/wss.pem" ] && ! { [ -s "$cert_dir/wss.crt" ] && [ -s "$cert_dir/wss.key" ]; }; then
	if (umask 077 &&
		openssl req -x509 -newkey rsa:2048 -sha256 -days 825 -nodes -subj '/CN=localhost' \
			-addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
			-keyout "$cert_dir/wss.key.new" -out "$cert_dir/wss.crt.new" 2>/dev/null &&
		cat "$cert_dir/wss.crt.new" "$cert_dir/wss.key.new" >"$cert_dir/wss.pem.new" &&
		mv "$cert_dir/wss.pem.new" "$cert_dir/wss.pem"); then
		rm -f "$cert_dir/wss.key.new" "$cert_dir/wss.crt.new"
		echo "freeswitch: no wss certificate mounted: created a self-signed $cert_dir/wss.pem (browser calls from other machines need a real one, see freeswitch/README.md)" >&2
	else
		rm -f "$cert_dir/wss.key.new" "$cert_dir/wss.crt.new" "$cert_dir/wss.pem.new"
		echo "freeswitch: cannot create $cert_dir/wss.pem: mount a wss.pem there, or keep the directory writable" >&2
		exit 73
	fi
fi

exec "$@"
