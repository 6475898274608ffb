#!/bin/sh
# Runs before FreeSWITCH does the two things its XML preprocessor cannot:
#  - compose passes a blank line of .env as an empty variable, and env-set would copy that empty
#    value over the default in vars.xml: unset empty FREESWITCH_*, SIP_* and RTP_* variables, so
#    that blank means "use the default";
#  - values are pasted into the XML unescaped: refuse the ones that would break it, with a message
#    naming the variable instead of an XML parse error at startup.
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

exec "$@"
