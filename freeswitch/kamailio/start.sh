#!/bin/sh
# Starts Kamailio in docker-compose.cluster.yml: puts this host's address (SIP_IP) into the node list,
# listens on it, and advertises SIP_EXTERNAL_IP in Via/Record-Route when that is set to an address.
set -eu

ipv4() {
	printf '%s' "$1" | grep -Eq '^([0-9]{1,3}\.){3}[0-9]{1,3}$'
}

if ! ipv4 "${SIP_IP:-}"; then
	echo "kamailio: SIP_IP must be this host's IPv4 address (Kamailio and the FreeSWITCH nodes listen there), got '${SIP_IP:-}'" >&2
	exit 78
fi

listen="$SIP_IP:5060"
if [ -n "${SIP_EXTERNAL_IP:-}" ]; then
	if ipv4 "$SIP_EXTERNAL_IP"; then
		listen="$listen/$SIP_EXTERNAL_IP:5060"
	else
		echo "kamailio: SIP_EXTERNAL_IP=$SIP_EXTERNAL_IP is not an IPv4 address: not advertised" >&2
	fi
fi

# /run/kamailio holds the node list Kamailio reads and its control socket (the healthcheck's).
mkdir -p /run/kamailio
sed "s/@SIP_IP@/$SIP_IP/g" /etc/kamailio/dispatcher.list >/run/kamailio/dispatcher.list
chown -R kamailio:kamailio /run/kamailio

exec kamailio -DD -E -m "${SHM_MEMORY:-64}" -M "${PKG_MEMORY:-8}" -u kamailio -g kamailio \
	-f /etc/kamailio/kamailio.cfg -l "udp:$listen" -l "tcp:$listen"
