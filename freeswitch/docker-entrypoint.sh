#!/bin/sh
# Runs before FreeSWITCH does the two things its XML preprocessor cannot:
#  - compose passes a blank line of .env as an empty variable, and env-set would copy that empty
#    value over the default in vars.xml: unset empty FREESWITCH_*, SIP_* and RTP_* variables, so
#    that blank means "use the default";
#  - values are pasted into the XML unescaped: refuse the ones that would break it, with a message
#    naming the variable instead of an XML parse error at startup;
#  - fs_cli (the healthcheck, `docker compose exec freeswitch fs_cli`) needs the event socket's
#    address and password: write them to the file /etc/fs_cli.conf points to, readable by this
#    user only, so that no command line ever carries the password (argv is visible in ps).
set -eu

for name in $(env | sed -n 's/^\(\(FREESWITCH\|SIP\|RTP\)_[A-Za-z0-9_]*\)=.*$/\1/p'); do
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

exec "$@"
