#!/bin/sh
# Container healthcheck: the core is ready, the callbridge and browser SIP profiles are running (a
# profile is not when its address or port cannot be bound) and, when .env defines a trunk, its gateway exists. Asked
# over the event socket with the password callbridge uses, so a password that FreeSWITCH did not
# pick up shows as unhealthy too. fs_cli reads address, port and password from /etc/fs_cli.conf
# (written by the entrypoint), never from its command line, which anyone may read in ps.
set -eu

fs() {
	fs_cli -T 2000 -t 3000 -x "$1"
}

if ! fs status | grep -q 'is ready'; then
	echo "FreeSWITCH is not ready, or the event socket refused us (listen address, ACL, password)" >&2
	exit 1
fi

if ! fs 'sofia status' | grep -Eq '^[[:space:]]*callbridge[[:space:]]+profile[[:space:]].*RUNNING'; then
	echo "SIP profile callbridge is not running: is SIP_IP:SIP_PORT free and local? (docker compose logs freeswitch)" >&2
	exit 1
fi

# Browser calls: SIP over WebSocket (ws/wss). It does not start when a port is taken or wss.pem is
# not a certificate followed by its key.
if ! fs 'sofia status' | grep -Eq '^[[:space:]]*browser[[:space:]]+profile[[:space:]].*RUNNING'; then
	echo "SIP profile browser (browser calls) is not running: are the BROWSER_SIP_* ports free, is certs/wss.pem valid? (docker compose logs freeswitch)" >&2
	exit 1
fi

# With SIP_IP empty the loopback profile (the README's first call from this host) runs as well.
if [ -z "${SIP_IP:-}" ] && ! fs 'sofia status' | grep -Eq '^[[:space:]]*callbridge-local[[:space:]]+profile[[:space:]].*RUNNING'; then
	echo "SIP profile callbridge-local (127.0.0.1:SIP_PORT) is not running: is the port taken on loopback? (docker compose logs freeswitch)" >&2
	exit 1
fi

if [ -n "${SIP_GATEWAY_PROXY:-}" ] && fs "sofia status gateway ${SIP_GATEWAY_NAME:-trunk}" | grep -q 'Invalid Gateway'; then
	echo "gateway ${SIP_GATEWAY_NAME:-trunk} is missing although SIP_GATEWAY_PROXY is set (docker compose logs freeswitch)" >&2
	exit 1
fi
